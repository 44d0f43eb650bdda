//! What a verified webhook asks for, and whether a push concerns the ref
//! docker-cd follows.

use axum::http::HeaderMap;

use super::Provider;

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
