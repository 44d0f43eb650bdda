//! Wiring: builds every component from the settings, runs them, and stops them in order.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use controller::{Controller, ControllerMetrics, QueueMetrics, WorkQueue};
use futures::stream::{self, Stream, StreamExt as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::api::{self, ApiToken, AppState, Health, StackReads, WebhookGuard};
use crate::commands::StackCommands;
use crate::compose::runner::{ComposeMetrics, ComposeRunner};
use crate::config::Config;
use crate::docker::informer::{self, DockerInformer};
use crate::docker::state::RuntimeCache;
use crate::events::EventBus;
use crate::git::refresh::{self, RefreshHandle, Refresher};
use crate::git::repository::{GitSettings, GitSource};
use crate::git::snapshot::{SnapshotReader, SnapshotStore};
use crate::metrics::AppMetrics;
use crate::plan::Planner;
use crate::readiness::Readiness;
use crate::reconcile::decide::Policy;
use crate::reconcile::memory::Memories;
use crate::reconcile::{DockerExecutor, StackReconciler};
use crate::stack::workspace::Workspaces;
use crate::status::StatusTable;

/// Every known stack is reconciled again this often, whatever the informers say:
/// the level-triggered safety net against a missed event.
const RESYNC_INTERVAL: Duration = Duration::from_secs(300);

/// Runs docker-cd until `shutdown` is cancelled, then stops gracefully.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let registry = Arc::new(
        prometheus::Registry::new_custom(Some("dockercd".into()), None)
            .context("creating the metrics registry")?,
    );
    let metrics = AppMetrics::register(&registry).context("registering metrics")?;
    let readiness = Readiness::new(&[refresh::READY_CONDITION, informer::READY_CONDITION]);
    let events = EventBus::new();
    let tracker = TaskTracker::new();

    tokio::fs::create_dir_all(&config.data_dir)
        .await
        .with_context(|| format!("DATA_DIR: cannot create {}", config.data_dir.display()))?;
    // Absolute: compose runs in sub-folders and container labels record the path.
    let data_dir = tokio::fs::canonicalize(&config.data_dir)
        .await
        .with_context(|| format!("DATA_DIR: cannot resolve {}", config.data_dir.display()))?;

    let (store, snapshots) = SnapshotStore::new();
    let (git_keys, git_keys_rx) = mpsc::unbounded_channel::<String>();
    let (docker_keys, docker_keys_rx) = mpsc::unbounded_channel::<String>();
    let refresh_handle = RefreshHandle::new();
    let git = GitSource::new(
        GitSettings {
            url: config.repo_url.clone(),
            reference: config.git_ref.clone(),
            token: config.git_access_token.clone(),
            username: config.git_username.clone(),
            ssh_key_file: config.git_ssh_key_file.clone(),
        },
        data_dir.join("git"),
    );
    let refresher = Refresher {
        source: Arc::new(DeployFolder {
            git,
            deploy_dir: config.deploy_dir.clone(),
        }),
        store,
        keys: git_keys,
        handle: refresh_handle.clone(),
        metrics: metrics.clone(),
        events: events.clone(),
        readiness: readiness.clone(),
        poll_interval: config.poll_interval,
        deploy_dir: config.deploy_dir.clone(),
    };
    tracker.spawn(
        refresher
            .run(shutdown.clone())
            .instrument(tracing::info_span!("git")),
    );

    let runtime = RuntimeCache::new();
    let (docker_informer, docker) = DockerInformer::new(
        config.docker_host.clone(),
        config.instance_name.clone(),
        runtime.clone(),
        docker_keys,
        metrics.clone(),
        readiness.clone(),
    );
    tracker.spawn(
        docker_informer
            .run(shutdown.clone())
            .instrument(tracing::info_span!("docker")),
    );

    let status = StatusTable::new(events.clone(), metrics.clone());
    let memories = Memories::new();
    let compose = Arc::new(ComposeRunner::new(
        config.compose_command.clone(),
        config.docker_host.clone(),
        ComposeMetrics::register(&registry).context("registering compose metrics")?,
    ));
    // Detect the compose command now rather than in the first apply: with
    // compose v1 that costs a Python start (~0.5 s), and a missing compose is
    // reported at start-up.
    tracker.spawn({
        let compose = compose.clone();
        async move {
            if let Err(e) = compose.cli().await {
                tracing::warn!(error = %e, "no usable compose command yet; applies will fail until one works");
            }
        }
    });
    let workspaces = Workspaces::new(data_dir.clone(), compose);
    let planner = Arc::new(Planner::new(
        config.instance_name.clone(),
        workspaces.clone(),
        snapshots.clone(),
        docker.clone(),
    ));
    let reconciler = Arc::new(StackReconciler {
        instance: config.instance_name.clone(),
        policy: Policy {
            reconcile_enabled: config.reconcile_enabled,
            remove_enabled: config.remove_enabled,
            drift_policy: config.drift_policy,
        },
        snapshots: snapshots.clone(),
        runtime: runtime.clone(),
        executor: DockerExecutor {
            instance: config.instance_name.clone(),
            docker: docker.clone(),
            workspaces,
        },
        status: status.clone(),
        memories: memories.clone(),
        metrics: metrics.clone(),
    });
    let queue = WorkQueue::with_limiter(
        controller::default_rate_limiter(),
        Some(QueueMetrics::register(&registry).context("registering queue metrics")?),
    );
    let ready = {
        let mut snapshots = snapshots.clone();
        let mut docker = docker.clone();
        async move {
            snapshots.wait_for_first().await;
            docker.wait_connected().await;
        }
    };
    let controller = Controller::new(
        queue.clone(),
        controller::Config::default().concurrency(config.concurrency),
    )
    .with_metrics(ControllerMetrics::register(&registry).context("registering reconcile metrics")?)
    .with_source(receive(git_keys_rx))
    .with_source(receive(docker_keys_rx))
    .with_source(resync(snapshots.clone(), runtime.clone()))
    .ready_when(ready);
    tracker.spawn(
        controller
            .run(reconciler, shutdown.clone())
            .instrument(tracing::info_span!("controller")),
    );

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
        stacks: StackReads {
            snapshots: snapshots.clone(),
            status: status.clone(),
            runtime: runtime.clone(),
            list_cache: Default::default(),
        },
        commands: Arc::new(StackCommands {
            snapshots,
            status,
            runtime,
            memories,
            queue,
            planner,
            shutdown: shutdown.clone(),
        }),
        health: Health {
            registry: registry.clone(),
            readiness: readiness.clone(),
        },
        refresh: refresh_handle,
        webhook: WebhookGuard::new(config.webhook_secret.clone(), config.git_ref.clone()),
        metrics: metrics.clone(),
        events,
        api_token: ApiToken(config.api_token.clone()),
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

