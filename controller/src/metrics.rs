//! The `reconcile_*` series (controller-runtime's names without its prefix).

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Result label values of `reconcile_total`.
pub const RESULTS: [&str; 3] = ["success", "requeue_after", "error"];

/// Reconcile metrics; cheap to clone.
#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    /// Reconciles by `result`.
    pub total: IntCounterVec,
    /// Time of one reconcile.
    pub duration: Histogram,
    /// Failed reconciles by `reason`.
    pub errors: IntCounterVec,
    /// Failures that will not be retried until the input changes.
    pub terminal_errors: IntCounter,
    /// Reconciles that panicked (and were retried).
    pub panics: IntCounter,
    /// Reconciles running now.
    pub active_workers: IntGauge,
    /// Configured worker count.
    pub max_concurrent: IntGauge,
}

impl ControllerMetrics {
    /// Creates the series and registers them on `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        // controller-runtime's buckets, extended: a compose run that pulls images
        // can take minutes.
        let buckets = vec![
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0,
            300.0, 600.0,
        ];
        let metrics = Self {
            total: IntCounterVec::new(
                Opts::new("reconcile_total", "Reconciles by result."),
                &["result"],
            )?,
            duration: Histogram::with_opts(
                HistogramOpts::new("reconcile_duration_seconds", "Time of one reconcile.")
                    .buckets(buckets),
            )?,
            errors: IntCounterVec::new(
                Opts::new("reconcile_errors_total", "Failed reconciles by reason."),
                &["reason"],
            )?,
            terminal_errors: IntCounter::new(
                "reconcile_terminal_errors_total",
                "Failed reconciles not retried until their input changes.",
            )?,
            panics: IntCounter::new("reconcile_panics_total", "Reconciles that panicked.")?,
            active_workers: IntGauge::new("reconcile_active_workers", "Reconciles running now.")?,
            max_concurrent: IntGauge::new(
                "reconcile_max_concurrent",
                "Most reconciles allowed to run at once.",
            )?,
        };
        for result in RESULTS {
            metrics.total.with_label_values(&[result]);
        }
        registry.register(Box::new(metrics.total.clone()))?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.errors.clone()))?;
        registry.register(Box::new(metrics.terminal_errors.clone()))?;
        registry.register(Box::new(metrics.panics.clone()))?;
        registry.register(Box::new(metrics.active_workers.clone()))?;
        registry.register(Box::new(metrics.max_concurrent.clone()))?;
        Ok(metrics)
    }
}
