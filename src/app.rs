//! Wiring: builds every component from the settings, runs them, and stops them in order.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::api::{self, AppState, WebhookGuard};
use crate::config::Config;
use crate::docker::state::RuntimeCache;
use crate::events::EventBus;
use crate::git::refresh::{self, RefreshHandle};
use crate::git::snapshot::SnapshotStore;
use crate::metrics::AppMetrics;
use crate::readiness::Readiness;
use crate::status::StatusTable;

/// Readiness condition: the Docker daemon answered.
pub const READY_DOCKER: &str = "docker";

/// Runs docker-cd until `shutdown` is cancelled, then stops gracefully.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let registry = Arc::new(
        prometheus::Registry::new_custom(Some("dockercd".into()), None)
            .context("creating the metrics registry")?,
    );
    let metrics = AppMetrics::register(&registry).context("registering metrics")?;
    let readiness = Readiness::new(&[refresh::READY_CONDITION, READY_DOCKER]);
    let events = EventBus::new();
    let tracker = TaskTracker::new();

    tokio::fs::create_dir_all(&config.data_dir)
        .await
        .with_context(|| format!("DATA_DIR: cannot create {}", config.data_dir.display()))?;

    let (_store, snapshots) = SnapshotStore::new();
    let refresh_handle = RefreshHandle::new();

    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .with_context(|| format!("LISTEN_ADDR: cannot listen on {}", config.listen_addr))?;
    let local = listener
        .local_addr()
        .context("reading the listen address")?;
    tracing::info!(
        addr = %local,
        repo = %config.repo_url,
        deploy_dir = %config.deploy_dir.display(),
        instance = %config.instance_name,
        "docker-cd {} listening",
        env!("CARGO_PKG_VERSION")
    );

    let state = AppState {
        registry: registry.clone(),
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        snapshots,
        refresh: refresh_handle,
        status: StatusTable::new(events.clone(), metrics.clone()),
        runtime: RuntimeCache::new(),
        events,
        webhook: WebhookGuard::new(config.webhook_secret.clone(), config.git_ref.clone()),
        api_token: config.api_token.clone(),
    };
    let http_shutdown = shutdown.clone();
    let server = axum::serve(listener, api::router(state))
        .with_graceful_shutdown(async move { http_shutdown.cancelled().await });
    tracker.spawn(
        async move {
            if let Err(e) = server.await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        }
        .instrument(tracing::info_span!("http")),
    );

    shutdown.cancelled().await;
    tracker.close();
    tracker.wait().await;
    tracing::info!("stopped");
    Ok(())
}
