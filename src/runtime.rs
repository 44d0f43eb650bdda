//! What every component is started with: the shared series, readiness, event bus,
//! and the task tracker and shutdown token that stop them all in order.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::events::EventBus;
use crate::metrics::AppMetrics;
use crate::readiness::Readiness;
use crate::redact::SecretBook;
use crate::transitions::Transitions;

/// The process-wide context components are spawned into.
#[derive(Clone)]
pub struct Runtime {
    /// The Prometheus registry behind `/metrics`.
    pub registry: Arc<prometheus::Registry>,
    /// The application's own series.
    pub metrics: AppMetrics,
    /// `/readyz` conditions; each component adds its own.
    pub readiness: Readiness,
    /// SSE events.
    pub events: EventBus,
    /// The stacks' transitions, for notifications and commit statuses.
    pub transitions: Transitions,
    /// Every stack's secret values, masked wherever text is recorded or sent.
    pub secrets: SecretBook,
    /// Every long-running task, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Cancelled once: no new work starts after it.
    pub shutdown: CancellationToken,
}

impl Runtime {
    /// A runtime with a fresh `dockercd_` registry and the application series,
    /// masking events and records with `secrets` (the logs' book too).
    ///
    /// # Errors
    /// When the series cannot be registered.
    pub fn new(
        shutdown: CancellationToken,
        secrets: SecretBook,
    ) -> Result<Self, prometheus::Error> {
        let registry = Arc::new(prometheus::Registry::new_custom(
            Some("dockercd".into()),
            None,
        )?);
        let metrics = AppMetrics::register(&registry)?;
        Ok(Self {
            registry,
            metrics,
            readiness: Readiness::default(),
            events: EventBus::masking(secrets.clone()),
            transitions: Transitions::masking(secrets.clone()),
            secrets,
            tasks: TaskTracker::new(),
            shutdown,
        })
    }

    /// Runs `task` until it ends, inside `span` (named for the component).
    pub fn spawn(&self, span: tracing::Span, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task.instrument(span));
    }

    /// Waits for shutdown, then for every spawned task to finish.
    pub async fn stopped(&self) {
        self.shutdown.cancelled().await;
        self.tasks.close();
        self.tasks.wait().await;
    }
}
