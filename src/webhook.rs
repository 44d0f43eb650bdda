//! Push webhooks: who sent it, whether the signature holds, and what it asks for.
//!
//! Every comparison with the secret is constant-time: HMACs through
//! `Mac::verify_slice`, GitLab's plain token through `subtle`.

use std::time::Duration;

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::named::named_enum;
use crate::secret::Secret;

mod deliveries;

pub use deliveries::{Deliveries, delivery_id};

/// Largest body accepted; GitHub caps its payloads at 25 MB.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// How long the whole body may take to arrive: a forge sends it at once; a
/// client that trickles it would otherwise hold one of the few body slots.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The `provider` label of a request with no recognised signature header.
pub const UNKNOWN_PROVIDER: &str = "unknown";

named_enum! {
    /// The forge that sent a webhook, from its signature header.
    pub enum Provider {
        /// `X-Hub-Signature-256: sha256=<hex>`.
        GitHub = "github",
        /// `X-Gitea-Signature: <hex>`.
        Gitea = "gitea",
        /// `X-Forgejo-Signature: <hex>`.
        Forgejo = "forgejo",
        /// `X-Gitlab-Token: <secret>`.
        GitLab = "gitlab",
    }
}

named_enum! {
    /// How a webhook request ended: the `outcome` label of `webhook_requests_total`.
    pub enum WebhookOutcome {
        /// A tracked push: a refresh runs or is queued.
        Accepted = "accepted",
        /// Not a push, or a push to a ref docker-cd does not follow.
        Ignored = "ignored",
        /// The forge's set-up ping.
        Pong = "pong",
        /// The signature is missing, malformed or wrong.
        Unauthorized = "unauthorized",
        /// Webhooks are disabled (`WEBHOOK_SECRET` is not set).
        Forbidden = "forbidden",
        /// The body is over [`MAX_BODY_BYTES`].
        TooLarge = "too_large",
        /// More verified webhooks than the rate allows.
        RateLimited = "rate_limited",
        /// A push payload that cannot be read.
        BadRequest = "bad_request",
        /// The body did not arrive within [`BODY_TIMEOUT`].
        Timeout = "timeout",
        /// A delivery id seen before: a replay, answered without a refresh.
        Duplicate = "duplicate",
    }
}

impl Provider {
    /// The metric label and log value of a request's provider, if any.
    pub fn label(provider: Option<Self>) -> &'static str {
        provider.map_or(UNKNOWN_PROVIDER, Self::as_str)
    }

    /// Which provider's signature header is present. Forgejo and Gitea also send
    /// GitHub's header, so their own headers are looked at first.
    pub fn detect(headers: &HeaderMap) -> Option<Self> {
        [
            ("x-forgejo-signature", Self::Forgejo),
            ("x-gitea-signature", Self::Gitea),
            ("x-gitlab-token", Self::GitLab),
            ("x-hub-signature-256", Self::GitHub),
        ]
        .into_iter()
        .find(|(header, _)| headers.contains_key(*header))
        .map(|(_, provider)| provider)
    }
}

/// Why a signature was refused (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// None of the known signature headers is present.
    #[error(
        "missing signature: send X-Hub-Signature-256, X-Gitea-Signature, X-Forgejo-Signature or X-Gitlab-Token"
    )]
    Missing,
    /// The header is there but not in the provider's format.
    #[error("malformed {0} signature header")]
    Malformed(&'static str),
    /// The signature does not match the body and secret.
    #[error("{0} signature does not match")]
    Mismatch(&'static str),
}

/// Checks the request's signature against `secret`; returns the provider.
///
/// # Errors
/// [`SignatureError`] when no known header is present, it is malformed, or it does not match.
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secret: &Secret,
) -> Result<Provider, SignatureError> {
    Signature::from_headers(headers)?.check(body, secret)
}

/// A request's signature, read from its headers alone: a missing or malformed
/// one is refused before a byte of the body is read.
#[derive(Debug, Clone)]
pub struct Signature {
    provider: Provider,
    proof: Proof,
}

/// What the forge sent to prove it knows the secret.
#[derive(Debug, Clone)]
enum Proof {
    /// HMAC-SHA256 of the body (GitHub, Gitea, Forgejo).
    Hmac(Vec<u8>),
    /// The secret itself (GitLab).
    Token(Vec<u8>),
}

impl Signature {
    /// The signature header of the request, checked for form only.
    ///
    /// # Errors
    /// [`SignatureError::Missing`] or [`SignatureError::Malformed`].
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, SignatureError> {
        let provider = Provider::detect(headers).ok_or(SignatureError::Missing)?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let malformed = || SignatureError::Malformed(provider.as_str());
        let hex_value = match provider {
            Provider::GitHub => header("x-hub-signature-256")
                .ok_or_else(malformed)?
                .strip_prefix("sha256=")
                .ok_or_else(malformed)?,
            Provider::Gitea => header("x-gitea-signature").ok_or_else(malformed)?,
            Provider::Forgejo => header("x-forgejo-signature").ok_or_else(malformed)?,
            Provider::GitLab => {
                let token = headers.get("x-gitlab-token").ok_or_else(malformed)?;
                return Ok(Self {
                    provider,
                    proof: Proof::Token(token.as_bytes().to_vec()),
                });
            }
        };
        let digest = hex::decode(hex_value).map_err(|_| malformed())?;
        Ok(Self {
            provider,
            proof: Proof::Hmac(digest),
        })
    }

