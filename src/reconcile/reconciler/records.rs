//! What a gate's verdict and a rollback leave behind besides the status: the
//! gate and rollback series, an SSE event each, the verdict in the history.

use super::{Failure, StackReconciler};
use crate::events::Event;
use crate::history::{self, GateVerdict};
use crate::reconcile::assess::Assessment;
use crate::reconcile::decide::Settled;
use crate::reconcile::executor::Executor;

impl<E: Executor> StackReconciler<E> {
    /// Records the verdict of the gate of an apply of `revision`: its
    /// duration, a `gate` event, and the apply's history entry.
    pub(super) async fn record_gate(&self, name: &str, revision: Option<String>, settled: Settled) {
        let (gate, reason, error) = match settled.failure {
            Some((failure, reason)) => (history::Gate::Failed, Some(failure), Some(reason)),
            None => (history::Gate::Passed, None, None),
        };
        self.gate_series
            .duration
            .with_label_values(&[gate.as_str()])
            .observe(settled.took.as_secs_f64());
        self.events.publish(Event::Gate {
            name: name.to_string(),
            stack_hash: settled.stack_hash.clone(),
            revision,
            outcome: gate.as_str().to_string(),
            reason: reason.map(|r| r.as_str().to_string()),
            error: error.clone(),
            duration_ms: u64::try_from(settled.took.as_millis()).unwrap_or(u64::MAX),
        });
        let verdict = GateVerdict {
            stack_hash: settled.stack_hash,
            gate,
            error,
        };
        self.history.settle(name, verdict).await;
    }

    /// Records a rollback starting: from the `from_stack_hash` applied from
    /// commit `from`, to commit `to`, because its gate failed as `why` says
    /// (counted), or because an operator asked (`None`: reason `manual`).
    pub(super) fn record_rollback(
        &self,
        name: &str,
        from: Option<String>,
        from_stack_hash: &str,
        to: &str,
        why: Option<&Failure>,
    ) {
        if let Some(why) = why {
            self.gate_series
                .rollbacks
                .with_label_values(&[why.failure.as_str()])
                .inc();
        }
        self.events.publish(Event::Rollback {
            name: name.to_string(),
            from_revision: from,
            from_stack_hash: from_stack_hash.to_string(),
            to_revision: to.to_string(),
            reason: why.map_or("manual", |w| w.failure.as_str()).to_string(),
            error: why.map(|w| w.reason.clone()),
        });
    }

    /// Sets `dockercd_stack_health` of `name` from its latest `assessment`;
    /// a stack no longer `desired` has no series, so none is left stale. An
    /// undeployable revision (no assessment) keeps the last value.
    pub(super) fn record_health(&self, name: &str, desired: bool, assessment: Option<&Assessment>) {
        let health = &self.gate_series.stack_health;
        match assessment {
            Some(a) => health.with_label_values(&[name]).set(a.health()),
            // Absent already is the common case for a stack gone from Git.
            None if !desired => {
                let _ = health.remove_label_values(&[name]);
            }
            None => {}
        }
    }
}
