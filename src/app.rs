//! Wiring: starts every component from the settings, runs them, and stops them in order.
//!
//! ```text
//!  informer::git ──┐                          ┌─▶ StackReconciler (compose, Docker)
//!  informer::docker┼─▶ controller (WorkQueue) ┤
//!  resync ─────────┘                          └─▶ status ─▶ API (HTTP, SSE, metrics)
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use controller::{Controller, ControllerMetrics, QueueMetrics, WorkQueue};
use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use crate::api::{
    self, ApiToken, AppState, EventStreams, Health, Site, StackReads, WebhookGuard, Webhooks,
};
use crate::commands::{self, StackCommands};
use crate::commit_status;
use crate::compose::prefetch;
use crate::compose::runner::{ComposeMetrics, ComposeRunner};
use crate::compose::workspace::Workspaces;
use crate::config::Config;
use crate::docker::DockerHandle;
use crate::docker::state::RuntimeCache;
use crate::git::commits::Commits;
use crate::history::History;
use crate::informer::git::RefreshHandle;
use crate::informer::{self, Keys};
use crate::known::Known;
use crate::plan::Planner;
use crate::reconcile::decide::Rules;
use crate::reconcile::memory::Memories;
use crate::reconcile::reason::{Reason, StackRequest, Trigger};
use crate::reconcile::reconciler::Parts as ReconcilerParts;
use crate::reconcile::series::GateSeries;
use crate::reconcile::{DockerExecutor, StackReconciler};
use crate::redact::SecretBook;
use crate::runtime::Runtime;
use crate::stack::StackName;
use crate::stack::revisions::Revisions;
use crate::stack::snapshot::SnapshotReader;
use crate::status::StatusTable;

/// Every known stack is reconciled again this often, whatever the informers say:
/// the level-triggered safety net against a missed event.
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);

/// Runs docker-cd until `shutdown` is cancelled, then stops gracefully;
/// `secrets` is the book the logs are masked with.
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
    secrets: SecretBook,
) -> anyhow::Result<()> {
    let runtime = Runtime::new(shutdown, secrets).context("registering metrics")?;
    let data_dir = data_dir(&config.reconcile.data_dir).await?;
    let git = informer::git::spawn(&config.git, &data_dir, &runtime);
    let docker = informer::docker::spawn(&config.docker, &config.reconcile.instance_name, &runtime);
    let stores = Stores {
        snapshots: git.snapshots,
        revisions: git.revisions,
        commits: git.commits,
        refresh: git.refresh,
        cache: docker.cache,
        docker: docker.client,
    };
    crate::notify::start(&config, &stores.commits, &runtime)?;
    start_commit_statuses(&config, &runtime)?;
    let reconciling = start_reconciler(&config, &data_dir, &stores, &runtime)?;
    mark_unknown_until_read(&stores, &reconciling.status, &runtime);
    start_controller(
        &reconciling,
        [git.keys, docker.keys],
        &stores,
        config.reconcile.concurrency(),
        &runtime,
    )?;
    start_api(&config, reconciling, stores, &runtime).await?;
    runtime.stopped().await;
    tracing::info!("stopped");
    Ok(())
}

/// What the informers keep for everyone else to read.
struct Stores {
    snapshots: SnapshotReader,
    revisions: Revisions,
    commits: Commits,
    refresh: RefreshHandle,
    cache: RuntimeCache,
    docker: DockerHandle,
}

/// Lists every stack docker-cd knows (what a resync wakes); one whose name
/// no stack can have (a compose project labelled by hand) is left out.
fn every_stack(
    snapshots: SnapshotReader,
    status: StatusTable,
    cache: RuntimeCache,
) -> impl FnMut() -> Vec<StackRequest> + Send + 'static {
    move || {
        let snapshot = snapshots.current();
        let known = Known {
            snapshot: snapshot.as_deref(),
            status: &status,
            runtime: &cache,
        };
        known
            .names()
            .iter()
            .filter_map(|name| name.parse::<StackName>().ok())
            .map(|name| Reason::request(Trigger::Resync, name))
            .collect()
    }
}

impl Stores {
    /// Completes once both stores are filled: no reconcile may judge a stack
    /// against an empty desired or actual state.
    fn filled(&self) -> impl Future<Output = ()> + Send + 'static {
        let (mut snapshots, mut docker) = (self.snapshots.clone(), self.docker.clone());
        async move {
            snapshots.wait_for_first().await;
            docker.wait_connected().await;
        }
    }
}

/// The reconcile side: what the controller runs and the API shares.
struct Reconciling {
    reconciler: Arc<StackReconciler<DockerExecutor>>,
    planner: Arc<Planner>,
    status: StatusTable,
    memories: Memories,
    queue: WorkQueue<StackRequest>,
    history: History,
}

