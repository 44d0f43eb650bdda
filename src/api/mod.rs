//! The HTTP API: JSON everywhere except `/` (the dashboard) and `/metrics`.

mod actions;
pub mod args;
mod auth;
mod cross_site;
mod dashboard;
mod error;
mod events;
mod health;
mod history;
mod host_check;
mod origin;
mod plan;
mod refresh;
mod rollback;
mod routes;
mod security_headers;
pub mod server;
mod stack_path;
pub mod stacks;
mod webhook;
mod well_formed;

use std::sync::Arc;

pub use args::ExternalUrl;
pub use error::ApiError;
pub use events::EventStreams;
pub use routes::router;
pub use webhook::WebhookGuard;

use crate::commands::StackCommands;
use crate::docker::state::RuntimeCache;
use crate::git::commits::Commits;
use crate::history::History;
use crate::informer::git::RefreshHandle;
use crate::known::Known;
use crate::metrics::AppMetrics;
use crate::readiness::Readiness;
use crate::redact::SecretBook;
use crate::secret::Secret;
use crate::stack::snapshot::{Snapshot, SnapshotReader};
use crate::status::StatusTable;

/// What the handlers can reach, split by job: each handler takes only the part
/// it needs (axum's `FromRef`), so none can reach the controller's internals.
#[derive(Clone)]
pub struct AppState {
    /// Reads of desired and actual state.
    pub stacks: StackReads,
    /// Sync, ack, plan and apply.
    pub commands: Arc<StackCommands>,
    /// Probes and the metrics endpoint.
    pub health: Health,
    /// Refresh requests and status.
    pub refresh: RefreshHandle,
    /// Applies and removals per stack.
    pub history: History,
    /// What a push webhook needs.
    pub webhooks: Webhooks,
    /// SSE events.
    pub events: EventStreams,
    /// `API_TOKEN`.
    pub api_token: ApiToken,
    /// `EXTERNAL_URL`.
    pub site: Site,
}

/// Desired state, actual state and statuses, read-only.
#[derive(Clone)]
pub struct StackReads {
    /// Desired state.
    pub snapshots: SnapshotReader,
    /// Reconcile results per stack.
    pub status: StatusTable,
    /// Containers per stack.
    pub runtime: RuntimeCache,
    /// The last `GET /api/stacks` body.
    pub list_cache: stacks::ListCache,
    /// Subject, author and time of revisions.
    pub commits: Commits,
    /// Every stack's secret values, masked in what the compose view shows.
    pub secrets: SecretBook,
}

impl StackReads {
    /// The stacks known with `snapshot`, the Git snapshot read for this answer.
    fn known<'a>(&'a self, snapshot: Option<&'a Snapshot>) -> Known<'a> {
        Known {
            snapshot,
            status: &self.status,
            runtime: &self.runtime,
        }
    }
}

/// What `/readyz` and `/metrics` read.
#[derive(Clone)]
pub struct Health {
    /// The process's metrics registry.
    pub registry: Arc<prometheus::Registry>,
    /// Conditions for `/readyz`.
    pub readiness: Readiness,
}

/// A webhook's signature check, the refresh it asks for and its counter
/// (see [`Webhooks::new`]).
#[derive(Clone)]
pub struct Webhooks {
    /// Webhook secret and flood protection.
    pub guard: Arc<WebhookGuard>,
    /// Where an accepted push asks for a refresh.
    pub refresh: RefreshHandle,
    /// Application series (webhook outcomes).
    pub metrics: AppMetrics,
}

/// The bearer token the API's routes need, when one is configured.
#[derive(Clone)]
pub struct ApiToken(pub Option<Secret>);

/// Where browsers reach this server from outside, when `EXTERNAL_URL` says so.
#[derive(Clone)]
pub struct Site(pub Option<ExternalUrl>);

macro_rules! sub_state {
    ($($field:ident: $type:ty),+ $(,)?) => {
        $(impl axum::extract::FromRef<AppState> for $type {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })+
    };
}

sub_state! {
    stacks: StackReads,
    commands: Arc<StackCommands>,
    health: Health,
    refresh: RefreshHandle,
    history: History,
    webhooks: Webhooks,
    events: EventStreams,
    api_token: ApiToken,
    site: Site,
}
