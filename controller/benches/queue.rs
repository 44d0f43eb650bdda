//! Work-queue throughput and hand-off latency; prints numbers (no pass/fail).
//!
//! `cargo bench -p controller --bench queue`

use std::sync::Arc;
use std::time::{Duration, Instant};

use controller::WorkQueue;
use tokio::sync::mpsc;

const KEYS: usize = 10_000;
const ADDS: usize = 10_000_000;
const HANDOFFS: usize = 20_000;

fn main() {
    deduplicated_adds();
    // Producer and worker on different threads: includes waking a parked thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(handoff_latency("multi-thread runtime (2 threads)"));
    // One thread: the queue's own cost (no OS wake-up).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(handoff_latency("current-thread runtime"));
}

/// Adds over 10k keys with heavy duplication: after the first pass every add is a duplicate.
fn deduplicated_adds() {
    let queue: WorkQueue<u64> = WorkQueue::new();
    let start = Instant::now();
    for i in 0..ADDS {
        queue.add((i % KEYS) as u64);
    }
    let elapsed = start.elapsed();
    assert_eq!(queue.len(), KEYS);
    println!(
        "dedup adds: {ADDS} adds over {KEYS} keys in {:.3} s = {:.2} M adds/s",
        elapsed.as_secs_f64(),
        ADDS as f64 / elapsed.as_secs_f64() / 1e6
    );
}

/// Time from `add` to the moment a waiting worker holds the key.
async fn handoff_latency(flavour: &str) {
    let queue: WorkQueue<u64> = WorkQueue::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Duration>();
    let sent = Arc::new(std::sync::Mutex::new(Instant::now()));
    let worker = tokio::spawn({
        let queue = queue.clone();
        let sent = sent.clone();
        async move {
            while let Some(key) = queue.get().await {
                let at = *sent.lock().expect("bench lock");
                let _ = tx.send(at.elapsed());
                queue.done(&key);
            }
        }
    });
    let mut samples = Vec::with_capacity(HANDOFFS);
    for i in 0..HANDOFFS {
        // Give the worker time to park in `get`, so this measures a real wake-up.
        tokio::time::sleep(Duration::from_micros(50)).await;
        *sent.lock().expect("bench lock") = Instant::now();
        queue.add(i as u64);
        samples.push(rx.recv().await.expect("worker alive"));
    }
    queue.shut_down();
    worker.await.expect("worker");
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "hand-off add->worker, {flavour}, {HANDOFFS} keys: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[samples.len() - 1]
    );
}
