//! `API_TOKEN`: every `/api` route except `/api/webhook` (its own signature
//! protects it), reads and the event stream included, needs `Authorization:
//! Bearer <token>`. `/healthz`, `/readyz` and `/metrics` stay open for probes and
//! scrapers; the dashboard page holds no data and asks for the token itself.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, ApiToken};

/// Middleware: refuses `/api` requests without the bearer token (401) when one is configured.
pub async fn require_token(
    State(ApiToken(token)): State<ApiToken>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token.as_ref() else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if !(path == "/api" || path.starts_with("/api/")) || path == "/api/webhook" {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if bool::from(p.as_bytes().ct_eq(token.expose().as_bytes())) => {
            next.run(request).await
        }
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "invalid API token").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing 'Authorization: Bearer <API_TOKEN>' header",
        )
        .into_response(),
    }
}
