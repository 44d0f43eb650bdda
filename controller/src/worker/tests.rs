//! The worker loop on tokio's paused clock, with a scripted reconciler.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus::Registry;
use tokio::sync::mpsc;
use tokio_stream_shim::ReceiverStream;

use super::*;
use crate::queue::rate_limit::ItemExponential;
use crate::reconcile::Action;
use crate::request::Request;
use crate::request::testing::{Why, request};

/// The minimal `Stream` over an mpsc receiver the tests need (no tokio-stream dependency).
mod tokio_stream_shim {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::Stream;
    use tokio::sync::mpsc;

    pub struct ReceiverStream<T>(pub mpsc::UnboundedReceiver<T>);

    impl<T> Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Done(Option<Duration>),
    Fail {
        terminal: bool,
    },
    Panic,
    /// Takes this long, then succeeds.
    Work(Duration),
}

#[derive(Debug)]
struct Failed(bool);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted failure")
    }
}

impl ReconcileError for Failed {
    fn is_terminal(&self) -> bool {
        self.0
    }
    fn reason(&self) -> &'static str {
        "scripted"
    }
}

type Script = Box<dyn Fn(&str, usize) -> Step + Send + Sync>;

/// Records every call (key, paused-clock offset) and how many ran at once per key.
struct Recorder {
    script: Script,
    start: Instant,
    calls: Mutex<Vec<(String, Duration)>>,
    running: Mutex<HashMap<String, usize>>,
    overlaps: Mutex<usize>,
}

impl Recorder {
    fn new(script: impl Fn(&str, usize) -> Step + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            script: Box::new(script),
            start: Instant::now(),
            calls: Mutex::new(Vec::new()),
            running: Mutex::new(HashMap::new()),
            overlaps: Mutex::new(0),
        })
    }

    fn calls_of(&self, key: &str) -> Vec<Duration> {
        let calls = self.calls.lock().expect("calls");
        calls
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, at)| *at)
            .collect()
    }
}

impl Reconciler<String> for Recorder {
    type Error = Failed;

    async fn reconcile(&self, key: &String) -> Result<Action, Failed> {
        let n = {
            let mut calls = self.calls.lock().expect("calls");
            calls.push((key.clone(), self.start.elapsed()));
            calls.iter().filter(|(k, _)| k == key).count() - 1
        };
        {
            let mut running = self.running.lock().expect("running");
            let count = running.entry(key.clone()).or_insert(0);
            *count += 1;
            if *count > 1 {
                *self.overlaps.lock().expect("overlaps") += 1;
            }
        }
        let step = (self.script)(key, n);
        if let Step::Work(d) = step {
            tokio::time::sleep(d).await;
        }
        if let Some(count) = self.running.lock().expect("running").get_mut(key) {
            *count -= 1;
        }
        match step {
            Step::Done(None) | Step::Work(_) => Ok(Action::await_change()),
            Step::Done(Some(d)) => Ok(Action::requeue(d)),
            Step::Fail { terminal } => Err(Failed(terminal)),
            Step::Panic => panic!("scripted panic"),
        }
    }
}

struct Harness {
    keys: mpsc::UnboundedSender<String>,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
    metrics: ControllerMetrics,
}

fn start(recorder: &Arc<Recorder>, workers: usize) -> Harness {
    start_gated(recorder, workers, std::future::ready(()))
}

fn start_gated(
    recorder: &Arc<Recorder>,
    workers: usize,
    gate: impl Future<Output = ()> + Send + 'static,
) -> Harness {
    let (keys, rx) = mpsc::unbounded_channel();
    let registry = Registry::new();
    let metrics = ControllerMetrics::register(&registry).expect("metrics");
    let queue = WorkQueue::with_limiter(
        ItemExponential::new(Duration::from_secs(1), Duration::from_secs(300)),
        None,
    );
    let controller = Controller::new(queue, Config::default().concurrency(workers))
        .with_metrics(metrics.clone())
        .with_source(ReceiverStream(rx))
        .ready_when(gate);
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(controller.run(Arc::clone(recorder), shutdown.clone()));
    Harness {
        keys,
        shutdown,
        handle,
        metrics,
    }
}

impl Harness {
    fn add(&self, key: &str) {
        self.keys.send(key.to_string()).expect("controller running");
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("controller task");
    }

    fn result(&self, result: &str) -> u64 {
        self.metrics.total.with_label_values(&[result]).get()
    }
}

/// Lets spawned tasks run until the paused clock would have to move.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

fn secs(d: &[Duration]) -> Vec<u64> {
    d.iter().map(|d| d.as_secs()).collect()
}

