//! The Git informer against a fake source: single-slot requests, snapshots, keys.

use tokio::sync::mpsc;

use super::*;
use crate::git::tree::FileTree;
use crate::stack::snapshot::SnapshotReader;
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

    fn fetch(&self, _interrupt: &AtomicBool) -> Result<Fetched, String> {
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
        Ok(Fetched {
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
    keys: mpsc::UnboundedReceiver<crate::stack::StackName>,
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
        keys: keys_tx.into(),
        handle: handle.clone(),
        metrics: AppMetrics::register(&registry).unwrap(),
        events: bus,
        secrets: Default::default(),
        readiness: Readiness::new(&[READY_CONDITION]),
        poll_interval: None,
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
        Some((Trigger::Startup, RefreshOutcome::Completed))
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
        (Trigger::Manual, RefreshOutcome::Failed)
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
        keys: keys.into(),
        handle: handle.clone(),
        metrics: AppMetrics::register(&registry).unwrap(),
        events: bus,
        secrets: Default::default(),
        readiness: Readiness::default(),
        poll_interval: Some(Duration::from_secs(30)),
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

#[tokio::test]
async fn spawning_initialises_every_trigger_and_outcome_series() {
    let runtime = Runtime::new(CancellationToken::new(), Default::default()).unwrap();
    let source = FakeSource::default();
    source.set("c1", &[]);
    let _handles = super::start(source, None, &runtime);
    let families = runtime.registry.gather();
    let refreshes = families
        .iter()
        .find(|f| f.name() == "dockercd_refresh_total")
        .expect("refresh_total");
    assert_eq!(
        refreshes.get_metric().len(),
        Trigger::ALL.len() * RefreshOutcome::ALL.len()
    );
    assert_eq!(runtime.readiness.waiting(), vec![READY_CONDITION]);
    runtime.shutdown.cancel();
}
