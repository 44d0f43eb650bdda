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
use super::{ApiError, Webhooks};
use crate::informer::git::{RefreshHandle, Requested, Trigger};
use crate::metrics::{AppMetrics, pairs};
use crate::secret::Secret;
use crate::webhook::{
    self, BODY_TIMEOUT, Deliveries, MAX_BODY_BYTES, Provider, Signature, SignatureError,
    UNKNOWN_PROVIDER, WebhookEvent, WebhookOutcome,
};

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
    deliveries: Deliveries,
}

impl Webhooks {
    /// The webhook's parts; every provider × outcome series starts at 0.
    pub fn new(guard: Arc<WebhookGuard>, refresh: RefreshHandle, metrics: AppMetrics) -> Self {
        let providers: Vec<&str> = Provider::ALL
            .iter()
            .map(|p| p.as_str())
            .chain([UNKNOWN_PROVIDER])
            .collect();
        let outcomes: Vec<&str> = WebhookOutcome::ALL.iter().map(|o| o.as_str()).collect();
        for labels in pairs(&providers, &outcomes) {
            metrics.webhook_requests.with_label_values(&labels).reset();
        }
        Self {
            guard,
            refresh,
            metrics,
        }
    }
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
            deliveries: Deliveries::default(),
        })
    }
}

/// `POST /api/webhook`.
pub async fn receive(State(state): State<Webhooks>, headers: HeaderMap, body: Body) -> Response {
    let provider = Provider::label(Provider::detect(&headers));
    let span = tracing::info_span!("webhook", provider);
    async {
        let verdict = judge(&state, &headers, body)
            .await
            .unwrap_or_else(|refusal| refusal);
        verdict.answer(&state, provider)
    }
    .instrument(span)
    .await
}

/// What became of one webhook request.
enum Verdict {
    /// `WEBHOOK_SECRET` is not set.
    Disabled,
    /// Shutdown has begun: no more bodies are read.
    ShuttingDown,
    /// The body is over [`MAX_BODY_BYTES`] or could not be read.
    TooLarge(String),
    /// The body did not arrive within [`BODY_TIMEOUT`].
    TimedOut,
    /// The signature is missing, malformed or wrong.
    BadSignature(SignatureError),
    /// A push payload that cannot be read.
    Unreadable(String),
    /// A delivery id seen before: a replay.
    Duplicate,
    /// The forge's set-up ping.
    Pong,
    /// An event other than a push, by name.
    NotAPush(String),
    /// A push to a ref docker-cd does not follow.
    OtherRef(String),
    /// Over the rate: the refresh was requested (coalesced) all the same.
    RateLimited,
    /// A tracked push; the refresh runs or waits.
    Accepted {
        /// The pushed ref.
        pushed: String,
        /// What the refresh request got.
        requested: Requested,
    },
}

/// Checks, parses and acts on one webhook; `Err` is a refusal before the end.
async fn judge(state: &Webhooks, headers: &HeaderMap, body: Body) -> Result<Verdict, Verdict> {
    let guard = &state.guard;
    let secret = guard.secret.as_ref().ok_or(Verdict::Disabled)?;
    // Only what the headers say, before a slot is taken or a byte is read: an
    // unsigned request costs nothing.
    let signature = Signature::from_headers(headers).map_err(Verdict::BadSignature)?;
    let _permit = guard
        .bodies
        .acquire()
        .await
        .map_err(|_| Verdict::ShuttingDown)?;
    let body = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
        .map_err(|_| Verdict::TimedOut)?
        .map_err(|e| Verdict::TooLarge(e.to_string()))?;
    let provider = signature
        .check(&body, secret)
        .map_err(Verdict::BadSignature)?;
    // Remembered only once the signature holds: nobody without the secret can
    // make a real delivery look like a replay.
    if let Some(id) = webhook::delivery_id(headers)
        && !guard.deliveries.first_time(id)
    {
        return Ok(Verdict::Duplicate);
    }
    let reference = match webhook::parse_event(provider, headers, &body) {
        Ok(WebhookEvent::Push { reference }) => reference,
        Ok(WebhookEvent::Ping) => return Ok(Verdict::Pong),
        Ok(WebhookEvent::Other(kind)) => return Ok(Verdict::NotAPush(kind)),
        Err(e) => return Err(Verdict::Unreadable(e)),
    };
    let resolved = state.refresh.resolved_reference();
    let configured = guard.configured_ref.as_deref();
    if !webhook::push_is_tracked(&reference, configured, resolved.as_deref()) {
        return Ok(Verdict::OtherRef(reference));
    }
    // A flood still ends in one refresh after the last push: the request is
    // coalesced into the single waiting slot either way.
    let requested = state.refresh.request(Trigger::Webhook);
    if guard.limiter.check().is_err() {
        return Err(Verdict::RateLimited);
    }
    Ok(Verdict::Accepted {
        pushed: reference,
        requested,
    })
}

