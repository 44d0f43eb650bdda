//! The application's Prometheus series (the work queue and reconcile series live
//! in the `controller` crate). Every label value is initialised at start, so
//! dashboards show 0 rather than nothing: by the component that owns the names
//! (the informers, the webhook handler, the status table), from its enums; the
//! health gate's series are the reconciler's (`reconcile::series`).

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Refresh duration buckets: a no-change fetch takes milliseconds, a clone of a
/// big repository over a slow link can take minutes.
const REFRESH_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 120.0,
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
        })
    }
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
