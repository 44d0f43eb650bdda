//! The refresh coordinator: one refresh runs, at most one waits.
//!
//! Triggers (startup, poll, webhook, manual) go through [`RefreshHandle::request`].
//! While a refresh runs, a new request takes the single waiting slot; a newer
//! request replaces the waiting one's trigger, so a burst of webhooks costs at
//! most one extra refresh and the last push is always applied.
//!
//! A refresh fetches, reads the deploy folder at the resolved commit, discovers
//! the stacks and publishes a new [`Snapshot`]; then it sends the key of every
//! stack whose desired record changed or vanished to the controller. A failed
//! refresh changes nothing but its own status.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::snapshot::{Snapshot, SnapshotStore};
use super::tree::FileTree;
use crate::events::{Event, EventBus};
use crate::metrics::AppMetrics;
use crate::readiness::Readiness;
use crate::stack::discover;

/// Longest a fetch (or the read of a tree) may take before it is interrupted: long
/// enough for a first clone of a large repository over a slow link, short enough
/// that a hung server cannot stall refreshes for good.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(600);

/// Readiness condition set once the first refresh finished, whatever its outcome.
pub const READY_CONDITION: &str = "git";

/// What a fetch resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Full commit id.
    pub commit: String,
    /// What `GIT_REF` resolved to (`refs/heads/main`, `refs/tags/v1`, or the commit).
    pub reference: String,
}

/// Where desired state comes from: the Git source, or a fake in unit tests.
/// Both methods block; the coordinator calls them on the blocking pool.
pub trait DesiredSource: Send + Sync + 'static {
    /// Why a fetch or read failed; its `Display` is shown to operators.
    type Error: fmt::Display + Send + 'static;

    /// Brings the remote's objects in and resolves the configured ref.
    fn fetch(&self, interrupt: &AtomicBool) -> Result<Resolved, Self::Error>;

    /// The deploy folder at `commit`.
    fn read_tree(&self, commit: &str) -> Result<FileTree, Self::Error>;
}

/// What asked for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The first refresh after start.
    Startup,
    /// `POLL_INTERVAL` elapsed.
    Poll,
    /// A signed push webhook.
    Webhook,
    /// `POST /api/refresh`.
    Manual,
}

impl Trigger {
    /// The metric label and log value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Startup => "startup",
            Self::Poll => "poll",
            Self::Webhook => "webhook",
            Self::Manual => "manual",
        }
    }
}

/// The answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requested {
    /// Nothing was running: this request's refresh starts now.
    Refreshing,
    /// A refresh is running: this request waits in the single slot.
    Queued,
}

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Fetched, read and published.
    Completed,
    /// Nothing changed; `error` says why.
    Failed,
}

/// The record of the last finished refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRefresh {
    /// What asked for it.
    pub trigger: Trigger,
    /// How it ended.
    pub outcome: Outcome,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// `GET /api/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshStatus {
    /// `idle` or `refreshing`.
    pub state: &'static str,
    /// Whether a refresh waits behind the running one.
    pub queued: bool,
    /// Revision of the current snapshot.
    pub revision: Option<String>,
    /// The last finished refresh.
    pub last: Option<LastRefresh>,
}

#[derive(Debug, Default)]
struct State {
    /// The refresh running (or about to start); `None` when idle.
    current: Option<Trigger>,
    /// The single waiting slot; only ever `Some` while `current` is.
    queued: Option<Trigger>,
    last: Option<LastRefresh>,
    revision: Option<String>,
    reference: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Notify,
}

/// Cheap handle for asking for refreshes and reading their status.
#[derive(Debug, Clone, Default)]
pub struct RefreshHandle {
    shared: Arc<Shared>,
}

impl RefreshHandle {
    /// A handle with nothing running.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for a refresh: starts one when idle, else takes (or replaces) the waiting slot.
    pub fn request(&self, trigger: Trigger) -> Requested {
        let mut state = self.state();
        if state.current.is_none() {
            state.current = Some(trigger);
            drop(state);
            self.shared.wake.notify_one();
            Requested::Refreshing
        } else {
            state.queued = Some(trigger);
            Requested::Queued
        }
    }