/// `DATA_DIR`, created and made absolute: compose runs in sub-folders and
/// container labels record the path.
async fn data_dir(configured: &Path) -> anyhow::Result<PathBuf> {
    tokio::fs::create_dir_all(configured)
        .await
        .with_context(|| format!("DATA_DIR: cannot create {}", configured.display()))?;
    tokio::fs::canonicalize(configured)
        .await
        .with_context(|| format!("DATA_DIR: cannot resolve {}", configured.display()))
}

/// Once Docker is listed, and while no Git snapshot has been read (Git slow
/// or away at start), the stacks Docker shows are `unknown`, not orphaned:
/// nothing says yet whether Git wants them. Their first pass, after the first
/// snapshot, replaces the record.
fn mark_unknown_until_read(stores: &Stores, status: &StatusTable, runtime: &Runtime) {
    let (snapshots, cache, status) = (
        stores.snapshots.clone(),
        stores.cache.clone(),
        status.clone(),
    );
    let mut docker = stores.docker.clone();
    let shutdown = runtime.shutdown.clone();
    runtime.spawn(tracing::info_span!("unknown-until-read"), async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = docker.wait_connected() => {
                if snapshots.current().is_none() {
                    status.mark_unknown(cache.stack_names().iter().map(String::as_str));
                }
            }
        }
    });
}

/// Commit statuses, when `COMMIT_STATUS` asks for them: started before the
/// reconciler, so they see its first transition.
fn start_commit_statuses(config: &Config, runtime: &Runtime) -> anyhow::Result<()> {
    let target = config
        .commit_status
        .target(&config.git.repo_url, config.git.access_token.as_ref())
        .map_err(|(setting, refused)| anyhow::anyhow!("{setting}: {refused}"))?;
    let Some(target) = target else {
        return Ok(());
    };
    let site = config
        .api
        .external_url()
        .map(|url| url.origin().to_string());
    let instance = config.reconcile.instance_name.to_string();
    commit_status::spawn(target, instance, site, runtime)?;
    Ok(())
}

/// The compose runner, its command detected in the background.
fn start_compose(config: &Config, runtime: &Runtime) -> anyhow::Result<Arc<ComposeRunner>> {
    let compose = Arc::new(ComposeRunner::new(
        config.compose.command.clone(),
        config.docker.host().map(str::to_string),
        ComposeMetrics::register(&runtime.registry).context("registering compose metrics")?,
    ));
    // Detect the compose command now rather than in the first apply: with
    // compose v1 that costs a Python start (~0.5 s), and a missing compose is
    // reported at start-up.
    let detect = compose.clone();
    runtime.spawn(tracing::info_span!("compose"), async move {
        if let Err(e) = detect.cli().await {
            tracing::warn!(error = %e, "no usable compose command yet; applies will fail until one works");
        }
    });
    Ok(compose)
}

/// Resolves the models a new snapshot needs ahead of the workers.
fn start_prefetch(workspaces: &Workspaces, stores: &Stores, runtime: &Runtime) {
    let sources = prefetch::Sources {
        snapshots: stores.snapshots.clone(),
        cache: stores.cache.clone(),
        docker: stores.docker.clone(),
    };
    // One `compose config` at a time: it fills the time a worker's
    // `compose up` waits for the engine; with more workers the cores are
    // busy already, and a second one only competes with the applies.
    runtime.spawn(
        tracing::info_span!("prefetch"),
        prefetch::run(workspaces.clone(), sources, 1, runtime.shutdown.clone()),
    );
}

/// Compose, the planner, the reconciler and the state they share.
fn start_reconciler(
    config: &Config,
    data_dir: &Path,
    stores: &Stores,
    runtime: &Runtime,
) -> anyhow::Result<Reconciling> {
    let compose = start_compose(config, runtime)?;
    let status = StatusTable::new(
        runtime.events.clone(),
        runtime.metrics.clone(),
        runtime.secrets.clone(),
    );
    // Opened (a short blocking call) before anything runs: a history that
    // cannot be kept fails the start rather than every record later.
    let history = History::open(data_dir, &runtime.registry)
        .context("DATA_DIR")?
        .masking(runtime.secrets.clone());
    let memories = Memories::new();
    let instance = config.reconcile.instance_name.to_string();
    let workspaces = Workspaces::new(
        data_dir.to_path_buf(),
        compose,
        config.reconcile.policy.clone(),
        runtime.secrets.clone(),
    );
    if config.reconcile.enabled {
        start_prefetch(&workspaces, stores, runtime);
    }
    let planner = Arc::new(Planner::new(
        instance.clone(),
        workspaces.clone(),
        stores.snapshots.clone(),
        stores.docker.clone(),
        runtime.secrets.clone(),
        stores.revisions.clone(),
    ));
    let reconciler = Arc::new(StackReconciler::new(ReconcilerParts {
        instance: instance.clone(),
        rules: Rules {
            reconcile_enabled: config.reconcile.enabled,
            remove_enabled: config.reconcile.remove_enabled,
            drift_policy: config.reconcile.drift_policy,
            health_timeout: config.reconcile.health_timeout,
            rollback_enabled: config.reconcile.rollback_enabled,
        },
        snapshots: stores.snapshots.clone(),
        runtime: stores.cache.clone(),
        executor: DockerExecutor {
            instance,
            docker: stores.docker.clone(),
            workspaces,
        },
        status: status.clone(),
        memories: memories.clone(),
        metrics: runtime.metrics.clone(),
        gate_series: GateSeries::register(&runtime.registry)
            .context("registering health gate metrics")?,
        events: runtime.events.clone(),
        transitions: runtime.transitions.clone(),
        history: history.clone(),
        revisions: stores.revisions.clone(),
    }));
    let queue = WorkQueue::with_limiter(
        controller::default_rate_limiter(),
        Some(QueueMetrics::register(&runtime.registry).context("registering queue metrics")?),
    );
    Ok(Reconciling {
        reconciler,
        planner,
        status,
        memories,
        queue,
        history,
    })
}

