//! What a gate's verdict and a rollback leave behind besides the status: the
//! gate and rollback series, an SSE event each, the verdict in the history.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use super::{Failure, StackReconciler};
use crate::docker::state::ContainerInfo;
use crate::events::Event;
use crate::history::{self, GateFailure, GateVerdict};
use crate::labels::Synced;
use crate::reconcile::decide::{self, Settled};
use crate::reconcile::executor::Executor;
use crate::reconcile::memory::HealthGate;
use crate::stack::DesiredStack;
use crate::stack::health::StackHealth;
use crate::status::LastResult;

impl<E: Executor> StackReconciler<E> {
    /// Records the verdict of the gate of an apply of `revision`: its
    /// duration, a `gate` event, and the apply's history entry.
    pub(super) async fn record_gate(&self, name: &str, revision: Option<String>, settled: Settled) {
        let (gate, reason, error) = match settled.failure {
            Some((failure, reason)) => (history::GateResult::Failed, Some(failure), Some(reason)),
            None => (history::GateResult::Passed, None, None),
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
    /// drift to revert, nor synced once its containers recover; rolled back
    /// only if it is not `in_sync` now), one that passed stays passed, and one
    /// still open (no verdict) whose compose returned less than `timeout`
    /// plus [`DOWNTIME`] ago goes on from that moment: its deadline may have
    /// passed while docker-cd was down. Read once per `stack_hash` while no
    /// gate of it is remembered. The entry must be of the apply the labels
    /// name: one killed before its entry was written leaves an older entry of
    /// the same `stack_hash`. Returns the newest entry, for the last result.
    pub(super) async fn recall_gate(
        &self,
        name: &str,
        applied: &Synced,
        in_sync: bool,
        timeout: Duration,
    ) -> Option<history::Entry> {
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
            return None;
        }
        let entries = self.history.list(name).await.ok()?;
        let newest = entries.first().cloned();
        let reverts = reverts_since_fresh_start(&entries, stack_hash);
        self.memories.with(name, |m| {
            decide::recall_reverts(m, &reverts, Instant::now())
        });
        let entry = entries.into_iter().find(|e| {
            e.stack_hash.as_deref() == Some(stack_hash) && e.action != history::Operation::Remove
        })?;
        if !of_the_apply(&entry.started_at, &applied.synced_at) {
            return newest;
        }
        let gate = match entry.gate {
            Some(history::GateResult::Passed) => HealthGate::Passed {
                stack_hash: stack_hash.to_string(),
            },
            Some(history::GateResult::Failed) => {
                let reason = entry.error.unwrap_or_else(|| "health gate failed".into());
                HealthGate::Failed {
                    stack_hash: stack_hash.to_string(),
                    // Records from before the kind was kept say only why.
                    failure: entry.gate_reason.unwrap_or(GateFailure::Exited),
                    reason,
                    opened: Instant::now(),
                    // Running well now: no rollback of what works.
                    rollback_tried: in_sync,
                }
            }
            // A drift revert keeps the labels of the apply it repairs; an old
            // entry without a verdict is from before verdicts were kept.
            None if entry.cause != history::Cause::Drift
                && entry.outcome == crate::status::Outcome::Success =>
            {
                let since = returned_ago(&entry).and_then(|ago| {
                    (ago < timeout + DOWNTIME).then(|| Instant::now().checked_sub(ago))?
                })?;
                HealthGate::Open {
                    stack_hash: stack_hash.to_string(),
                    since,
                    gated: true,
                }
            }
            None => return newest,
        };
        tracing::debug!(stack = name, ?gate, "gate recalled from the history");
        self.memories.with(name, |m| {
            if m.gate.as_ref().is_none_or(|g| g.stack_hash() != stack_hash) {
                m.gate = Some(gate);
            }
        });
        newest
    }

    /// After a restart the status has no last result, the history has: its
    /// newest entry's, ended when it started plus its duration.
    pub(super) fn recall_last_result(&self, name: &str, newest: &history::Entry) {
        let Some(ended) = ended_at(newest) else {
            return;
        };
        let recalled = LastResult {
            outcome: newest.outcome,
            at: ended.to_string(),
            error: newest.error.clone(),
        };
        self.status.update(name, |r| {
            r.last_result.get_or_insert(recalled);
        });
    }
}

/// The longest docker-cd may have been down for an apply's gate, still open
/// when it stopped, to go on after the restart; after a longer stop (a host
/// down for the night, an upgrade weeks after the apply) nothing is known of
/// what happened meanwhile, and the stack is judged as it is now.
const DOWNTIME: Duration = Duration::from_secs(600);

/// How long ago each drift revert of `stack_hash` started, newest first, back
/// to the stack's last fresh start: an apply of another cause, or an ack (a
/// granted revert, which counts itself).
fn reverts_since_fresh_start(entries: &[history::Entry], stack_hash: &str) -> Vec<Duration> {
    let mut ages = Vec::new();
    for entry in entries {
        let drift = entry.cause == history::Cause::Drift
            && entry.action == history::Operation::Apply
            && entry.stack_hash.as_deref() == Some(stack_hash);
        if !drift {
            break;
        }
        if let Ok(started) = entry.started_at.parse::<Timestamp>()
            && let Ok(age) = Duration::try_from(Timestamp::now().duration_since(started))
        {
            ages.push(age);
        }
        if entry.trigger == history::Trigger::Sync {
            break;
        }
    }
    ages
}

/// When `entry`'s compose returned (its gate opened).
fn ended_at(entry: &history::Entry) -> Option<Timestamp> {
    let started = entry.started_at.parse::<Timestamp>().ok()?;
    Some(started + SignedDuration::from_millis(i64::try_from(entry.duration_ms).ok()?))
}

/// How long ago `entry`'s gate opened.
fn returned_ago(entry: &history::Entry) -> Option<Duration> {
    Duration::try_from(Timestamp::now().duration_since(ended_at(entry)?)).ok()
}

/// Whether an entry that started at `started` is of the apply labelled
/// `synced_at` (written just before the run started; a little slack for clocks).
fn of_the_apply(started: &str, synced_at: &str) -> bool {
    match (started.parse::<Timestamp>(), synced_at.parse::<Timestamp>()) {
        (Ok(started), Ok(synced)) => started >= synced - SignedDuration::from_secs(5),
        _ => false,
    }
}