    /// The status for `GET /api/refresh`.
    pub fn status(&self) -> RefreshStatus {
        let state = self.state();
        RefreshStatus {
            state: if state.current.is_some() {
                "refreshing"
            } else {
                "idle"
            },
            queued: state.queued.is_some(),
            revision: state.revision.clone(),
            last: state.last.clone(),
        }
    }

    /// What `GIT_REF` resolved to at the last successful fetch.
    pub fn resolved_reference(&self) -> Option<String> {
        self.state().reference.clone()
    }

    /// Waits for the next trigger to run.
    async fn next(&self) -> Trigger {
        loop {
            let notified = self.shared.wake.notified();
            if let Some(trigger) = self.state().current {
                return trigger;
            }
            notified.await;
        }
    }

    /// Records the end of the running refresh and promotes the waiting one.
    fn finish(&self, record: LastRefresh, resolved: Option<&Resolved>) {
        let mut state = self.state();
        state.last = Some(record);
        if let Some(resolved) = resolved {
            state.revision = Some(resolved.commit.clone());
            state.reference = Some(resolved.reference.clone());
        }
        state.current = state.queued.take();
    }
}

/// Runs refreshes one at a time.
pub struct Refresher<S: DesiredSource> {
    /// Where desired state comes from.
    pub source: Arc<S>,
    /// Snapshot writer.
    pub store: SnapshotStore,
    /// Keys of stacks whose desired record changed.
    pub keys: mpsc::UnboundedSender<String>,
    /// Request handle shared with the API.
    pub handle: RefreshHandle,
    /// Series to update.
    pub metrics: AppMetrics,
    /// SSE events.
    pub events: EventBus,
    /// `/readyz` conditions.
    pub readiness: Readiness,
    /// `POLL_INTERVAL`; `None` turns polling off.
    pub poll_interval: Option<Duration>,
    /// Label for logs: the deploy folder inside the repository.
    pub deploy_dir: PathBuf,
}

