//! The application's Prometheus series (the work queue and reconcile series live
//! in the `controller` crate). Every label value is initialised at start, so
//! dashboards show 0 rather than nothing: by the component that owns the names
//! (the informers, the webhook handler, the status table), from its enums.

use prometheus::core::Collector;
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry,
};

use crate::history::Gate;
use crate::reconcile::memory::GateFailure;

/// Refresh duration buckets: a no-change fetch takes milliseconds, a clone of a
/// big repository over a slow link can take minutes.
const REFRESH_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
];

/// Health gate duration buckets: from a stack without healthchecks, ready as
/// compose returns, to the longest `HEALTH_TIMEOUT` worth a bucket.
const GATE_BUCKETS: [f64; 11] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Handles to every application series.
#[derive(Clone)]
pub struct AppMetrics {
    /// `stacks{status}`: number of stacks per status.
    pub stacks: IntGaugeVec,
    /// `refresh_total{trigger,outcome}`.
    pub refresh_total: IntCounterVec,
    /// `refresh_duration_seconds`.
    pub refresh_duration: Histogram,
    /// `webhook_requests_total{provider,outcome}`.
    pub webhook_requests: IntCounterVec,
    /// `docker_events_total{action}`.
    pub docker_events: IntCounterVec,
    /// `drift_corrections_total`.
    pub drift_corrections: IntCounter,
    /// `rollbacks_total{reason}`: rollbacks started, by how the gate failed.
    pub rollbacks: IntCounterVec,
    /// `health_gate_duration_seconds{outcome}`: compose returned to the verdict.
    pub health_gate_duration: HistogramVec,
    /// `stack_health{stack}`: the fraction of a stack's services ready.
    pub stack_health: GaugeVec,
}

impl AppMetrics {
    /// Creates and registers every series, including `build_info`.
    ///
    /// # Errors
    /// When a series with the same name is already registered.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let build_info = IntGaugeVec::new(
            Opts::new(
                "build_info",
                "docker-cd build information; the value is always 1",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registered(registry, build_info)?;

        Ok(Self {
            stacks: registered(
                registry,
                IntGaugeVec::new(Opts::new("stacks", "Stacks by status"), &["status"])?,
            )?,
            refresh_total: registered(
                registry,
                IntCounterVec::new(
                    Opts::new("refresh_total", "Git refreshes by trigger and outcome"),
                    &["trigger", "outcome"],
                )?,
            )?,
            refresh_duration: registered(
                registry,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "refresh_duration_seconds",
                        "Duration of Git refreshes (fetch, read, discover)",
                    )
                    .buckets(REFRESH_BUCKETS.to_vec()),
                )?,
            )?,
            webhook_requests: registered(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "webhook_requests_total",
                        "Webhook requests by provider and verdict",
                    ),
                    &["provider", "outcome"],
                )?,
            )?,
            docker_events: registered(
                registry,
                IntCounterVec::new(
                    Opts::new(
                        "docker_events_total",
                        "Docker container events about managed containers, by action",
                    ),
                    &["action"],
                )?,
            )?,
            drift_corrections: registered(
                registry,
                IntCounter::new(
                    "drift_corrections_total",
                    "Reconciles that corrected runtime drift (containers stopped, removed or changed by hand)",
                )?,
            )?,
            rollbacks: counters(
                registry,
                Opts::new(
                    "rollbacks_total",
                    "Automatic rollbacks started, by how the health gate failed",
                ),
                ["reason"],
                GateFailure::ALL.iter().map(|f| [f.as_str()]),
            )?,
            health_gate_duration: gate_histogram(registry)?,
            stack_health: registered(
                registry,
                GaugeVec::new(
                    Opts::new(
                        "stack_health",
                        "Fraction of the stack's services whose containers run (healthy where checked), 0 to 1",
                    ),
                    &["stack"],
                )?,
            )?,
        })
    }
}

/// `health_gate_duration_seconds{outcome}`, both outcomes at 0.
fn gate_histogram(registry: &Registry) -> Result<HistogramVec, prometheus::Error> {
    let histogram = HistogramVec::new(
        HistogramOpts::new(
            "health_gate_duration_seconds",
            "Time from compose up returning to the health gate's verdict, by verdict",
        )
        .buckets(GATE_BUCKETS.to_vec()),
        &["outcome"],
    )?;
    for gate in Gate::ALL {
        histogram.with_label_values(&[gate.as_str()]);
    }
    registered(registry, histogram)
}

/// Registers `collector` and hands it back.
///
/// # Errors
/// When the name is already registered.
pub fn registered<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> Result<C, prometheus::Error> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

/// A registered counter with `labels`, each of `initial` label sets at 0.
///
/// # Errors
/// When the name is already registered or the labels do not fit.
pub fn counters<'a, const N: usize>(
    registry: &Registry,
    opts: Opts,
    labels: [&str; N],
    initial: impl IntoIterator<Item = [&'a str; N]>,
) -> Result<IntCounterVec, prometheus::Error> {
    let counter = IntCounterVec::new(opts, &labels)?;
    for values in initial {
        counter.with_label_values(&values).reset();
    }
    registered(registry, counter)
}

/// Every pair of one of `first` and one of `second`.
pub fn pairs<'a>(first: &[&'a str], second: &[&'a str]) -> Vec<[&'a str; 2]> {
    first
        .iter()
        .flat_map(|a| second.iter().map(move |b| [*a, *b]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_is_one_and_pairs_cover_every_combination() {
        let registry = Registry::new();
        AppMetrics::register(&registry).expect("register");
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .expect("text");
        assert!(text.contains("build_info{version="), "{text}");
        assert_eq!(
            pairs(&["a", "b"], &["x", "y"]),
            [["a", "x"], ["a", "y"], ["b", "x"], ["b", "y"]]
        );
    }
}
