//! The HTTP API: JSON everywhere except `/` (the dashboard) and `/metrics`.

mod actions;
mod auth;
mod dashboard;
mod error;
mod events;
mod health;
mod plan;
mod refresh;
pub mod stacks;
mod webhook;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use error::ApiError;
pub use webhook::WebhookGuard;

use crate::docker::state::RuntimeCache;
use crate::events::EventBus;
use crate::informer::git::RefreshHandle;
use crate::metrics::AppMetrics;
use crate::plan::Planner;
use crate::readiness::Readiness;
use crate::reconcile::StackReconciler;
use crate::reconcile::lock::{Grants, StackLocks};
use crate::secret::Secret;
use crate::stack::snapshot::SnapshotReader;
use crate::status::StatusTable;

/// What every handler can read.
#[derive(Clone)]
pub struct AppState {
    /// The process's metrics registry.
    pub registry: Arc<prometheus::Registry>,
    /// Application series.
    pub metrics: AppMetrics,
    /// Conditions for `/readyz`.
    pub readiness: Readiness,
    /// Desired state.
    pub snapshots: SnapshotReader,
    /// Refresh requests and status.
    pub refresh: RefreshHandle,
    /// Reconcile results per stack.
    pub status: StatusTable,
    /// Containers per stack.
    pub runtime: RuntimeCache,
    /// SSE events.
    pub events: EventBus,
    /// Webhook secret and flood protection.
    pub webhook: Arc<WebhookGuard>,
    /// Bearer token for POSTs.
    pub api_token: Option<Secret>,
    /// The controller's queue: `sync` and `ack` enqueue the stack.
    pub queue: controller::WorkQueue<String>,
    /// One-shot apply permissions for `sync` and `ack`.
    pub grants: Grants,
    /// Per-stack locks shared with the reconciler.
    pub locks: StackLocks,
    /// Makes plans and staleness tokens.
    pub planner: Arc<Planner>,
    /// Applies a plan.
    pub reconciler: Arc<StackReconciler>,
    /// The last `GET /api/stacks` body.
    pub stacks_cache: stacks::ListCache,
}

/// All routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/stacks", get(stacks::list))
        .route("/api/stacks/{name}", get(stacks::get_one))
        .route("/api/stacks/{name}/sync", post(actions::sync))
        .route("/api/stacks/{name}/ack", post(actions::ack))
        .route("/api/stacks/{name}/plan", post(plan::plan))
        .route("/api/stacks/{name}/apply", post(plan::apply))
        .route("/api/stacks/{name}/compose", get(plan::compose_file))
        .route("/api/refresh", get(refresh::status).post(refresh::request))
        .route("/api/webhook", post(webhook::receive))
        .route("/api/events", get(events::stream))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state)
}