impl<S: DesiredSource> Refresher<S> {
    /// Refreshes at start, on every request and every poll interval, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
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
                (Outcome::Completed, None, Some(resolved))
            }
            Err(error) => {
                tracing::error!(error = %error, elapsed_ms = elapsed.as_millis() as u64, "refresh failed; the last good snapshot stays");
                (Outcome::Failed, Some(error), None)
            }
        };
        let outcome_label = match outcome {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
        };
        self.metrics
            .refresh_total
            .with_label_values(&[trigger.as_str(), outcome_label])
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
            outcome: outcome_label.to_string(),
            revision: self.store.current().map(|s| s.revision.clone()),
            error,
        });
    }

    /// Fetches, and publishes a new snapshot; returns what was resolved and how
    /// many stack keys were sent.
    async fn fetch_and_publish(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<(Resolved, usize), String> {
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
        tracing::debug!(stacks = snapshot.stacks.len(), deploy_dir = %self.deploy_dir.display(), "snapshot read");
        self.store.publish(Arc::new(snapshot));
        let count = changed.len();
        for key in changed {
            // The controller is gone only during shutdown; nothing to wake then.
            let _ = self.keys.send(key);
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
mod tests {
    use super::*;
    use crate::git::snapshot::SnapshotReader;
    use std::sync::Mutex as StdMutex;

    /// A desired source whose commits and trees the test sets, and whose fetch
    /// can be held to observe the single-slot queue.
    #[derive(Default)]
    struct FakeSource {
        commit: StdMutex<String>,
        trees: StdMutex<std::collections::HashMap<String, FileTree>>,
        fail: StdMutex<Option<String>>,
        gate: StdMutex<Option<std::sync::mpsc::Receiver<()>>>,
        entered: StdMutex<Option<mpsc::UnboundedSender<()>>>,
        fetches: std::sync::atomic::AtomicUsize,
    }

    impl FakeSource {
        fn set(&self, commit: &str, files: &[(&str, &str)]) {
            let mut tree = FileTree::new();
            for (p, d) in files {
                tree.insert_file(*p, d.as_bytes());
            }
            self.trees.lock().unwrap().insert(commit.into(), tree);
            *self.commit.lock().unwrap() = commit.into();
        }
    }

    impl DesiredSource for FakeSource {
        type Error = String;

        fn fetch(&self, _interrupt: &AtomicBool) -> Result<Resolved, String> {
            if let Some(entered) = self.entered.lock().unwrap().as_ref() {
                let _ = entered.send(());
            }
            if let Some(gate) = self.gate.lock().unwrap().as_ref() {
                let _ = gate.recv();
            }
            self.fetches.fetch_add(1, Ordering::SeqCst);
            if let Some(why) = self.fail.lock().unwrap().clone() {
                return Err(why);
            }
            Ok(Resolved {
                commit: self.commit.lock().unwrap().clone(),
                reference: "refs/heads/main".into(),
            })
        }

        fn read_tree(&self, commit: &str) -> Result<FileTree, String> {
            self.trees
                .lock()
                .unwrap()
                .get(commit)
                .cloned()
                .ok_or_else(|| "no such commit".to_string())
        }
    }

    struct Harness {
        source: Arc<FakeSource>,
        handle: RefreshHandle,
        reader: SnapshotReader,
        keys: mpsc::UnboundedReceiver<String>,
        events: tokio::sync::broadcast::Receiver<Event>,
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    const C: &str = "services:\n  a:\n    image: x\n";

    fn start(source: FakeSource) -> Harness {
        let source = Arc::new(source);
        let (store, reader) = SnapshotStore::new();
        let (keys_tx, keys) = mpsc::unbounded_channel();
        let handle = RefreshHandle::new();
        let bus = EventBus::new();
        let events = bus.subscribe();
        let registry = prometheus::Registry::new();
        let refresher = Refresher {
            source: source.clone(),
            store,
            keys: keys_tx,
            handle: handle.clone(),
            metrics: AppMetrics::register(&registry).unwrap(),
            events: bus,
            readiness: Readiness::new(&[READY_CONDITION]),
            poll_interval: None,
            deploy_dir: PathBuf::from("stacks"),
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(refresher.run(shutdown.clone()));
        Harness {
            source,
            handle,
            reader,
            keys,
            events,
            shutdown,
            task,
        }
    }

    async fn next_refresh(events: &mut tokio::sync::broadcast::Receiver<Event>) -> Event {
        loop {
            let event = events.recv().await.expect("event");
            if matches!(event, Event::Refresh { .. }) {
                return event;
            }
        }
    }

    #[tokio::test]
    async fn startup_refresh_publishes_a_snapshot_and_wakes_every_stack() {
        let source = FakeSource::default();
        source.set("c1", &[("a/compose.yaml", C), ("b/compose.yaml", C)]);
        let mut h = start(source);
        next_refresh(&mut h.events).await;
        let snapshot = h.reader.current().expect("snapshot");
        assert_eq!(snapshot.revision, "c1");
        assert_eq!(h.keys.recv().await.as_deref(), Some("a"));
        assert_eq!(h.keys.recv().await.as_deref(), Some("b"));
        let status = h.handle.status();
        assert_eq!((status.state, status.queued), ("idle", false));
        assert_eq!(
            status.last.map(|l| (l.trigger, l.outcome)),
            Some((Trigger::Startup, Outcome::Completed))
        );
        h.shutdown.cancel();
        h.task.await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_last_good_snapshot() {
        let source = FakeSource::default();
        source.set("c1", &[("a/compose.yaml", C)]);
        let mut h = start(source);
        next_refresh(&mut h.events).await;
        *h.source.fail.lock().unwrap() = Some("remote unreachable".into());
        h.handle.request(Trigger::Manual);
        match next_refresh(&mut h.events).await {
            Event::Refresh { outcome, error, .. } => {
                assert_eq!(outcome, "failed");
                assert_eq!(error.as_deref(), Some("remote unreachable"));
            }
            other => panic!("{other:?}"),
        }
        let snapshot = h.reader.current().expect("kept");
        assert_eq!(
            (snapshot.revision.as_str(), snapshot.stacks.len()),
            ("c1", 1)
        );
        let last = h.handle.status().last.expect("last");
        assert_eq!(
            (last.trigger, last.outcome),
            (Trigger::Manual, Outcome::Failed)
        );
        h.shutdown.cancel();
    }

    #[tokio::test]
    async fn requests_during_a_refresh_collapse_into_one_waiting_with_the_newest_trigger() {
        let source = FakeSource::default();
        source.set("c1", &[("a/compose.yaml", C)]);
        let (open, gate) = std::sync::mpsc::channel();
        *source.gate.lock().unwrap() = Some(gate);
        let (entered_tx, mut entered) = mpsc::unbounded_channel();
        *source.entered.lock().unwrap() = Some(entered_tx);
        let mut h = start(source);
        entered
            .recv()
            .await
            .expect("the startup refresh is now held inside fetch");
        assert_eq!(h.handle.request(Trigger::Webhook), Requested::Queued);
        assert_eq!(h.handle.request(Trigger::Poll), Requested::Queued);
        assert_eq!(h.handle.request(Trigger::Manual), Requested::Queued);
        let status = h.handle.status();
        assert_eq!((status.state, status.queued), ("refreshing", true));
        open.send(()).unwrap();
        open.send(()).unwrap();
        let first = next_refresh(&mut h.events).await;
        let second = next_refresh(&mut h.events).await;
        assert!(matches!(first, Event::Refresh { ref trigger, .. } if trigger == "startup"));
        assert!(
            matches!(second, Event::Refresh { ref trigger, .. } if trigger == "manual"),
            "the newest request replaces the waiting one: {second:?}"
        );
        assert_eq!(
            h.source.fetches.load(Ordering::SeqCst),
            2,
            "three requests, one extra refresh"
        );
        assert!(!h.handle.status().queued);
        h.shutdown.cancel();
    }

    #[tokio::test]
    async fn a_new_commit_wakes_only_changed_stacks_and_same_commit_wakes_none() {
        let source = FakeSource::default();
        source.set("c1", &[("a/compose.yaml", C), ("b/compose.yaml", C)]);
        let mut h = start(source);
        next_refresh(&mut h.events).await;
        for _ in 0..2 {
            h.keys.recv().await;
        }
        h.handle.request(Trigger::Poll);
        next_refresh(&mut h.events).await;
        assert!(h.keys.try_recv().is_err(), "no change, no key");

        h.source.set(
            "c2",
            &[
                ("a/compose.yaml", C),
                ("b/compose.yaml", C),
                ("b/.env", "X=1"),
            ],
        );
        h.handle.request(Trigger::Webhook);
        next_refresh(&mut h.events).await;
        assert_eq!(h.keys.recv().await.as_deref(), Some("b"));
        assert!(h.keys.try_recv().is_err());
        assert_eq!(
            h.reader.current().map(|s| s.revision.clone()).as_deref(),
            Some("c2")
        );
        h.shutdown.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn polling_asks_for_a_refresh_every_interval() {
        let source = Arc::new(FakeSource::default());
        source.set("c1", &[]);
        let (store, _reader) = SnapshotStore::new();
        let (keys, _rx) = mpsc::unbounded_channel();
        let handle = RefreshHandle::new();
        let bus = EventBus::new();
        let mut events = bus.subscribe();
        let registry = prometheus::Registry::new();
        let refresher = Refresher {
            source: source.clone(),
            store,
            keys,
            handle: handle.clone(),
            metrics: AppMetrics::register(&registry).unwrap(),
            events: bus,
            readiness: Readiness::default(),
            poll_interval: Some(Duration::from_secs(30)),
            deploy_dir: PathBuf::new(),
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(refresher.run(shutdown.clone()));
        next_refresh(&mut events).await;
        tokio::time::advance(Duration::from_secs(30)).await;
        match next_refresh(&mut events).await {
            Event::Refresh { trigger, .. } => assert_eq!(trigger, "poll"),
            other => panic!("{other:?}"),
        }
        shutdown.cancel();
    }
}
