//! A generic controller runtime: the Kubernetes controller pattern without Kubernetes.
//!
//! ```text
//!  sources (streams of requests) ──add──▶ WorkQueue ──get──▶ workers ──▶ Reconciler::reconcile(request)
//!        ▲                               ▲                  │
//!        │                               └── add_after / add_rate_limited (per the result)
//!   informers (Git, Docker), resync
//! ```
//!
//! Informers only emit *keys* (with the reason they were queued, see
//! [`Request`]); the reconciler reads desired and actual state itself,
//! so a lost or duplicated event costs nothing but one more level-triggered pass.
//! The queue follows client-go's `workqueue` (a key is queued at most once, never
//! processed twice at once, and re-run once more if it was added while processing);
//! [`Controller`] follows controller-runtime's result handling.

pub mod backoff;
pub mod metrics;
pub mod queue;
pub mod reconcile;
pub mod request;
pub mod resync;
pub mod worker;

pub use backoff::Backoff;
pub use metrics::ControllerMetrics;
pub use queue::WorkQueue;
pub use queue::metrics::QueueMetrics;
pub use queue::rate_limit::{
    FastSlow, ItemExponential, MaxOf, RateLimiter, TokenBucket, WithMaxWait, default_rate_limiter,
};
pub use reconcile::{Action, ReconcileError, Reconciler};
pub use request::{Keyed, Reason, Request};
pub use resync::resync;
pub use worker::{Config, Controller};
