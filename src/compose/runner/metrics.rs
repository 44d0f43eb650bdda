//! `compose_runs_total` and `compose_duration_seconds`.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

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
        let runs = IntCounterVec::new(
            Opts::new(
                "compose_runs_total",
                "Compose commands run, by command and outcome",
            ),
            &["command", "outcome"],
        )?;
        for command in ["up", "down", "config"] {
            for outcome in ["success", "failure"] {
                runs.with_label_values(&[command, outcome]).reset();
            }
        }
        registry.register(Box::new(runs.clone()))?;
        let duration = HistogramVec::new(
            HistogramOpts::new("compose_duration_seconds", "Duration of compose commands").buckets(
                vec![
                    0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
                ],
            ),
            &["command"],
        )?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Self { runs, duration })
    }

    /// Counts one run of `command` and observes how long it took.
    pub(super) fn record(&self, command: &str, elapsed: Duration, success: bool) {
        self.duration
            .with_label_values(&[command])
            .observe(elapsed.as_secs_f64());
        let outcome = if success { "success" } else { "failure" };
        self.runs.with_label_values(&[command, outcome]).inc();
    }
}
