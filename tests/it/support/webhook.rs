//! Signing webhook bodies as the forges do.

use hmac::{KeyInit as _, Mac as _};
use sha2::Sha256;

/// Hex HMAC-SHA256 of `body` with `secret`: Gitea's and Forgejo's signature, and
/// GitHub's after `sha256=`.
pub fn hmac_sha256_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// GitHub's `X-Hub-Signature-256` value.
pub fn github_signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(secret, body))
}
