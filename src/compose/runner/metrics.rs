//! `compose_runs_total` and `compose_duration_seconds`.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::metrics::{counters, pairs, registered};

/// The compose commands the runner runs (the `command` label).
const COMMANDS: [&str; 3] = ["up", "down", "config"];
/// The `outcome` of a run that exited 0.
const SUCCESS: &str = "success";
/// The `outcome` of any other run.
const FAILURE: &str = "failure";

/// Compose run counters and durations.
#[derive(Clone)]
pub struct ComposeMetrics {
    runs: IntCounterVec,
    duration: HistogramVec,
}

impl ComposeMetrics {
    /// Registers `compose_runs_total{command,outcome}` and `compose_duration_seconds{command}`.
    ///
    /// # Errors
    /// When the names are already registered.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let runs = counters(
            registry,
            Opts::new(
                "compose_runs_total",
                "Compose commands run, by command and outcome",
            ),
            ["command", "outcome"],
            pairs(&COMMANDS, &[SUCCESS, FAILURE]),
        )?;
        let duration = registered(
            registry,
            HistogramVec::new(
                HistogramOpts::new("compose_duration_seconds", "Duration of compose commands")
                    .buckets(vec![
                        0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
                    ]),
                &["command"],
            )?,
        )?;
        Ok(Self { runs, duration })
    }

    /// Counts one run of `command` and observes how long it took.
    pub(super) fn record(&self, command: &str, elapsed: Duration, success: bool) {
        self.duration
            .with_label_values(&[command])
            .observe(elapsed.as_secs_f64());
        let outcome = if success { SUCCESS } else { FAILURE };
        self.runs.with_label_values(&[command, outcome]).inc();
    }
}