    /// The forge that signed.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Whether the signature holds for `body` and `secret`; returns the provider.
    ///
    /// # Errors
    /// [`SignatureError::Mismatch`] when it does not.
    pub fn check(&self, body: &[u8], secret: &Secret) -> Result<Provider, SignatureError> {
        let ok = match &self.proof {
            Proof::Hmac(expected) => hmac_matches(secret, body, expected),
            Proof::Token(token) => secret.matches(token),
        };
        if ok {
            Ok(self.provider)
        } else {
            Err(SignatureError::Mismatch(self.provider.as_str()))
        }
    }
}

/// Whether `expected` is the HMAC of `body` under `secret`.
fn hmac_matches(secret: &Secret, body: &[u8], expected: &[u8]) -> bool {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(expected).is_ok()
}

/// What a verified webhook asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// GitHub's set-up ping.
    Ping,
    /// A push to `reference` (`refs/heads/main`, `refs/tags/v1`).
    Push {
        /// The full ref that was pushed.
        reference: String,
    },
    /// Any other event type, by name.
    Other(String),
}

/// Reads the event from a verified request.
///
/// # Errors
/// A message when a push body is not JSON (or a form with a `payload` field) or has no `ref`.
pub fn parse_event(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<WebhookEvent, String> {
    let event_header = match provider {
        Provider::GitHub => "x-github-event",
        Provider::Gitea => "x-gitea-event",
        Provider::Forgejo => "x-forgejo-event",
        Provider::GitLab => "x-gitlab-event",
    };
    let event = headers
        .get(event_header)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("push")
        .trim()
        .to_ascii_lowercase();
    match event.as_str() {
        "ping" => return Ok(WebhookEvent::Ping),
        "push" | "push hook" | "tag push hook" => {}
        _ => return Ok(WebhookEvent::Other(event)),
    }
    let json = payload_json(headers, body)?;
    let value: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| format!("push payload is not JSON: {e}"))?;
    let reference = value
        .get("ref")
        .and_then(serde_json::Value::as_str)
        .ok_or("push payload has no 'ref'")?;
    Ok(WebhookEvent::Push {
        reference: reference.to_string(),
    })
}

/// GitHub can send `application/x-www-form-urlencoded` with the JSON in
/// `payload`. A JSON body under a form content type (what `curl -d @push.json`
/// sends) is read as JSON; the signature was checked over the raw body either way.
fn payload_json(headers: &HeaderMap, body: &[u8]) -> Result<Vec<u8>, String> {
    let is_form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    // A form body starts with a field name, never with `{`; checking JSON first
    // keeps a commit message holding `&payload=` from being read as a field.
    if !is_form || body.trim_ascii_start().starts_with(b"{") {
        return Ok(body.to_vec());
    }
    form_urlencoded::parse(body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value.into_owned().into_bytes())
        .ok_or_else(|| "form-encoded webhook has no 'payload' field".to_string())
}

/// Whether a push to `pushed` can change what docker-cd deploys.
///
/// `resolved` is what `GIT_REF` resolved to at the last successful fetch (most
/// precise); before any fetch, `configured` decides, and an unset `GIT_REF` (the
/// remote's HEAD, not known yet) accepts every push. A pinned commit never moves.
pub fn push_is_tracked(pushed: &str, configured: Option<&str>, resolved: Option<&str>) -> bool {
    if let Some(resolved) = resolved {
        return resolved.starts_with("refs/") && pushed == resolved;
    }
    match configured {
        None => true,
        Some(reference) if reference.starts_with("refs/") => pushed == reference,
        Some(reference) if is_commit_id(reference) => false,
        Some(reference) => {
            pushed.strip_prefix("refs/heads/") == Some(reference)
                || pushed.strip_prefix("refs/tags/") == Some(reference)
        }
    }
}

