//! Cross-site requests: a page of another site in the operator's browser may
//! not change state here. Browsers send `Sec-Fetch-Site` and `Origin` on such
//! requests (a form POST or a `text/plain` fetch needs no CORS preflight), so
//! a POST, PUT, PATCH or DELETE carrying either is refused unless it comes from
//! this server's own origin or from `EXTERNAL_URL`'s. Requests without both
//! headers (curl, scripts, forges) are no browser's and pass. Routes only
//! servers call (the webhook) are not behind this check (`routes.rs`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::origin::Origin;
use super::{ApiError, Site};

/// Middleware: 403 for a state-changing request a browser marks as cross-site.
pub async fn refuse_cross_site(State(site): State<Site>, request: Request, next: Next) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    match refusal(
        request.headers(),
        request.uri().authority().map(|a| a.as_str()),
        &site,
    ) {
        Some(why) => ApiError::new(StatusCode::FORBIDDEN, why).into_response(),
        None => next.run(request).await,
    }
}

/// Why the request is refused, if it is.
fn refusal(headers: &HeaderMap, uri_authority: Option<&str>, site: &Site) -> Option<String> {
    // `same-site` too: another port or subdomain of the same site is another
    // application, which should not act here either.
    // In any case: browsers send it lower-case, but a value another client or a
    // proxy wrote otherwise must not slip past.
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| v.as_bytes().trim_ascii());
    if fetch_site.is_some_and(|site| {
        site.eq_ignore_ascii_case(b"cross-site") || site.eq_ignore_ascii_case(b"same-site")
    }) {
        return Some(
            "cross-site request refused: a page of another site may not change state here"
                .to_string(),
        );
    }
    let origin = headers.get(header::ORIGIN)?;
    // The authority of an absolute-form target wins, as in `host_check.rs`.
    let host = uri_authority.or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()));
    let parsed = origin.to_str().ok().and_then(Origin::parse);
    let allowed = parsed.as_ref().is_some_and(|origin| {
        host.is_some_and(|host| origin.is_served_as(host))
            || site.0.as_ref().is_some_and(|url| url.origin() == origin)
    });
    (!allowed).then(|| {
        format!(
            "cross-site request refused: Origin {:?} is neither this server nor EXTERNAL_URL",
            String::from_utf8_lossy(origin.as_bytes())
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn site(url: &str) -> Site {
        Site(Some(url.parse().expect("url")))
    }

    #[test]
    fn same_origin_and_headerless_requests_pass() {
        let none = Site(None);
        assert_eq!(refusal(&headers(&[("host", "h:1")]), None, &none), None);
        let same = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(refusal(&same, None, &none), None);
        let typed = headers(&[("sec-fetch-site", "none")]);
        assert_eq!(refusal(&typed, None, &none), None);
    }

    #[test]
    fn other_origins_are_refused_unless_external_url() {
        let none = Site(None);
        for pairs in [
            &[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")][..],
            &[("host", "127.0.0.1:8080"), ("sec-fetch-site", "same-site")][..],
            &[("host", "127.0.0.1:8080"), ("sec-fetch-site", "Cross-Site")][..],
            &[("host", "127.0.0.1:8080"), ("sec-fetch-site", "SAME-SITE")][..],
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example"),
            ][..],
            &[("host", "127.0.0.1:8080"), ("origin", "null")][..],
            &[("origin", "http://127.0.0.1:8080")][..],
        ] {
            assert!(refusal(&headers(pairs), None, &none).is_some(), "{pairs:?}");
        }
        let proxied = headers(&[
            ("host", "docker-cd:8080"),
            ("origin", "https://cd.example.com"),
        ]);
        assert!(refusal(&proxied, None, &none).is_some());
        assert_eq!(
            refusal(&proxied, None, &site("https://cd.example.com/")),
            None
        );
    }
}
