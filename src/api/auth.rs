//! `API_TOKEN`: the API's routes, reads and the event stream included, need
//! `Authorization: Bearer <token>`, since anyone who reaches the port could
//! otherwise read and act. The router (`routes.rs`) puts only those behind
//! this check: the webhook has its own signature, probes and scrapers carry
//! no token, and the dashboard page holds no data and asks for the token itself.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiToken};

/// Middleware: refuses requests without the bearer token (401) when one is configured.
pub async fn require_token(
    State(ApiToken(token)): State<ApiToken>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token.as_ref() else {
        return next.run(request).await;
    };
    // Two headers are refused rather than one picked: a proxy and the
    // server could each read a different one.
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let (first, second) = (values.next(), values.next());
    if second.is_some() {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "more than one Authorization header",
        )
        .into_response();
    }
    let presented = first.and_then(|v| v.to_str().ok()).and_then(bearer);
    match presented {
        Some(p) if token.matches(p.as_bytes()) => next.run(request).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid API token").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing 'Authorization: Bearer <API_TOKEN>' header",
        )
        .into_response(),
    }
}

/// The credentials of a `Bearer` header value; the scheme is case-insensitive (RFC 9110).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_credentials_whatever_the_scheme_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bEaReR  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}