fn is_commit_id(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use rstest::rstest;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn github_documented_test_vector_verifies() {
        // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
        let secret = Secret::new("It's a Secret to Everybody");
        let h = headers(&[(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        assert_eq!(verify(&h, b"Hello, World!", &secret), Ok(Provider::GitHub));
        assert_eq!(
            verify(&h, b"Hello, World?", &secret),
            Err(SignatureError::Mismatch("github"))
        );
    }

    #[rstest]
    #[case("x-gitea-signature", Provider::Gitea)]
    #[case("x-forgejo-signature", Provider::Forgejo)]
    fn gitea_and_forgejo_sign_with_bare_hex(
        #[case] header: &'static str,
        #[case] provider: Provider,
    ) {
        let secret = Secret::new("s3cret");
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = headers(&[
            (header, &sign("s3cret", body)),
            ("x-hub-signature-256", "sha256=00"),
        ]);
        assert_eq!(verify(&good, body, &secret), Ok(provider));
        let bad = headers(&[(header, &sign("other", body))]);
        assert_eq!(
            verify(&bad, body, &secret),
            Err(SignatureError::Mismatch(provider.as_str()))
        );
    }

    #[test]
    fn gitlab_sends_the_secret_itself() {
        let secret = Secret::new("s3cret");
        assert_eq!(
            verify(&headers(&[("x-gitlab-token", "s3cret")]), b"{}", &secret),
            Ok(Provider::GitLab)
        );
        assert_eq!(
            verify(&headers(&[("x-gitlab-token", "s3cre")]), b"{}", &secret),
            Err(SignatureError::Mismatch("gitlab"))
        );
    }

    #[rstest]
    #[case(&[], SignatureError::Missing)]
    #[case(&[("x-hub-signature-256", "md5=abcd")], SignatureError::Malformed("github"))]
    #[case(&[("x-hub-signature-256", "sha256=zz")], SignatureError::Malformed("github"))]
    #[case(&[("x-gitea-signature", "not hex")], SignatureError::Malformed("gitea"))]
    fn missing_or_malformed_signatures_are_refused(
        #[case] pairs: &[(&'static str, &str)],
        #[case] expected: SignatureError,
    ) {
        assert_eq!(
            verify(&headers(pairs), b"{}", &Secret::new("s")),
            Err(expected)
        );
    }

    #[rstest]
    #[case(Provider::GitHub, &[("x-github-event", "ping")], "{}", WebhookEvent::Ping)]
    #[case(Provider::GitHub, &[("x-github-event", "push")], r#"{"ref":"refs/heads/main"}"#, WebhookEvent::Push { reference: "refs/heads/main".into() })]
    #[case(Provider::Gitea, &[("x-gitea-event", "push")], r#"{"ref":"refs/tags/v1"}"#, WebhookEvent::Push { reference: "refs/tags/v1".into() })]
    #[case(Provider::GitLab, &[("x-gitlab-event", "Push Hook")], r#"{"ref":"refs/heads/dev"}"#, WebhookEvent::Push { reference: "refs/heads/dev".into() })]
    #[case(Provider::GitHub, &[("x-github-event", "issues")], "{}", WebhookEvent::Other("issues".into()))]
    fn events_are_read_per_provider(
        #[case] provider: Provider,
        #[case] pairs: &[(&'static str, &str)],
        #[case] body: &str,
        #[case] expected: WebhookEvent,
    ) {
        assert_eq!(
            parse_event(provider, &headers(pairs), body.as_bytes()),
            Ok(expected)
        );
    }

    #[test]
    fn github_form_encoded_payloads_are_read() {
        let h = headers(&[
            ("x-github-event", "push"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        let body = b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D";
        assert_eq!(
            parse_event(Provider::GitHub, &h, body),
            Ok(WebhookEvent::Push {
                reference: "refs/heads/main".into()
            })
        );
    }

    #[test]
    fn json_sent_with_a_form_content_type_is_read_as_json() {
        // `curl -d @push.json` sends application/x-www-form-urlencoded.
        let h = headers(&[
            ("x-github-event", "push"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        let body = b"\n {\"ref\": \"refs/heads/main\", \"message\": \"a&payload=b\"}";
        assert_eq!(
            parse_event(Provider::GitHub, &h, body),
            Ok(WebhookEvent::Push {
                reference: "refs/heads/main".into()
            })
        );
        assert!(parse_event(Provider::GitHub, &h, b"ref=refs/heads/main").is_err());
    }

    #[test]
    fn a_push_without_ref_is_a_bad_request() {
        let h = headers(&[("x-github-event", "push")]);
        assert!(parse_event(Provider::GitHub, &h, b"{}").is_err());
        assert!(parse_event(Provider::GitHub, &h, b"not json").is_err());
    }

    #[rstest]
    #[case("refs/heads/main", None, None, true)]
    #[case("refs/heads/dev", None, Some("refs/heads/main"), false)]
    #[case("refs/heads/main", None, Some("refs/heads/main"), true)]
    #[case("refs/heads/main", Some("main"), None, true)]
    #[case("refs/tags/v1", Some("v1"), None, true)]
    #[case("refs/heads/dev", Some("main"), None, false)]
    #[case(
        "refs/heads/main",
        Some("0123456789abcdef0123456789abcdef01234567"),
        None,
        false
    )]
    #[case(
        "refs/heads/main",
        Some("x"),
        Some("0123456789abcdef0123456789abcdef01234567"),
        false
    )]
    fn pushes_to_other_refs_are_not_tracked(
        #[case] pushed: &str,
        #[case] configured: Option<&str>,
        #[case] resolved: Option<&str>,
        #[case] tracked: bool,
    ) {
        assert_eq!(push_is_tracked(pushed, configured, resolved), tracked);
    }
}
