//! Requests that name their host or their site ambiguously are refused (400)
//! before any check reads them. The `Host` and cross-site checks read one
//! value of each header; with two, a proxy in front and docker-cd could each
//! read another one. So a request may carry at most one `Host`, `Origin` and
//! `Sec-Fetch-Site` (RFC 9112 §3.2 requires the 400 for a second `Host`), no
//! empty `Host` (an `http` URI with an empty host is invalid, RFC 9110 §4.2.1),
//! and an absolute-form target (`GET http://h/api/…`) only with a `Host` that
//! repeats its authority, as RFC 9112 §3.2 asks every HTTP/1.1 client to send.
//! Such a target is still served (RFC 9112 §3.2.2: a server must accept it),
//! its authority checked as `Host` would be (`host_check.rs`); a `Host` that
//! differs from it is no client's mistake but a request crafted to show each
//! reader another host.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The headers a check reads, with the name an error shows.
const SINGLE: [(&str, &str); 3] = [
    ("host", "Host"),
    ("origin", "Origin"),
    ("sec-fetch-site", "Sec-Fetch-Site"),
];

/// Middleware: 400 for a request whose host or site is ambiguous.
pub async fn refuse_ambiguous(request: Request, next: Next) -> Response {
    match ambiguity(request.headers(), request.uri()) {
        Some(why) => ApiError::new(StatusCode::BAD_REQUEST, why).into_response(),
        None => next.run(request).await,
    }
}

/// What makes the request ambiguous, if anything.
fn ambiguity(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some((_, shown)) = SINGLE
        .iter()
        .find(|(name, _)| headers.get_all(*name).iter().nth(1).is_some())
    {
        return Some(format!("more than one {shown} header"));
    }
    let host = headers.get(header::HOST);
    if host.is_some_and(|host| host.as_bytes().trim_ascii().is_empty()) {
        return Some("empty Host header".to_string());
    }
    match (uri.authority(), host) {
        (Some(authority), Some(host))
            if !authority
                .as_str()
                .as_bytes()
                .eq_ignore_ascii_case(host.as_bytes().trim_ascii()) =>
        {
            Some(format!(
                "the request target names {:?} but Host is {:?}",
                authority.as_str(),
                String::from_utf8_lossy(host.as_bytes())
            ))
        }
        _ => None,
    }
}

/// The host a request is for: the authority of an absolute-form target (RFC
/// 9112 §3.2.2), else `Host`. `None` when it names none (HTTP/1.0 by hand),
/// `Some(None)` when that value is not text.
pub fn request_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<Option<&'a str>> {
    match uri.authority() {
        Some(authority) => Some(Some(authority.as_str())),
        None => headers.get(header::HOST).map(|host| host.to_str().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ambiguous(target: &str, pairs: &[(&'static str, &'static str)]) -> Option<String> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        ambiguity(&headers, &target.parse().expect("target"))
    }

    #[test]
    fn one_of_each_header_passes() {
        let browser = [
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert_eq!(ambiguous("/api/refresh", &browser), None);
        assert_eq!(ambiguous("/api/stacks", &[]), None);
        assert_eq!(
            ambiguous("http://127.0.0.1:8080/api/stacks", &browser),
            None
        );
        let upper = [("host", "LOCALHOST:8080")];
        assert_eq!(ambiguous("http://localhost:8080/api", &upper), None);
        // HTTP/1.0 without Host: the target's authority is the host.
        assert_eq!(ambiguous("http://127.0.0.1/api", &[]), None);
    }

    #[test]
    fn a_second_header_an_empty_host_or_another_authority_is_refused() {
        for (target, pairs, why) in [
            (
                "/",
                &[("host", "127.0.0.1"), ("host", "evil.example")][..],
                "more than one Host header",
            ),
            (
                "/",
                &[
                    ("origin", "http://127.0.0.1"),
                    ("origin", "http://evil.example"),
                ][..],
                "more than one Origin header",
            ),
            (
                "/",
                &[
                    ("sec-fetch-site", "same-origin"),
                    ("sec-fetch-site", "cross-site"),
                ][..],
                "more than one Sec-Fetch-Site header",
            ),
            ("/", &[("host", "")][..], "empty Host header"),
            ("/", &[("host", " ")][..], "empty Host header"),
            (
                "http://evil.example/api/stacks",
                &[("host", "127.0.0.1")][..],
                "the request target names \"evil.example\" but Host is \"127.0.0.1\"",
            ),
            (
                "http://127.0.0.1:8080/api/stacks",
                &[("host", "127.0.0.1")][..],
                "the request target names \"127.0.0.1:8080\" but Host is \"127.0.0.1\"",
            ),
        ] {
            assert_eq!(ambiguous(target, pairs).as_deref(), Some(why), "{pairs:?}");
        }
    }

    #[test]
    fn the_host_is_the_targets_authority_else_the_header() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1"));
        let origin_form: Uri = "/api".parse().expect("uri");
        let absolute: Uri = "http://evil.example/api".parse().expect("uri");
        assert_eq!(
            request_host(&headers, &origin_form),
            Some(Some("127.0.0.1"))
        );
        assert_eq!(
            request_host(&headers, &absolute),
            Some(Some("evil.example"))
        );
        let none = HeaderMap::new();
        assert_eq!(request_host(&none, &origin_form), None);
    }
}