/// Keys from an informer's channel.
fn receive(rx: mpsc::UnboundedReceiver<String>) -> impl Stream<Item = String> {
    stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|key| (key, rx)) },
    )
}

/// Every stack in Git or on the host, every [`RESYNC_INTERVAL`].
fn resync(snapshots: SnapshotReader, runtime: RuntimeCache) -> impl Stream<Item = String> {
    let mut ticks = tokio::time::interval(RESYNC_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stream::unfold(ticks, |mut ticks| async move {
        ticks.tick().await;
        Some(((), ticks))
    })
    .skip(1)
    .flat_map(move |()| {
        let mut keys = runtime.stack_names();
        if let Some(snapshot) = snapshots.current() {
            keys.extend(snapshot.stacks.keys().cloned());
        }
        keys.sort();
        keys.dedup();
        stream::iter(keys)
    })
}

/// The Git source narrowed to the deploy folder: what the refresher reads.
struct DeployFolder {
    git: GitSource,
    deploy_dir: PathBuf,
}

impl refresh::DesiredSource for DeployFolder {
    type Error = crate::git::repository::GitError;

    fn fetch(
        &self,
        interrupt: &std::sync::atomic::AtomicBool,
    ) -> Result<refresh::Resolved, Self::Error> {
        self.git.fetch(interrupt).map(|f| refresh::Resolved {
            commit: f.commit,
            reference: f.reference,
        })
    }

    fn read_tree(&self, commit: &str) -> Result<crate::git::tree::FileTree, Self::Error> {
        self.git.read_tree(commit, &self.deploy_dir)
    }
}
