//! The Git informer: polls and webhook requests become refreshes, refreshes
//! become snapshots, and changed snapshots become stack keys.
//!
//! A refresh fetches, reads the deploy folder at the resolved commit, discovers
//! the stacks and publishes a new [`Snapshot`]; then it sends the key of every
//! stack whose desired record changed or vanished to the controller. A failed
//! refresh changes nothing but its own status. Requests are queued by
//! [`RefreshHandle`]: one refresh runs, at most one waits.

mod args;
mod requests;
mod source;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

pub use args::GitArgs;
pub use requests::{LastRefresh, RefreshHandle, RefreshOutcome, RefreshStatus, Requested, Trigger};
pub use source::{DeployFolder, DesiredSource};

use super::{KeySender, Keys};
use crate::events::{Event, EventBus};
use crate::git::commits::Commits;
use crate::git::forge::Forge;
use crate::git::repository::{Fetched, GitSource};
use crate::metrics::AppMetrics;
use crate::readiness::Readiness;
use crate::redact::SecretBook;
use crate::runtime::Runtime;
use crate::stack::discover;
use crate::stack::revisions::Revisions;
use crate::stack::snapshot::{Snapshot, SnapshotReader, SnapshotStore};

/// Longest a fetch (or the read of a tree) may take before it is interrupted: long
/// enough for a first clone of a large repository over a slow link, short enough
/// that a hung server cannot stall refreshes for good.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// Readiness condition set once the first refresh finished, whatever its outcome.
pub const READY_CONDITION: &str = "git";

/// What the Git informer hands out.
pub struct Handles {
    /// The desired state: the latest snapshot.
    pub snapshots: SnapshotReader,
    /// Asks for refreshes and reports on them (the API's side).
    pub refresh: RefreshHandle,
    /// Keys of stacks whose desired record changed.
    pub keys: Keys,
    /// The deploy folder at past commits (rollbacks).
    pub revisions: Revisions,
    /// Subject, author and time of commits (the API).
    pub commits: Commits,
}

/// Starts refreshing the deploy folder of the repository (mirrored under
/// `data_dir/git`) at start, on request and every poll interval.
pub fn spawn(args: &GitArgs, data_dir: &Path, runtime: &Runtime) -> Handles {
    let folder = || DeployFolder {
        git: GitSource::new(args.source_settings(), data_dir.join("git")),
        deploy_dir: args.deploy_path(),
    };
    // A second reader of the same mirror: reads need no lock against fetches.
    let past = folder();
    let revisions = Revisions::new(Arc::new(move |commit: &str| {
        past.read_tree(commit).map_err(|e| e.to_string())
    }));
    // A third: what the API shows of a commit.
    let described = folder();
    let commits = Commits::new(
        Arc::new(move |ids: &[String]| {
            described
                .git
                .read_commits(ids)
                .into_iter()
                .map(Result::ok)
                .collect()
        }),
        Forge::of(&args.repo_url),
    );
    Handles {
        revisions,
        commits,
        ..start(folder(), args.poll(), runtime)
    }
}

/// Starts refreshing from `source`.
fn start<S: DesiredSource>(
    source: S,
    poll_interval: Option<Duration>,
    runtime: &Runtime,
) -> Handles {
    for trigger in Trigger::ALL {
        for outcome in RefreshOutcome::ALL {
            runtime
                .metrics
                .refresh_total
                .with_label_values(&[trigger.as_str(), outcome.as_str()])
                .reset();
        }
    }
    runtime.readiness.set(READY_CONDITION, false);
    let (store, snapshots) = SnapshotStore::new();
    let (keys_tx, keys) = super::keys();
    let refresh = RefreshHandle::new();
    let refresher = Refresher {
        source: Arc::new(source),
        store,
        keys: keys_tx,
        handle: refresh.clone(),
        metrics: runtime.metrics.clone(),
        events: runtime.events.clone(),
        secrets: runtime.secrets.clone(),
        readiness: runtime.readiness.clone(),
        poll_interval,
    };
    let shutdown = runtime.shutdown.clone();
    runtime.spawn(tracing::info_span!("git"), refresher.run(shutdown));
    Handles {
        snapshots,
        refresh,
        keys,
        revisions: Revisions::default(),
        commits: Commits::default(),
    }
}

/// Runs refreshes one at a time.
struct Refresher<S: DesiredSource> {
    source: Arc<S>,
    /// The snapshot store's only writer.
    store: SnapshotStore,
    /// Keys of stacks whose desired record changed.
    keys: KeySender,
    /// Request handle shared with the API.
    handle: RefreshHandle,
    metrics: AppMetrics,
    events: EventBus,
    /// Learns every stack's secret values before anything shows the snapshot.
    secrets: SecretBook,
    readiness: Readiness,
    /// `POLL_INTERVAL`; `None` turns polling off.
    poll_interval: Option<Duration>,
}

