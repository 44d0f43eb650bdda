//! One reconcile pass of one stack. It reads its inputs once ([`observe`]:
//! the Git snapshot, the runtime cache, the labels) and takes the stack's
//! memory once; [`decide()`] picks the step; the step runs through the
//! [`Executor`] ([`apply`], [`rollback`]); the pass ends in one [`Report`],
//! written in one place ([`report`]), and the memory is put back once.
//!
//! A no-op pass reads two in-memory caches and runs nothing. Only a changed
//! `stack_hash`, missing or stopped containers, or outdated labels lead to a
//! compose run, and every run is confirmed through the Docker API.

use std::time::Instant;

use controller::{Action, Reconciler};
use tracing::Instrument as _;

use super::ReconcileError;
use super::assess::Divergence;
use super::decide::{Rules, Step, decide};
use super::executor::Executor;
use super::memory::{Memories, Memory, StackGuard};
use super::reason::{StackRequest, Trigger};
use super::series::GateSeries;
use crate::docker::state::RuntimeCache;
use crate::events::EventBus;
use crate::history::History;
use crate::labels::Synced;
use crate::metrics::AppMetrics;
use crate::stack::revisions::Revisions;
use crate::stack::snapshot::SnapshotReader;
use crate::status::{Status, StatusTable};
use crate::transitions::Transitions;

mod apply;
mod observe;
mod report;
mod rollback;

use apply::{ChangeKind, ROLLBACK_DELAY, decide_action};
use observe::Seen;
pub(crate) use report::Report;
use report::{Recorder, StatusChange};
use rollback::{Failure, Rollback};

/// What a [`StackReconciler`] is built from.
pub struct Parts<E> {
    /// `INSTANCE_NAME`, written into every label set.
    pub instance: String,
    /// What may be done without asking.
    pub rules: Rules,
    /// Desired state: the Git snapshots.
    pub snapshots: SnapshotReader,
    /// Actual state: the Docker informer's cache.
    pub runtime: RuntimeCache,
    /// Compose and Docker.
    pub executor: E,
    /// The status records the reconciler owns.
    pub status: StatusTable,
    /// Per-stack memory, shared with the commands of the API.
    pub memories: Memories,
    /// The application's series (drift corrections).
    pub metrics: AppMetrics,
    /// The health gate's series.
    pub gate_series: GateSeries,
    /// Where gate verdicts and rollbacks are announced.
    pub events: EventBus,
    /// Where the stacks' transitions go (notifications, commit statuses).
    pub transitions: Transitions,
    /// Every apply and removal, per stack.
    pub history: History,
    /// Past revisions, for rollbacks.
    pub revisions: Revisions,
}

/// The reconciler of every stack.
pub struct StackReconciler<E> {
    instance: String,
    rules: Rules,
    snapshots: SnapshotReader,
    runtime: RuntimeCache,
    revisions: Revisions,
    executor: E,
    memories: Memories,
    records: Recorder,
}

impl<E: Executor> StackReconciler<E> {
    /// A reconciler of these parts.
    pub fn new(parts: Parts<E>) -> Self {
        let Parts {
            instance,
            rules,
            snapshots,
            runtime,
            executor,
            status,
            memories,
            metrics,
            gate_series,
            events,
            transitions,
            history,
            revisions,
        } = parts;
        Self {
            instance,
            rules,
            snapshots,
            runtime,
            revisions,
            executor,
            memories,
            records: Recorder::new(status, history, metrics, gate_series, events, transitions),
        }
    }
}

impl<E: Executor> Reconciler<StackRequest> for StackReconciler<E> {
    type Error = ReconcileError;

    async fn reconcile(&self, request: &StackRequest) -> Result<Action, ReconcileError> {
        let (name, queued) = (&request.key, request.reason.trigger);
        let asked = self.memories.take_request(name);
        let span = tracing::info_span!("stack", stack = %name, revision = tracing::field::Empty);
        let (lock, reply, rollback_to) = match asked {
            Some(r) => (Some(r.guard), Some(r.reply), r.rollback_to),
            None => (None, None, None),
        };
        let before = self.records.status_of(name);
        let mut checkout = self.memories.checkout(name);
        let memory = &mut checkout.memory;
        let report = async {
            match (lock, rollback_to) {
                (Some(lock), Some(revision)) => self.hold(name, &revision, lock, memory).await,
                (lock, _) => self.pass(name, lock, queued, memory).await,
            }
        }
        .instrument(span.clone())
        .await
        .unwrap_or_else(|error| Report::next(Err(error)));
        self.memories.commit(name, checkout);
        self.records
            .write(name, &report, before)
            .instrument(span)
            .await;
        if let Some(reply) = reply {
            let answer = report
                .next
                .as_ref()
                .map(|_| ())
                .map_err(ToString::to_string);
            let _ = reply.send(answer);
        }
        report.next
    }
}

