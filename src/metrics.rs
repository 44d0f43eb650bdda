//! The application's Prometheus series (the work queue and reconcile series live
//! in the `controller` crate). Every label value is initialised at start, so
//! dashboards show 0 rather than nothing.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Refresh triggers.
pub const TRIGGERS: [&str; 4] = ["startup", "poll", "webhook", "manual"];
/// Refresh outcomes.
pub const REFRESH_OUTCOMES: [&str; 2] = ["completed", "failed"];
/// Webhook providers (`unknown`: no recognised signature header).
pub const PROVIDERS: [&str; 5] = ["github", "gitea", "forgejo", "gitlab", "unknown"];
/// Webhook verdicts.
pub const WEBHOOK_OUTCOMES: [&str; 8] = [
    "accepted",
    "ignored",
    "pong",
    "unauthorized",
    "forbidden",
    "too_large",
    "rate_limited",
    "bad_request",
];
/// Docker container event actions that docker-cd reacts to (`other` for the rest).
pub const DOCKER_ACTIONS: [&str; 8] = [
    "create",
    "start",
    "die",
    "stop",
    "kill",
    "destroy",
    "health_status",
    "other",
];

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
        registry.register(Box::new(build_info))?;

        let stacks = IntGaugeVec::new(Opts::new("stacks", "Stacks by status"), &["status"])?;
        registry.register(Box::new(stacks.clone()))?;

        let refresh_total = IntCounterVec::new(
            Opts::new("refresh_total", "Git refreshes by trigger and outcome"),
            &["trigger", "outcome"],
        )?;
        for trigger in TRIGGERS {
            for outcome in REFRESH_OUTCOMES {
                refresh_total.with_label_values(&[trigger, outcome]).reset();
            }
        }
        registry.register(Box::new(refresh_total.clone()))?;

        let refresh_duration = Histogram::with_opts(
            HistogramOpts::new(
                "refresh_duration_seconds",
                "Duration of Git refreshes (fetch, read, discover)",
            )
            .buckets(REFRESH_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(refresh_duration.clone()))?;

        let webhook_requests = IntCounterVec::new(
            Opts::new(
                "webhook_requests_total",
                "Webhook requests by provider and verdict",
            ),
            &["provider", "outcome"],
        )?;
        for provider in PROVIDERS {
            for outcome in WEBHOOK_OUTCOMES {
                webhook_requests
                    .with_label_values(&[provider, outcome])
                    .reset();
            }
        }
        registry.register(Box::new(webhook_requests.clone()))?;

        let docker_events = IntCounterVec::new(
            Opts::new(
                "docker_events_total",
                "Docker container events about managed containers, by action",
            ),
            &["action"],
        )?;
        for action in DOCKER_ACTIONS {
            docker_events.with_label_values(&[action]).reset();
        }
        registry.register(Box::new(docker_events.clone()))?;

        let drift_corrections = IntCounter::new(
            "drift_corrections_total",
            "Reconciles that corrected runtime drift (containers stopped, removed or changed by hand)",
        )?;
        registry.register(Box::new(drift_corrections.clone()))?;

        Ok(Self {
            stacks,
            refresh_total,
            refresh_duration,
            webhook_requests,
            docker_events,
            drift_corrections,
        })
    }
}
