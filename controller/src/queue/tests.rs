//! Ports of client-go's `queue_test.go`, `delaying_queue_test.go`,
//! `rate_limiting_queue_test.go` and `metrics_test.go`, on tokio's paused clock.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;

use super::*;
use crate::queue::rate_limit::ItemExponential;

const MS: Duration = Duration::from_millis(1);

/// A queue whose limiter is a plain 1 ms exponential, so delays are predictable.
fn queue() -> WorkQueue<String> {
    WorkQueue::with_limiter(ItemExponential::new(MS, Duration::from_secs(1)), None)
}

fn key(s: &str) -> String {
    s.to_string()
}

/// `get` that must not block: the key is ready now.
async fn get_now(q: &WorkQueue<String>) -> Option<String> {
    tokio::time::timeout(Duration::ZERO, q.get())
        .await
        .unwrap_or_else(|_| panic!("get blocked; len {}", q.len()))
}

/// True when `get` would block.
async fn blocks(q: &WorkQueue<String>) -> bool {
    tokio::time::timeout(Duration::from_millis(1), q.get())
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn basic_every_key_is_processed_before_drain() {
    let q: WorkQueue<usize> = WorkQueue::new();
    let processed = Arc::new(Mutex::new(HashSet::new()));
    let mut consumers = Vec::new();
    for _ in 0..10 {
        let q = q.clone();
        let processed = processed.clone();
        consumers.push(tokio::spawn(async move {
            while let Some(k) = q.get().await {
                processed.lock().expect("test lock").insert(k);
                tokio::task::yield_now().await;
                q.done(&k);
            }
        }));
    }
    let mut producers = Vec::new();
    for p in 0..50 {
        let q = q.clone();
        producers.push(tokio::spawn(async move {
            for i in 0..50 {
                q.add(p * 50 + i);
                tokio::task::yield_now().await;
            }
        }));
    }
    for p in producers {
        p.await.expect("producer");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while processed.lock().expect("test lock").len() < 2500 {
        assert!(Instant::now() < deadline, "not everything was processed");
        tokio::task::yield_now().await;
    }
    q.shut_down_with_drain().await;
    for c in consumers {
        c.await.expect("consumer");
    }
    assert_eq!(processed.lock().expect("test lock").len(), 2500);
}

#[tokio::test(start_paused = true)]
async fn add_while_processing_runs_again_after_done() {
    let q = queue();
    q.add(key("a"));
    let a = get_now(&q).await.expect("a");
    q.add(key("a"));
    assert_eq!(q.len(), 0, "a re-added while processing is not handed out");
    assert!(
        blocks(&q).await,
        "nobody else may take a while it is processed"
    );
    q.done(&a);
    assert_eq!(q.len(), 1);
    assert_eq!(get_now(&q).await.as_deref(), Some("a"));
    q.done(&a);
    assert!(blocks(&q).await, "exactly one more run");
}

#[tokio::test(start_paused = true)]
async fn readd_while_processing_is_returned_after_done() {
    let q = queue();
    q.add(key("foo"));
    let foo = get_now(&q).await.expect("foo");
    q.add(key("bar"));
    q.add(key("foo"));
    q.done(&foo);
    // Back of the line: bar first.
    assert_eq!(get_now(&q).await.as_deref(), Some("bar"));
    assert_eq!(get_now(&q).await.as_deref(), Some("foo"));
}

#[tokio::test(start_paused = true)]
async fn duplicate_adds_collapse_into_one_run() {
    let q = queue();
    q.add(key("bar"));
    q.add(key("foo"));
    q.add(key("bar"));
    q.add(key("foo"));
    assert_eq!(q.len(), 2);
    assert_eq!(
        get_now(&q).await.as_deref(),
        Some("bar"),
        "order of first add"
    );
    assert_eq!(get_now(&q).await.as_deref(), Some("foo"));
    assert!(blocks(&q).await);
}

#[tokio::test(start_paused = true)]
async fn collapse_while_processing_blocks_a_second_worker_until_done() {
    let q = queue();
    q.add(key("bar"));
    let bar = get_now(&q).await.expect("bar");
    q.add(key("bar"));
    let second = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !second.is_finished(),
        "second worker got bar while it was processed"
    );
    q.done(&bar);
    assert_eq!(second.await.expect("join").as_deref(), Some("bar"));
}

#[tokio::test(start_paused = true)]
async fn len_counts_queued_keys_only() {
    let q = queue();
    assert!(q.is_empty());
    q.add(key("foo"));
    assert_eq!(q.len(), 1);
    q.add(key("bar"));
    assert_eq!(q.len(), 2);
    q.add(key("foo"));
    assert_eq!(q.len(), 2, "duplicate");
    let foo = get_now(&q).await.expect("foo");
    assert_eq!(q.len(), 1);
    q.add(foo.clone());
    assert_eq!(q.len(), 1, "dirty while processing is not counted");
    q.add_after(key("baz"), Duration::from_secs(1));
    assert_eq!(q.len(), 1, "waiting keys are not counted");
}

#[tokio::test(start_paused = true)]
async fn shut_down_with_drain_waits_for_processing_keys() {
    let q = queue();
    q.add(key("foo"));
    q.add(key("bar"));
    let foo = get_now(&q).await.expect("foo");
    let bar = get_now(&q).await.expect("bar");
    let drained = tokio::spawn({
        let q = q.clone();
        async move { q.shut_down_with_drain().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!drained.is_finished());
    assert_eq!(q.get().await, None, "no new work after shutdown");
    q.done(&foo);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!drained.is_finished(), "bar is still processing");
    q.done(&bar);
    drained
        .await
        .expect("drain returns once processing is empty");
}

#[tokio::test(start_paused = true)]
async fn shut_down_does_not_wait_and_hands_out_nothing_more() {
    let q = queue();
    q.add(key("foo"));
    q.add(key("bar"));
    let _foo = get_now(&q).await.expect("foo");
    q.shut_down();
    assert!(q.is_shutting_down());
    // client-go would still hand out "bar"; docker-cd starts nothing new.
    assert_eq!(q.get().await, None);
    q.add(key("baz"));
    assert_eq!(q.get().await, None, "adds after shutdown are ignored");
}

#[tokio::test(start_paused = true)]
async fn shut_down_wakes_a_blocked_getter() {
    let q = queue();
    let getter = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    q.shut_down();
    assert_eq!(getter.await.expect("join"), None);
}

#[tokio::test(start_paused = true)]
async fn force_shut_down_cuts_a_drain_short_even_with_a_dirty_key() {
    let q = queue();
    q.add(key("foo"));
    let foo = get_now(&q).await.expect("foo");
    q.add(foo.clone());
    let drained = tokio::spawn({
        let q = q.clone();
        async move { q.shut_down_with_drain().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!drained.is_finished());
    q.shut_down();
    drained.await.expect("forced shutdown ends the drain");
    q.done(&foo);
    assert_eq!(q.get().await, None);
}

#[tokio::test(start_paused = true)]
async fn add_after_hands_the_key_out_once_the_delay_passed() {
    let q = queue();
    q.add_after(key("foo"), 50 * MS);
    assert!(blocks(&q).await);
    tokio::time::advance(60 * MS).await;
    assert_eq!(q.len(), 1);
    assert_eq!(get_now(&q).await.as_deref(), Some("foo"));
}

#[tokio::test(start_paused = true)]
async fn a_getter_sleeping_wakes_when_the_delay_ends() {
    let q = queue();
    let getter = tokio::spawn({
        let q = q.clone();
        async move { (q.get().await, Instant::now()) }
    });
    let start = Instant::now();
    tokio::time::sleep(MS).await;
    q.add_after(key("foo"), Duration::from_secs(5));
    let (got, at) = getter.await.expect("join");
    assert_eq!(got.as_deref(), Some("foo"));
    assert_eq!(at.duration_since(start).as_secs(), 5);
}

#[tokio::test(start_paused = true)]
async fn waiting_key_deduplicates_and_the_earliest_time_wins() {
    let q = queue();
    q.add_after(key("foo"), 50 * MS);
    q.add_after(key("foo"), 70 * MS);
    tokio::time::advance(60 * MS).await;
    assert_eq!(get_now(&q).await.as_deref(), Some("foo"));
    q.done(&key("foo"));
    tokio::time::advance(20 * MS).await;
    assert!(blocks(&q).await, "the later request was merged, not kept");

    q.add_after(key("foo"), 70 * MS);
    q.add_after(key("foo"), 50 * MS);
    tokio::time::advance(60 * MS).await;
    assert_eq!(get_now(&q).await.as_deref(), Some("foo"), "moved earlier");
    q.done(&key("foo"));
    tokio::time::advance(20 * MS).await;
    assert!(blocks(&q).await);
}

#[tokio::test(start_paused = true)]
async fn two_delayed_keys_fire_in_ready_order() {
    let q = queue();
    q.add_after(key("foo"), Duration::from_secs(1));
    q.add_after(key("bar"), 50 * MS);
    q.add_after(key("baz"), 500 * MS);
    tokio::time::advance(60 * MS).await;
    assert_eq!(get_now(&q).await.as_deref(), Some("bar"));
    assert!(blocks(&q).await);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(get_now(&q).await.as_deref(), Some("baz"));
    assert_eq!(get_now(&q).await.as_deref(), Some("foo"));
}

#[tokio::test(start_paused = true)]
async fn plain_add_does_not_cancel_a_waiting_entry() {
    let q = queue();
    q.add_after(key("foo"), Duration::from_secs(1));
    q.add(key("foo"));
    let foo = get_now(&q).await.expect("foo at once");
    q.done(&foo);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(
        get_now(&q).await.as_deref(),
        Some("foo"),
        "the delayed entry still fires"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_drops_waiting_keys() {
    let q = queue();
    q.add_after(key("foo"), Duration::from_secs(1));
    q.shut_down();
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(q.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn rate_limited_adds_back_off_and_forget_resets() {
    let q = queue();
    q.add_rate_limited(key("one"));
    q.add_rate_limited(key("one"));
    assert_eq!(q.num_requeues(&key("one")), 2);
    tokio::time::advance(MS).await;
    assert_eq!(
        get_now(&q).await.as_deref(),
        Some("one"),
        "first failure: 1 ms"
    );
    q.done(&key("one"));
    // Third failure: 4 ms.
    q.add_rate_limited(key("one"));
    tokio::time::advance(2 * MS).await;
    assert!(blocks(&q).await, "3 ms after the third failure");
    tokio::time::advance(MS).await;
    assert_eq!(get_now(&q).await.as_deref(), Some("one"));
    q.done(&key("one"));
    q.forget(&key("one"));
    assert_eq!(q.num_requeues(&key("one")), 0);
    q.add_rate_limited(key("one"));
    tokio::time::advance(MS).await;
    assert_eq!(get_now(&q).await.as_deref(), Some("one"), "back to 1 ms");
}

#[tokio::test(start_paused = true)]
async fn metrics_follow_client_go_semantics() {
    let registry = Registry::new();
    let m = QueueMetrics::register(&registry).expect("register");
    let q: WorkQueue<String> = WorkQueue::with_limiter(
        ItemExponential::new(MS, Duration::from_secs(1)),
        Some(m.clone()),
    );
    q.add(key("foo"));
    assert_eq!((m.adds.get(), m.depth.get()), (1, 1));
    tokio::time::advance(Duration::from_micros(50)).await;
    let foo = get_now(&q).await.expect("foo");
    assert_eq!(m.depth.get(), 0);
    assert_eq!(m.queue_duration.get_sample_count(), 1);
    assert!((m.queue_duration.get_sample_sum() - 5e-5).abs() < 1e-9);
    for _ in 0..5 {
        q.add(key("foo"));
    }
    assert_eq!(
        (m.adds.get(), m.depth.get()),
        (2, 1),
        "one add while processing"
    );
    tokio::time::advance(Duration::from_micros(25)).await;
    q.done(&foo);
    assert!((m.work_duration.get_sample_sum() - 2.5e-5).abs() < 1e-9);
    assert_eq!(m.depth.get(), 1);
    let _ = get_now(&q).await.expect("foo again");
    assert!(
        (m.queue_duration.get_sample_sum() - 5e-5 - 2.5e-5).abs() < 1e-9,
        "latency measured from the re-add"
    );
    q.add_after(key("bar"), Duration::ZERO);
    q.add_after(key("bar"), MS);
    assert_eq!(m.retries.get(), 1, "only positive delays are retries");
}

/// What rides along with a key is not part of its identity: the first
/// request added wins while it waits, and a re-add while it is processed
/// brings its own request to the run after.
#[tokio::test(start_paused = true)]
async fn the_first_reason_wins_while_a_key_waits() {
    use crate::request::Request;
    use crate::request::testing::{Why, request};

    let q: WorkQueue<Request<String, Why>> =
        WorkQueue::with_limiter(ItemExponential::new(MS, Duration::from_secs(1)), None);
    let get = || async {
        tokio::time::timeout(Duration::ZERO, q.get())
            .await
            .ok()
            .flatten()
            .map(|r| r.reason.0)
    };
    q.add(request("a", "git"));
    q.add(request("a", "docker"));
    assert_eq!(q.len(), 1, "one key, whatever the reasons");
    assert_eq!(get().await.as_deref(), Some("git"));
    q.add(request("a", "api"));
    q.add(request("a", "resync"));
    q.done(&key("a"));
    assert_eq!(get().await.as_deref(), Some("api"));
    q.done(&key("a"));

    // A delayed key: the earliest entry, and its request, wins.
    q.add_after(request("b", "later"), Duration::from_secs(1));
    q.add_after(request("b", "sooner"), 10 * MS);
    q.add_after(request("b", "latest"), Duration::from_secs(2));
    tokio::time::advance(20 * MS).await;
    assert_eq!(get().await.as_deref(), Some("sooner"));
    q.done(&key("b"));
    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(get().await, None, "the later entries were dropped");
}
