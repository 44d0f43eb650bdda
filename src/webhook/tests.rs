//! The signature, event and ref rules against each forge's format.

use axum::http::HeaderValue;
use hmac::{Hmac, KeyInit, Mac};
use rstest::rstest;
use sha2::Sha256;

use super::*;
use crate::secret::Secret;

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
fn gitea_and_forgejo_sign_with_bare_hex(#[case] header: &'static str, #[case] provider: Provider) {
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