/// The controller: informer keys and the periodic resync go into the queue (the
/// only other way in is a command of the API: sync, ack, apply), workers run the
/// reconciler once both stores are filled.
fn start_controller(
    reconciling: &Reconciling,
    informers: [Keys; 2],
    stores: &Stores,
    concurrency: usize,
    runtime: &Runtime,
) -> anyhow::Result<()> {
    let metrics =
        ControllerMetrics::register(&runtime.registry).context("registering reconcile metrics")?;
    let [git_keys, docker_keys] = informers;
    let controller = Controller::new(
        reconciling.queue.clone(),
        controller::Config::default().concurrency(concurrency),
    )
    .with_metrics(metrics)
    .with_source(git_keys.map(|name| Reason::request(Trigger::Refresh, name)))
    .with_source(docker_keys.map(|name| Reason::request(Trigger::DockerEvent, name)))
    .with_source(controller::resync(
        RESYNC_INTERVAL,
        every_stack(
            stores.snapshots.clone(),
            reconciling.status.clone(),
            stores.cache.clone(),
        ),
    ))
    .ready_when(stores.filled());
    let reconciler = reconciling.reconciler.clone();
    let shutdown = runtime.shutdown.clone();
    runtime.spawn(
        tracing::info_span!("controller"),
        controller.run(reconciler, shutdown),
    );
    Ok(())
}

/// The HTTP server: binds `LISTEN_ADDR` now, so a bad address fails the start.
async fn start_api(
    config: &Config,
    reconciling: Reconciling,
    stores: Stores,
    runtime: &Runtime,
) -> anyhow::Result<()> {
    let addr = config.api.listen_addr.get();
    let listener = api::server::listen(addr)
        .with_context(|| format!("LISTEN_ADDR: cannot listen on {addr}"))?;
    let local = listener
        .local_addr()
        .context("reading the listen address")?;
    if !local.ip().is_loopback() && config.api.api_token.is_none() {
        tracing::warn!(
            addr = %local,
            "listening beyond loopback without API_TOKEN: anyone who reaches this port can deploy; set API_TOKEN or LISTEN_ADDR=127.0.0.1:8080"
        );
    }
    tracing::info!(
        addr = %local,
        repo = %config.git.repo_url,
        deploy_dir = %config.git.deploy_dir.as_path().display(),
        instance = %config.reconcile.instance_name,
        "docker-cd {} listening",
        env!("CARGO_PKG_VERSION")
    );
    let state = AppState {
        stacks: StackReads {
            snapshots: stores.snapshots.clone(),
            status: reconciling.status.clone(),
            runtime: stores.cache.clone(),
            list_cache: Default::default(),
            commits: stores.commits.clone(),
            secrets: runtime.secrets.clone(),
        },
        commands: Arc::new(StackCommands::new(commands::Parts {
            snapshots: stores.snapshots,
            status: reconciling.status,
            runtime: stores.cache,
            memories: reconciling.memories,
            queue: reconciling.queue,
            planner: reconciling.planner,
            shutdown: runtime.shutdown.clone(),
            history: reconciling.history.clone(),
            revisions: stores.revisions.clone(),
        })),
        health: Health {
            registry: runtime.registry.clone(),
            readiness: runtime.readiness.clone(),
        },
        refresh: stores.refresh.clone(),
        history: reconciling.history.clone(),
        webhooks: Webhooks::new(
            WebhookGuard::new(
                config.api.webhook_secret.clone(),
                config.git.reference.as_ref().map(ToString::to_string),
            ),
            stores.refresh,
            runtime.metrics.clone(),
        ),
        events: EventStreams::new(runtime.events.clone(), runtime.shutdown.clone()),
        api_token: ApiToken(config.api.api_token.clone()),
        site: Site(config.api.external_url().cloned()),
    };
    runtime.spawn(
        tracing::info_span!("http"),
        api::server::serve(listener, api::router(state), runtime.shutdown.clone()),
    );
    Ok(())
}

#[cfg(test)]
mod tests;