#[tokio::test(start_paused = true)]
async fn success_runs_once_and_waits_for_a_change() {
    let r = Recorder::new(|_, _| Step::Done(None));
    let h = start(&r, 1);
    h.add("web");
    h.add("web");
    settle().await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(r.calls_of("web").len(), 1);
    assert_eq!(h.result("success"), 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn requeue_runs_again_after_the_delay() {
    let r = Recorder::new(|_, n| Step::Done((n < 2).then_some(Duration::from_secs(5))));
    let h = start(&r, 1);
    h.add("web");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(secs(&r.calls_of("web")), [0, 5, 10]);
    assert_eq!((h.result("requeue_after"), h.result("success")), (2, 1));
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_and_success_forgets() {
    // Fails four times, succeeds, then fails again: the backoff starts over.
    let r = Recorder::new(|_, n| {
        if n < 4 || n == 5 {
            Step::Fail { terminal: false }
        } else {
            Step::Done(None)
        }
    });
    let h = start(&r, 1);
    h.add("web");
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(secs(&r.calls_of("web")), [0, 1, 3, 7, 15]);
    h.add("web");
    tokio::time::sleep(Duration::from_secs(30)).await;
    let calls = secs(&r.calls_of("web"));
    assert_eq!(
        calls[5..],
        [30, 31],
        "after a success the next failure waits 1 s again"
    );
    assert_eq!(h.metrics.errors.with_label_values(&["scripted"]).get(), 5);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn terminal_error_is_not_retried_until_the_key_changes() {
    let r = Recorder::new(|_, _| Step::Fail { terminal: true });
    let h = start(&r, 1);
    h.add("broken");
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(r.calls_of("broken").len(), 1);
    assert_eq!(h.metrics.terminal_errors.get(), 1);
    h.add("broken");
    settle().await;
    assert_eq!(
        r.calls_of("broken").len(),
        2,
        "a change runs it again at once"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_reconcile_is_counted_retried_and_the_loop_survives() {
    let r = Recorder::new(|key, n| match (key, n) {
        ("bad", 0) => Step::Panic,
        _ => Step::Done(None),
    });
    let h = start(&r, 1);
    h.add("bad");
    h.add("good");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        secs(&r.calls_of("bad")),
        [0, 1],
        "retried after the backoff"
    );
    assert_eq!(r.calls_of("good").len(), 1, "other keys still run");
    assert_eq!(h.metrics.panics.get(), 1);
    assert_eq!(h.result("error"), 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn one_key_is_never_reconciled_twice_at_once() {
    let r = Recorder::new(|_, _| Step::Work(Duration::from_millis(100)));
    let h = start(&r, 4);
    for _ in 0..50 {
        for key in ["a", "b", "c"] {
            h.add(key);
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(*r.overlaps.lock().expect("overlaps"), 0);
    // Every burst during a run collapses into one more run: ~1500 ms / 100 ms each.
    let a = r.calls_of("a").len();
    assert!((10..=20).contains(&a), "a ran {a} times");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn workers_run_different_keys_in_parallel() {
    let r = Recorder::new(|_, _| Step::Work(Duration::from_secs(10)));
    let h = start(&r, 2);
    h.add("a");
    h.add("b");
    h.add("c");
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(r.calls_of("a"), [Duration::ZERO]);
    assert_eq!(
        r.calls_of("b"),
        [Duration::ZERO],
        "second worker took b at once"
    );
    assert_eq!(secs(&r.calls_of("c")), [10], "c waited for a free worker");
    assert_eq!(h.metrics.max_concurrent.get(), 2);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_the_running_reconcile_finish_and_starts_nothing_new() {
    let r = Recorder::new(|_, _| Step::Work(Duration::from_secs(20)));
    let h = start(&r, 1);
    h.add("a");
    h.add("b");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let shutdown = h.shutdown.clone();
    let metrics = h.metrics.clone();
    let stopping = tokio::spawn(h.stop());
    settle().await;
    assert!(shutdown.is_cancelled());
    assert!(!stopping.is_finished(), "a still running");
    stopping.await.expect("stopped");
    assert_eq!(r.calls_of("a").len(), 1);
    assert!(r.calls_of("b").is_empty(), "b was queued but not started");
    assert_eq!(
        metrics.total.with_label_values(&["success"]).get(),
        1,
        "a finished"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_runs_before_the_ready_gate_opens() {
    let (open, gate) = tokio::sync::oneshot::channel::<()>();
    let r = Recorder::new(|_, _| Step::Done(None));
    let h = start_gated(&r, 1, async move {
        let _ = gate.await;
    });
    h.add("web");
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(r.calls_of("web").is_empty());
    open.send(()).expect("gate");
    settle().await;
    assert_eq!(
        r.calls_of("web").len(),
        1,
        "the key queued while waiting runs"
    );
    h.stop().await;
}

/// Records the reason of each run; fails the first, asks for a requeue on the
/// second, and is done on the third.
struct Reasons(Mutex<Vec<String>>);

impl Reconciler<Request<String, Why>> for Reasons {
    type Error = Failed;

    async fn reconcile(&self, request: &Request<String, Why>) -> Result<Action, Failed> {
        let n = {
            let mut seen = self.0.lock().expect("reasons");
            seen.push(request.reason.0.clone());
            seen.len()
        };
        match n {
            1 => Err(Failed(false)),
            2 => Ok(Action::requeue(Duration::from_secs(5))),
            _ => Ok(Action::await_change()),
        }
    }
}

/// A retry and a requeue say what they follow, so the reconciler (and its
/// history) can tell a retry of a Git change from a new one.
#[tokio::test(start_paused = true)]
async fn retries_and_requeues_carry_the_reason_they_follow() {
    let (requests, rx) = mpsc::unbounded_channel();
    let queue = WorkQueue::with_limiter(
        ItemExponential::new(Duration::from_secs(1), Duration::from_secs(300)),
        None,
    );
    let controller = Controller::new(queue, Config::default()).with_source(ReceiverStream(rx));
    let reasons = Arc::new(Reasons(Mutex::new(Vec::new())));
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(controller.run(Arc::clone(&reasons), shutdown.clone()));
    requests
        .send(request("web", "git change"))
        .expect("controller running");
    tokio::time::sleep(Duration::from_secs(10)).await;
    shutdown.cancel();
    handle.await.expect("controller task");
    assert_eq!(
        *reasons.0.lock().expect("reasons"),
        [
            "git change",
            "retry of git change",
            "requeue after retry of git change"
        ]
    );
}