impl Verdict {
    /// Counts the verdict under `provider`, logs it and answers the request.
    fn answer(self, state: &Webhooks, provider: &'static str) -> Response {
        let (outcome, response) = self.log_and_respond(provider);
        if let Some(outcome) = outcome {
            state
                .metrics
                .webhook_requests
                .with_label_values(&[provider, outcome.as_str()])
                .inc();
        }
        response
    }

    /// The metric outcome (none while shutting down) and the response.
    fn log_and_respond(self, provider: &'static str) -> (Option<WebhookOutcome>, Response) {
        match self {
            Self::Disabled => {
                tracing::warn!(provider, "webhook refused: WEBHOOK_SECRET is not set");
                let message = "webhooks are disabled: set WEBHOOK_SECRET";
                refusal(WebhookOutcome::Forbidden, StatusCode::FORBIDDEN, message)
            }
            Self::ShuttingDown => (
                None,
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response(),
            ),
            Self::TimedOut => {
                tracing::warn!(provider, "webhook refused: the body was too slow");
                let message = format!("body not received within {} s", BODY_TIMEOUT.as_secs());
                refusal(
                    WebhookOutcome::Timeout,
                    StatusCode::REQUEST_TIMEOUT,
                    message,
                )
            }
            Self::Duplicate => {
                tracing::info!(provider, "webhook ignored: delivery already received");
                answered(WebhookOutcome::Duplicate, "duplicate")
            }
            Self::TooLarge(e) => {
                tracing::warn!(provider, error = %e, "webhook body refused");
                let message = format!("body over {} MiB", MAX_BODY_BYTES / (1024 * 1024));
                refusal(
                    WebhookOutcome::TooLarge,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    message,
                )
            }
            Self::BadSignature(e) => {
                tracing::warn!(provider, reason = %e, "webhook refused: bad signature");
                refusal(
                    WebhookOutcome::Unauthorized,
                    StatusCode::UNAUTHORIZED,
                    e.to_string(),
                )
            }
            Self::Unreadable(e) => {
                tracing::warn!(provider, error = %e, "webhook refused: unreadable payload");
                refusal(WebhookOutcome::BadRequest, StatusCode::BAD_REQUEST, e)
            }
            Self::Pong => {
                tracing::info!(provider, "webhook ping");
                answered(WebhookOutcome::Pong, "pong")
            }
            Self::NotAPush(kind) => {
                tracing::info!(provider, event = %kind, "webhook ignored: not a push");
                answered(WebhookOutcome::Ignored, "ignored")
            }
            Self::OtherRef(pushed) => {
                tracing::info!(provider, pushed = %pushed, "webhook ignored: push to another ref");
                answered(WebhookOutcome::Ignored, "ignored")
            }
            Self::RateLimited => {
                tracing::debug!(provider, "webhook rate limited; refresh coalesced");
                let message = "too many webhooks: a refresh is already queued";
                refusal(
                    WebhookOutcome::RateLimited,
                    StatusCode::TOO_MANY_REQUESTS,
                    message,
                )
            }
            Self::Accepted { pushed, requested } => {
                tracing::info!(provider, pushed = %pushed, status = ?requested, "webhook accepted");
                (
                    Some(WebhookOutcome::Accepted),
                    accepted(requested).into_response(),
                )
            }
        }
    }
}

/// An error response counted as `outcome`.
fn refusal(
    outcome: WebhookOutcome,
    status: StatusCode,
    message: impl Into<String>,
) -> (Option<WebhookOutcome>, Response) {
    (
        Some(outcome),
        ApiError::new(status, message).into_response(),
    )
}

/// `200 {"status": <status>}` counted as `outcome`.
fn answered(outcome: WebhookOutcome, status: &'static str) -> (Option<WebhookOutcome>, Response) {
    (
        Some(outcome),
        (StatusCode::OK, Json(json!({ "status": status }))).into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_and_outcome_series_starts_at_zero() {
        let registry = prometheus::Registry::new();
        let metrics = AppMetrics::register(&registry).expect("register");
        Webhooks::new(WebhookGuard::new(None, None), RefreshHandle::new(), metrics);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .expect("text");
        let series = text
            .lines()
            .filter(|l| l.starts_with("webhook_requests_total{"))
            .count();
        assert_eq!(
            series,
            (Provider::ALL.len() + 1) * WebhookOutcome::ALL.len()
        );
        assert!(
            text.contains(r#"webhook_requests_total{outcome="too_large",provider="unknown"} 0"#),
            "{text}"
        );
    }
}
