//! `POST /api/webhook`: signature first, then like `POST /api/refresh`.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use super::refresh::accepted;
use super::{ApiError, AppState};
use crate::informer::git::Trigger;
use crate::secret::Secret;
use crate::webhook::{self, MAX_BODY_BYTES, Provider, WebhookEvent};

/// Verified webhooks per second before 429: forges send a few per push; a
/// thousand a second is a flood or a loop.
const RATE_PER_SECOND: u32 = 20;
/// Burst above the rate: a push to many branches at once.
const BURST: u32 = 50;
/// Bodies buffered at once: each may be 25 MiB, so this bounds memory to 100 MiB.
const CONCURRENT_BODIES: usize = 4;

/// Webhook settings and flood protection, shared by all requests.
pub struct WebhookGuard {
    secret: Option<Secret>,
    configured_ref: Option<String>,
    limiter: DefaultDirectRateLimiter,
    bodies: Semaphore,
}

impl WebhookGuard {
    /// Guard for the given secret and `GIT_REF`.
    pub fn new(secret: Option<Secret>, configured_ref: Option<String>) -> Arc<Self> {
        let rate = NonZeroU32::new(RATE_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(BURST).unwrap_or(NonZeroU32::MIN);
        Arc::new(Self {
            secret,
            configured_ref,
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            bodies: Semaphore::new(CONCURRENT_BODIES),
        })
    }
}

/// `POST /api/webhook`.
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let provider = Provider::detect(&headers).map_or("unknown", Provider::as_str);
    let span = tracing::info_span!("webhook", provider);
    verdict(state, headers, body, provider)
        .instrument(span)
        .await
}

/// Checks, parses and acts on one webhook; every verdict is logged and counted.
async fn verdict(
    state: AppState,
    headers: HeaderMap,
    body: Body,
    provider_label: &'static str,
) -> Response {
    let guard = state.webhook.clone();
    let count = |outcome: &str| {
        state
            .metrics
            .webhook_requests
            .with_label_values(&[provider_label, outcome])
            .inc();
    };

    let Some(secret) = guard.secret.as_ref() else {
        count("forbidden");
        tracing::warn!(
            provider = provider_label,
            "webhook refused: WEBHOOK_SECRET is not set"
        );
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "webhooks are disabled: set WEBHOOK_SECRET",
        )
        .into_response();
    };

    let Ok(_permit) = guard.bodies.acquire().await else {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    };
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            count("too_large");
            tracing::warn!(provider = provider_label, error = %e, "webhook body refused");
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body over {} MiB", MAX_BODY_BYTES / (1024 * 1024)),
            )
            .into_response();
        }
    };

    let provider = match webhook::verify(&headers, &body, secret) {
        Ok(provider) => provider,
        Err(e) => {
            count("unauthorized");
            tracing::warn!(provider = provider_label, reason = %e, "webhook refused: bad signature");
            return ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()).into_response();
        }
    };

    let event = match webhook::parse_event(provider, &headers, &body) {
        Ok(event) => event,
        Err(e) => {
            count("bad_request");
            tracing::warn!(provider = provider_label, error = %e, "webhook refused: unreadable payload");
            return ApiError::new(StatusCode::BAD_REQUEST, e).into_response();
        }
    };

    match event {
        WebhookEvent::Ping => {
            count("pong");
            tracing::info!(provider = provider_label, "webhook ping");
            (StatusCode::OK, Json(json!({ "status": "pong" }))).into_response()
        }
        WebhookEvent::Other(kind) => {
            count("ignored");
            tracing::info!(provider = provider_label, event = %kind, "webhook ignored: not a push");
            (StatusCode::OK, Json(json!({ "status": "ignored" }))).into_response()
        }
        WebhookEvent::Push { reference } => {
            let resolved = state.refresh.resolved_reference();
            if !webhook::push_is_tracked(
                &reference,
                guard.configured_ref.as_deref(),
                resolved.as_deref(),
            ) {
                count("ignored");
                tracing::info!(provider = provider_label, pushed = %reference, "webhook ignored: push to another ref");
                return (StatusCode::OK, Json(json!({ "status": "ignored" }))).into_response();
            }
            // A flood still ends in one refresh after the last push: the request is
            // coalesced into the single waiting slot either way.
            let requested = state.refresh.request(Trigger::Webhook);
            if guard.limiter.check().is_err() {
                count("rate_limited");
                tracing::debug!(
                    provider = provider_label,
                    "webhook rate limited; refresh coalesced"
                );
                return ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many webhooks: a refresh is already queued",
                )
                .into_response();
            }
            count("accepted");
            tracing::info!(provider = provider_label, pushed = %reference, status = ?requested, "webhook accepted");
            accepted(requested).into_response()
        }
    }
}
