//! Headers every answer carries: no framing by other sites (clickjacking of the
//! Apply button) and no content sniffing.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The directive added to every `Content-Security-Policy`.
const FRAME_ANCESTORS: &str = "frame-ancestors 'none'";

/// Middleware: adds `X-Content-Type-Options: nosniff` and `frame-ancestors 'none'`
/// to the answer's CSP, keeping a policy a handler set.
pub async fn add(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let csp = with_frame_ancestors(
        headers
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok()),
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// `policy` with a `frame-ancestors` directive: the one it has, else ours.
fn with_frame_ancestors(policy: Option<&str>) -> String {
    match policy.map(str::trim).filter(|p| !p.is_empty()) {
        None => FRAME_ANCESTORS.to_string(),
        Some(p) if p.contains("frame-ancestors") => p.to_string(),
        Some(p) => format!("{}; {FRAME_ANCESTORS}", p.trim_end_matches(';')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handlers_policy_is_kept_and_completed() {
        assert_eq!(with_frame_ancestors(None), "frame-ancestors 'none'");
        assert_eq!(
            with_frame_ancestors(Some("script-src 'self';")),
            "script-src 'self'; frame-ancestors 'none'"
        );
        assert_eq!(
            with_frame_ancestors(Some("frame-ancestors 'self'")),
            "frame-ancestors 'self'"
        );
    }
}