impl<E: Executor> StackReconciler<E> {
    /// One pass; `lock` is the lock of an apply asked through the API,
    /// `queued` who queued the key.
    async fn pass(
        &self,
        name: &str,
        lock: Option<StackGuard>,
        queued: Trigger,
        memory: &mut Memory,
    ) -> Result<Report, ReconcileError> {
        let requested = lock.is_some();
        let seen = match self.observe(name, requested, memory).await {
            Ok(seen) => seen,
            Err(report) => return Ok(report),
        };
        let recalled = self.recall(name, &seen, memory).await;
        let before = memory.gate.clone();
        let now = Instant::now();
        let step = decide(seen.observation(), requested, self.rules, memory, now);
        let verdict = memory.gate.verdict_since(&before, now).map(|settled| {
            let revision = (seen.observed.as_ref())
                .filter(|o| o.stack_hash == settled.stack_hash)
                .map(|o| o.revision.clone());
            (settled, revision)
        });
        let mut report = self.act(step, name, &seen, queued, (lock, memory)).await?;
        report.verdict = report.verdict.or(verdict);
        report.health = report.health.or_else(|| seen.health());
        report.recalled = recalled;
        Ok(report)
    }

    /// Runs the step `decide` chose for what the pass `seen`.
    async fn act(
        &self,
        step: Step,
        name: &str,
        seen: &Seen,
        queued: Trigger,
        (lock, memory): (Option<StackGuard>, &mut Memory),
    ) -> Result<Report, ReconcileError> {
        match step {
            Step::RollBack {
                revision,
                failure,
                reason,
            } => {
                let Some(failed) = seen.wanted.as_deref() else {
                    return Ok(Report::next(Ok(Action::await_change())));
                };
                let from = seen.observed.as_ref().map(|o| o.revision.clone());
                let why = Failure { failure, reason };
                let rollback = Rollback {
                    revision: &revision,
                    failure: Some(&why),
                };
                self.roll_back(failed, from, rollback, lock, memory).await
            }
            Step::Apply { cause, detail } => {
                let kind = ChangeKind::Apply(queued);
                (self.apply_desired(seen, cause, &detail, kind, (lock, memory))).await
            }
            Step::Retry { try_number, error } => {
                let detail = format!("try {try_number} after compose up failed: {error}");
                let (cause, kind) = (Divergence::Desired, ChangeKind::Retry);
                (self.apply_desired(seen, cause, &detail, kind, (lock, memory))).await
            }
            Step::Remove => self.remove(seen, name, queued, (lock, memory)).await,
            step => Ok(reported(step, seen.observed.clone())),
        }
    }
}

/// The report of a step that runs nothing (`observed`: the running apply's labels).
fn reported(step: Step, observed: Option<Synced>) -> Report {
    let failed = |error: String, repeated: bool, synced: Option<Synced>| StatusChange::Failed {
        error,
        repeated,
        synced,
    };
    match step {
        Step::Report {
            status,
            error,
            wait,
        } => {
            log_report(status, error.as_deref());
            let change = StatusChange::Seen {
                status,
                error,
                synced: observed,
            };
            Report::with(Ok(decide_action(wait)), change)
        }
        Step::Invalid(error) => {
            let change = failed(error.clone(), true, observed);
            Report::with(Err(ReconcileError::Invalid(error)), change)
        }
        Step::GiveUp(error) => {
            tracing::warn!(%error, "crash loop");
            Report::with(Ok(Action::await_change()), failed(error, false, None))
        }
        Step::GateFailed {
            reason, rolls_back, ..
        } => {
            tracing::warn!(message = %reason, "health gate failed");
            let change = if rolls_back {
                StatusChange::RollingBack { reason }
            } else {
                failed(reason, false, None)
            };
            Report::with(Ok(Action::requeue(ROLLBACK_DELAY)), change)
        }
        Step::Forget => Report::with(Ok(Action::await_change()), StatusChange::Forgotten),
        Step::RollBack { .. } | Step::Apply { .. } | Step::Retry { .. } | Step::Remove => {
            unreachable!("steps with effects are run by act")
        }
    }
}

/// Logs a status that needs an operator's eye.
fn log_report(status: Status, error: Option<&str>) {
    match (status, error) {
        (Status::Failed, Some(error)) => tracing::warn!(%error, "stack not ready"),
        (Status::Drifted, Some(detail)) => {
            tracing::info!(%detail, "drift left alone until acknowledged or synced");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
