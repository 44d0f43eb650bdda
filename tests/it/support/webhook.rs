//! Webhooks as the forges send them: signed bodies, their headers, the POST.

use hmac::{KeyInit as _, Mac as _};
use serde_json::Value;
use sha2::Sha256;

use super::api::Api;

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

/// The headers `forge` (`github`, `gitlab` or `gitea`) sends with `event`, as
/// that forge names it: the event, and `body` signed with `secret` (GitLab
/// sends the secret itself).
pub fn headers(forge: &str, event: &str, secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    match forge {
        "github" => vec![
            ("X-GitHub-Event", event.into()),
            ("X-Hub-Signature-256", github_signature(secret, body)),
        ],
        "gitlab" => vec![
            ("X-Gitlab-Event", event.into()),
            ("X-Gitlab-Token", secret.into()),
        ],
        "gitea" => vec![
            ("X-Gitea-Event", event.into()),
            ("X-Gitea-Signature", hmac_sha256_hex(secret, body)),
        ],
        other => panic!("unknown forge {other}"),
    }
}

/// `POST /api/webhook` with `headers` and `body` → (status, JSON body or `null`).
pub async fn post(api: &Api, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    api.post("/api/webhook", &pairs, body).await
}

/// `POST /api/webhook` as GitHub sends `event`, with `signature` as given
/// (right, wrong or malformed).
pub async fn github(api: &Api, event: &str, signature: &str, body: &[u8]) -> (u16, Value) {
    let headers = [
        ("X-GitHub-Event", event.to_string()),
        ("X-Hub-Signature-256", signature.to_string()),
    ];
    post(api, &headers, body).await
}

/// A GitHub push of `after` to `reference`, with only the fields docker-cd reads.
pub fn push_body(reference: &str, after: &str) -> Vec<u8> {
    serde_json::json!({"ref": reference, "after": after, "repository": {"full_name": "t/t"}})
        .to_string()
        .into_bytes()
}
