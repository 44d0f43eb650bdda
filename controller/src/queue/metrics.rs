//! The `workqueue_*` series (client-go / controller-runtime names and semantics).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

/// Queue metrics; cheap to clone (the series are shared).
#[derive(Clone, Debug)]
pub struct QueueMetrics {
    /// Keys waiting to be handed out (dirty keys, including those re-added while processing).
    pub depth: IntGauge,
    /// Adds that were not deduplicated.
    pub adds: IntCounter,
    /// Delayed or rate-limited re-adds with a positive delay.
    pub retries: IntCounter,
    /// Time from a key's first (non-deduplicated) add to its hand-out.
    pub queue_duration: Histogram,
    /// Time from hand-out to `done`.
    pub work_duration: Histogram,
}

/// 1e-8 s … 1e3 s, as client-go: hand-offs take microseconds, compose runs minutes.
fn buckets() -> Vec<f64> {
    (0..12).map(|i| 1e-8 * 10f64.powi(i)).collect()
}

impl QueueMetrics {
    /// Creates the series and registers them on `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            depth: IntGauge::new("workqueue_depth", "Keys waiting in the work queue.")?,
            adds: IntCounter::new(
                "workqueue_adds_total",
                "Keys added to the work queue (duplicates excluded).",
            )?,
            retries: IntCounter::new(
                "workqueue_retries_total",
                "Delayed re-adds (requeues and failure backoff).",
            )?,
            queue_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "workqueue_queue_duration_seconds",
                    "Time a key waits in the queue before a worker takes it.",
                )
                .buckets(buckets()),
            )?,
            work_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "workqueue_work_duration_seconds",
                    "Time a worker spends on a key.",
                )
                .buckets(buckets()),
            )?,
        };
        registry.register(Box::new(metrics.depth.clone()))?;
        registry.register(Box::new(metrics.adds.clone()))?;
        registry.register(Box::new(metrics.retries.clone()))?;
        registry.register(Box::new(metrics.queue_duration.clone()))?;
        registry.register(Box::new(metrics.work_duration.clone()))?;
        Ok(metrics)
    }
}
