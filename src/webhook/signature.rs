//! Whether a webhook comes from the forge: its signature header read for form
//! first, then checked against the body and `WEBHOOK_SECRET` in constant time
//! (HMACs through `Mac::verify_slice`, GitLab's plain token through `subtle`).

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::Provider;
use crate::secret::Secret;

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
