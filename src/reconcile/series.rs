//! The health gate's Prometheus series, labelled from the reconciler's own
//! names (how a gate failed, its verdicts), every label value at 0 from the
//! start.

use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::history::GateFailure;
use crate::history::GateResult;
use crate::metrics::{counters, registered};

/// Health gate duration buckets: from a stack without healthchecks, ready as
/// compose returns, to the longest `HEALTH_TIMEOUT` worth a bucket.
const GATE_BUCKETS: [f64; 11] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Handles to the gate's series.
#[derive(Clone)]
pub struct GateSeries {
    /// `rollbacks_total{reason}`: automatic rollbacks started, by how the gate failed.
    pub rollbacks: IntCounterVec,
    /// `health_gate_duration_seconds{outcome}`: compose returned to the verdict.
    pub duration: HistogramVec,
    /// `stack_health{stack}`: the fraction of a stack's services ready.
    pub stack_health: GaugeVec,
}

impl GateSeries {
    /// Creates and registers the series.
    ///
    /// # Errors
    /// When a series with the same name is already registered.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let rollbacks = counters(
            registry,
            Opts::new(
                "rollbacks_total",
                "Automatic rollbacks started, by how the health gate failed",
            ),
            ["reason"],
            GateFailure::ALL.iter().map(|f| [f.as_str()]),
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "health_gate_duration_seconds",
                "Time from compose up returning to the health gate's verdict, by verdict",
            )
            .buckets(GATE_BUCKETS.to_vec()),
            &["outcome"],
        )?;
        for gate in GateResult::ALL {
            duration.with_label_values(&[gate.as_str()]);
        }
        let stack_health = GaugeVec::new(
            Opts::new(
                "stack_health",
                "Fraction of the stack's services whose containers run (healthy where checked), 0 to 1",
            ),
            &["stack"],
        )?;
        Ok(Self {
            rollbacks,
            duration: registered(registry, duration)?,
            stack_health: registered(registry, stack_health)?,
        })
    }
}
