//! What a gate's verdict and a rollback leave behind besides the status: the
//! gate and rollback series, an SSE event each, the verdict in the history.

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

use super::{Failure, StackReconciler};
use crate::docker::state::ContainerInfo;
use crate::events::Event;
use crate::history::{self, GateFailure, GateVerdict};
use crate::labels::Synced;
use crate::reconcile::decide::Settled;
use crate::reconcile::executor::Executor;
use crate::reconcile::memory::Gate;
use crate::stack::DesiredStack;
use crate::stack::health::StackHealth;
use crate::status::LastResult;

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
            failure: reason,
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

    /// Sets `dockercd_stack_health` of `name` from the `containers` of
    /// `desired` (what runs in Git's place during a rollback), counted as the
    /// API counts them; a stack no longer desired has no series, so none is
    /// left stale. An undeployable revision keeps the last value.
    pub(super) fn record_health(
        &self,
        name: &str,
        desired: Option<&DesiredStack>,
        containers: &[ContainerInfo],
    ) {
        let health = &self.gate_series.stack_health;
        match desired {
            Some(d) if d.error.is_none() => health
                .with_label_values(&[name])
                .set(StackHealth::of(Some(d), containers).fraction()),
            Some(_) => {}
            // Absent already is the common case for a stack gone from Git.
            None => {
                let _ = health.remove_label_values(&[name]);
            }
        }
    }

    /// After a restart nothing is remembered of a gate, the history is: the
    /// running apply of `stack_hash` whose gate failed stays failed (not a
    /// drift to revert, nor synced once its containers recover), one that
    /// passed stays passed, one still open goes on from the apply's time (its
    /// deadline may have passed while docker-cd was down). Read only while no
    /// gate of `stack_hash` is remembered, once per `stack_hash`. The
    /// entry must be of the apply the labels name: one killed before its
    /// entry was written leaves an older entry of the same `stack_hash`.
    pub(super) async fn recall_gate(&self, name: &str, applied: &Synced) {
        let stack_hash = applied.stack_hash.as_str();
        let known = self.memories.with(name, |m| {
            let known = m
                .gate
                .as_ref()
                .is_some_and(|g| g.stack_hash() == stack_hash)
                || m.recalled.as_deref() == Some(stack_hash);
            m.recalled = Some(stack_hash.to_string());
            known
        });
        if known {
            return;
        }
        let Ok(entries) = self.history.list(name).await else {
            return;
        };
        if let Some(newest) = entries.first() {
            self.recall_last_result(name, newest);
        }
        let Some(entry) = entries.into_iter().find(|e| {
            e.stack_hash.as_deref() == Some(stack_hash) && e.action != history::Action::Remove
        }) else {
            return;
        };
        if !of_the_apply(&entry.started_at, &applied.synced_at) {
            return;
        }
        let gate = match entry.gate {
            Some(history::Gate::Passed) => Gate::Passed {
                stack_hash: stack_hash.to_string(),
            },
            Some(history::Gate::Failed) => {
                let reason = entry.error.unwrap_or_else(|| "health gate failed".into());
                Gate::Failed {
                    stack_hash: stack_hash.to_string(),
                    // Records from before the kind was kept say only why.
                    failure: entry.gate_reason.unwrap_or(GateFailure::Exited),
                    reason,
                    opened: Instant::now(),
                    rollback_tried: false,
                }
            }
            // Open when docker-cd stopped: it goes on from the apply's time,
            // and may be past its deadline already. A drift revert keeps the
            // labels of the apply it repairs, so its own start is unknown.
            None if entry.cause != history::Cause::Drift
                && entry.outcome == crate::status::Outcome::Success =>
            {
                let Some(since) = applied
                    .age(Timestamp::now())
                    .and_then(|ago| Instant::now().checked_sub(ago))
                else {
                    return;
                };
                Gate::Open {
                    stack_hash: stack_hash.to_string(),
                    since,
                    gated: true,
                }
            }
            None => return,
        };
        tracing::debug!(stack = name, ?gate, "gate recalled from the history");
        self.memories.with(name, |m| {
            if m.gate.as_ref().is_none_or(|g| g.stack_hash() != stack_hash) {
                m.gate = Some(gate);
            }
        });
    }

    /// After a restart the status has no last result, the history has: its
    /// newest entry's, ended when it started plus its duration.
    fn recall_last_result(&self, name: &str, newest: &history::Entry) {
        let Ok(started) = newest.started_at.parse::<Timestamp>() else {
            return;
        };
        let took = SignedDuration::from_millis(i64::try_from(newest.duration_ms).unwrap_or(0));
        let recalled = LastResult {
            outcome: newest.outcome,
            at: (started + took).to_string(),
            error: newest.error.clone(),
        };
        self.status.update(name, |r| {
            r.last_result.get_or_insert(recalled);
        });
    }
}

/// Whether an entry that started at `started` is of the apply labelled
/// `synced_at` (written just before the run started; a little slack for clocks).
fn of_the_apply(started: &str, synced_at: &str) -> bool {
    match (started.parse::<Timestamp>(), synced_at.parse::<Timestamp>()) {
        (Ok(started), Ok(synced)) => started >= synced - SignedDuration::from_secs(5),
        _ => false,
    }
}
