//! DNS rebinding: without `API_TOKEN`, a page of `evil.example` whose name is
//! re-pointed at this server's address becomes "same-origin" to the browser
//! and could read and act through it. Its requests still carry
//! `Host: evil.example`, so the routes a browser uses answer only to names
//! that cannot be rebound — IP literals and `localhost` — and to
//! `EXTERNAL_URL`'s host. With a token set the check is moot, since a rebound
//! page has no token. Which routes are checked is the router's choice
//! (`routes.rs`): not those that servers reach by service names or sign.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::origin::{host_of, is_ip_or_localhost};
use super::well_formed::request_host;
use super::{ApiError, ApiToken, Site};

/// Middleware: 403 for a request to an unknown host name when no token is set.
pub async fn require_known_host(
    State(ApiToken(token)): State<ApiToken>,
    State(site): State<Site>,
    request: Request,
    next: Next,
) -> Response {
    if token.is_some() {
        return next.run(request).await;
    }
    // An absolute-form target's authority, else `Host` (`well_formed.rs` has
    // refused a request where the two differ).
    let host = request_host(request.headers(), request.uri()).map(|host| host.and_then(host_of));
    // No host at all is no browser's request (HTTP/1.0 by hand): nothing to rebind.
    let Some(host) = host else {
        return next.run(request).await;
    };
    let known = host.as_deref().is_some_and(|host| {
        is_ip_or_localhost(host)
            || site
                .0
                .as_ref()
                .is_some_and(|url| url.origin().host() == host)
    });
    if known {
        return next.run(request).await;
    }
    let message = match &site.0 {
        Some(url) => format!(
            "unknown Host: without API_TOKEN only localhost, IP addresses and EXTERNAL_URL's host ({}) are served",
            url.origin().host()
        ),
        None => "unknown Host: without API_TOKEN only localhost and IP addresses are served; set EXTERNAL_URL to the URL you open the dashboard at (or set API_TOKEN)".to_string(),
    };
    ApiError::new(StatusCode::FORBIDDEN, message).into_response()
}