impl<S: DesiredSource> Refresher<S> {
    /// Refreshes at start, on every request and every poll interval, until `shutdown`.
    async fn run(self, shutdown: CancellationToken) {
        self.handle.request(Trigger::Startup);
        if let Some(interval) = self.poll_interval {
            let handle = self.handle.clone();
            let poll_shutdown = shutdown.clone();
            tokio::spawn(
                async move {
                    let mut ticker = tokio::time::interval(interval);
                    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    ticker.tick().await; // the first tick is immediate; startup already asked
                    loop {
                        tokio::select! {
                            biased;
                            // Shutdown: stop asking.
                            () = poll_shutdown.cancelled() => break,
                            // Interval elapsed: ask; a running refresh makes this one wait.
                            _ = ticker.tick() => { handle.request(Trigger::Poll); }
                        }
                    }
                }
                .instrument(tracing::info_span!("poll")),
            );
        }
        loop {
            let trigger = tokio::select! {
                biased;
                // Shutdown: no new refresh starts.
                () = shutdown.cancelled() => break,
                // A request is waiting: run it.
                trigger = self.handle.next() => trigger,
            };
            self.refresh(trigger, &shutdown)
                .instrument(tracing::info_span!("refresh", trigger = trigger.as_str()))
                .await;
        }
    }

    async fn refresh(&self, trigger: Trigger, shutdown: &CancellationToken) {
        let started_at = Timestamp::now();
        let clock = Instant::now();
        let result = self.fetch_and_publish(shutdown).await;
        let elapsed = clock.elapsed();
        self.metrics.refresh_duration.observe(elapsed.as_secs_f64());
        let (outcome, error, resolved) = match result {
            Ok((resolved, changed)) => {
                tracing::info!(
                    revision = %resolved.commit,
                    reference = %resolved.reference,
                    changed,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "refresh completed"
                );
                (RefreshOutcome::Completed, None, Some(resolved))
            }
            Err(error) => {
                tracing::error!(error = %error, elapsed_ms = elapsed.as_millis() as u64, "refresh failed; the last good snapshot stays");
                (RefreshOutcome::Failed, Some(error), None)
            }
        };
        self.metrics
            .refresh_total
            .with_label_values(&[trigger.as_str(), outcome.as_str()])
            .inc();
        self.handle.finish(
            LastRefresh {
                trigger,
                outcome,
                started_at: started_at.to_string(),
                finished_at: Timestamp::now().to_string(),
                error: error.clone(),
            },
            resolved.as_ref(),
        );
        self.readiness.set(READY_CONDITION, true);
        self.events.publish(Event::Refresh {
            trigger: trigger.as_str().to_string(),
            outcome: outcome.to_string(),
            revision: self.store.current().map(|s| s.revision.clone()),
            error,
        });
    }

    /// Fetches, and publishes a new snapshot; returns what was resolved and how
    /// many stack keys were sent.
    async fn fetch_and_publish(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<(Fetched, usize), String> {
        let interrupt = Arc::new(AtomicBool::new(false));
        let source = self.source.clone();
        let flag = interrupt.clone();
        let fetch =
            tokio::task::spawn_blocking(move || source.fetch(&flag).map_err(|e| e.to_string()));
        let resolved = self.bounded(fetch, &interrupt, shutdown).await?;

        let previous = self.store.current();
        if let Some(previous) = previous.as_ref().filter(|p| p.revision == resolved.commit) {
            // Same commit: the desired state cannot have changed; confirm it.
            let mut confirmed = Snapshot::clone(previous);
            confirmed.refreshed_at = Timestamp::now();
            confirmed.reference.clone_from(&resolved.reference);
            self.store.publish(Arc::new(confirmed));
            return Ok((resolved, 0));
        }

        let source = self.source.clone();
        let commit = resolved.commit.clone();
        let read = tokio::task::spawn_blocking(move || {
            source
                .read_tree(&commit)
                .map(|tree| discover(&tree))
                .map_err(|e| e.to_string())
        });
        let stacks = self.bounded(read, &interrupt, shutdown).await?;
        for stack in stacks.values() {
            self.secrets.learn(&stack.name, &stack.secrets);
        }
        for stack in stacks.values().filter(|s| s.error.is_some()) {
            tracing::warn!(stack = %stack.name, path = %stack.path, error = stack.error.as_deref().unwrap_or_default(), "stack cannot be deployed at this revision");
        }
        let snapshot = Snapshot {
            revision: resolved.commit.clone(),
            reference: resolved.reference.clone(),
            refreshed_at: Timestamp::now(),
            stacks,
        };
        let changed = snapshot.changed_keys(previous.as_deref());
        tracing::debug!(stacks = snapshot.stacks.len(), "snapshot read");
        self.store.publish(Arc::new(snapshot));
        let count = changed.len();
        for key in changed {
            self.keys.send(key);
        }
        Ok((resolved, count))
    }

    /// Awaits blocking Git work, interrupting it on timeout or shutdown.
    async fn bounded<T>(
        &self,
        task: tokio::task::JoinHandle<Result<T, String>>,
        interrupt: &AtomicBool,
        shutdown: &CancellationToken,
    ) -> Result<T, String> {
        let mut task = task;
        tokio::select! {
            joined = &mut task => joined.map_err(|e| format!("git task failed: {e}"))?,
            () = tokio::time::sleep(FETCH_TIMEOUT) => {
                interrupt.store(true, Ordering::Relaxed);
                Err(format!("git did not answer within {}s", FETCH_TIMEOUT.as_secs()))
            }
            () = shutdown.cancelled() => {
                interrupt.store(true, Ordering::Relaxed);
                Err("interrupted by shutdown".to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests;
