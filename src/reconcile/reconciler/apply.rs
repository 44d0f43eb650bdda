//! The effects of a pass: `compose up` of a change under the stack's lock and
//! how it ended, and `compose down` of a stack that left Git.

use std::time::{Duration, Instant};

use controller::Action;
use jiff::Timestamp;

use super::StackReconciler;
use super::observe::Seen;
use super::report::{HealthChange, Report, StatusChange};
use crate::docker::state::ContainerInfo;
use crate::history::{self, Operation, Run};
use crate::labels::{self, StackLabels, Synced};
use crate::reconcile::ReconcileError;
use crate::reconcile::assess::{Divergence, assess};
use crate::reconcile::decide::{self, Wait};
use crate::reconcile::executor::Executor;
use crate::reconcile::gate::{Applied, Settled};
use crate::reconcile::memory::{Memory, StackGuard};
use crate::reconcile::origin::origin;
use crate::reconcile::reason::Trigger;
use crate::stack::DesiredStack;
use crate::stack::snapshot::Snapshot;
use crate::status::Status;

/// Retry delay while another session holds the stack's lock.
pub(super) const LOCKED_RETRY: Duration = Duration::from_secs(1);

/// How soon a drift revert looks again when Docker's list still says running
/// what its `die` event said stopped.
pub(super) const ENGINE_LAG: Duration = Duration::from_millis(250);

/// How soon after a failed gate the stack is looked at again (to roll back).
pub(super) const ROLLBACK_DELAY: Duration = Duration::from_millis(100);

/// How soon an apply that ended synced is looked at once more. Docker sends a
/// container's `die` event before its state says it stopped: a revert started
/// by that event can find compose leaving the container alone and the list
/// after it saying it runs, while no later event will tell otherwise.
pub(super) const VERIFY_AFTER: Duration = Duration::from_secs(2);

/// One `compose up`: the stack, why, and the labels it writes.
pub(super) struct Change<'a> {
    pub(super) desired: &'a DesiredStack,
    pub(super) cause: Divergence,
    /// What differs, for the log.
    pub(super) detail: &'a str,
    pub(super) labels: &'a StackLabels,
    /// An apply of the desired revision, or a rollback.
    pub(super) kind: ChangeKind,
}

/// What a `compose up` is, for the gate and the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChangeKind {
    /// The desired revision, in a pass the key was queued for by `Trigger`.
    Apply(Trigger),
    /// The last good revision, after a failed health gate.
    AutomaticRollback,
    /// A revision an operator asked for (held until Git or a sync moves on).
    OperatorRollback,
    /// The desired revision again, after its `compose up` failed.
    Retry,
}

impl<E: Executor> StackReconciler<E> {
    /// Applies the desired stack the pass `seen`, under `lock` if an
    /// operator's apply holds it, else under the lock it takes.
    pub(super) async fn apply_desired(
        &self,
        seen: &Seen,
        cause: Divergence,
        detail: &str,
        kind: ChangeKind,
        (lock, memory): (Option<StackGuard>, &mut Memory),
    ) -> Result<Report, ReconcileError> {
        let Some(desired) = seen.desired.as_deref() else {
            return Ok(Report::next(Ok(Action::await_change())));
        };
        let name = desired.name.as_str();
        if cause == Divergence::Drift && !self.executor.stops_listed(name, &seen.containers).await?
        {
            tracing::debug!(
                stack = name,
                "Docker's list does not say stopped yet; looking again before a revert"
            );
            return Ok(Report::next(Ok(Action::requeue(ENGINE_LAG))));
        }
        let labels = self.labels_for(&seen.snapshot, desired, cause, seen.applied.clone(), memory);
        let change = Change {
            desired,
            cause,
            detail,
            labels: &labels,
            kind,
        };
        let requested = lock.is_some();
        let Some(lock) = lock.or_else(|| self.memories.try_lock(name)) else {
            tracing::debug!(
                stack = name,
                "stack is being applied by another session; retrying"
            );
            return Ok(Report::next(Ok(Action::requeue(LOCKED_RETRY))));
        };
        self.executor.connected()?;
        self.run(change, lock, requested, memory).await
    }

    /// Runs `change` under the stack's lock (`requested`: asked through the API).
    pub(super) async fn run(
        &self,
        change: Change<'_>,
        _lock: StackGuard,
        requested: bool,
        memory: &mut Memory,
    ) -> Result<Report, ReconcileError> {
        let Change {
            desired,
            cause,
            detail,
            labels,
            kind,
        } = change;
        let name = desired.name.as_str();
        let run = self.history_run(&change, requested, memory.granted);
        let now = Instant::now();
        let gated = if kind == ChangeKind::AutomaticRollback {
            decide::begin_rollback(memory, now);
            true
        } else {
            decide::begin(Some(cause), memory, now) || requested
        };
        tracing::info!(stack = name, cause = ?cause, %detail, "applying stack");
        self.records.started(name, run, Status::Syncing);
        let mut report = match self.executor.up(desired, labels).await {
            // Refused before compose ran: failed until Git changes the files.
            Err(ReconcileError::Invalid(why)) => {
                tracing::warn!(stack = name, error = %why, "stack refused");
                let failed = StatusChange::Failed {
                    error: why.clone(),
                    repeated: false,
                    synced: None,
                };
                Report::with(Err(ReconcileError::Invalid(why)), failed)
            }
            // Tried again with backoff; what it left is not drift.
            Err(error) => {
                let (hash, text) = (&desired.stack_hash, error.to_string());
                decide::up_failed(memory, hash, &text, Instant::now());
                Report::next(Err(error))
            }
            Ok(fresh) => self.ended(&change, &fresh, gated, memory),
        };
        report.applied = Some(labels.synced.revision.clone());
        Ok(report)
    }

    /// The report of `change`, whose compose returned leaving `fresh`; its
    /// gate opens, or reaches its verdict at once.
    fn ended(
        &self,
        change: &Change<'_>,
        fresh: &[ContainerInfo],
        gated: bool,
        memory: &mut Memory,
    ) -> Report {
        let desired = change.desired;
        let name = desired.name.as_str();
        let (applied, verdict) = judge(desired, &change.labels.synced, fresh, gated, memory);
        let mut report = match applied {
            Applied::NotConverged(reason) if self.rolls_back(change, gated, memory) => {
                tracing::warn!(stack = name, message = %reason, "health gate failed");
                let next = Ok(Action::requeue(ROLLBACK_DELAY));
                Report::with(next, StatusChange::RollingBack { reason })
            }
            Applied::NotConverged(message) => {
                Report::next(Err(ReconcileError::NotConverged(message)))
            }
            Applied::Synced | Applied::Settling => {
                let settled = applied == Applied::Synced;
                if settled {
                    tracing::info!(stack = name, "stack synced");
                } else {
                    tracing::info!(
                        stack = name,
                        "stack applied; waiting for it to become ready"
                    );
                }
                // Health events wake it before the gate's deadline.
                let wait = if settled {
                    VERIFY_AFTER
                } else {
                    desired.health_timeout.unwrap_or(self.rules.health_timeout)
                };
                let synced = labels::last_synced(fresh.iter().map(|c| &c.labels));
                let mut report = Report::with(
                    Ok(decide_action(Wait::Poll(wait))),
                    StatusChange::Applied { settled, synced },
                );
                report.drift_corrected = change.cause == Divergence::Drift;
                report
            }
        };
        report.verdict = verdict;
        report.health = Some(HealthChange::of(desired, fresh));
        report
    }

    /// The history entry `change` starts: a rollback as such, an apply by its
    /// cause and whoever asked (`granted`: read before the apply uses it up).
    fn history_run(&self, change: &Change<'_>, requested: bool, granted: bool) -> Run {
        let (origin, operation) = match change.kind {
            ChangeKind::OperatorRollback => (
                (history::Cause::Manual, history::Trigger::Api),
                Operation::Rollback,
            ),
            ChangeKind::AutomaticRollback => (
                (history::Cause::Rollback, history::Trigger::HealthGate),
                Operation::Rollback,
            ),
            ChangeKind::Retry => (
                (history::Cause::Git, history::Trigger::Retry),
                Operation::Apply,
            ),
            ChangeKind::Apply(queued) => (
                origin(Some(change.cause), requested, granted, queued),
                Operation::Apply,
            ),
        };
        Run::start(operation, origin, Some(&change.labels.synced))
    }

    /// The labels an apply writes. Re-applying what already runs (drift) keeps
    /// those of that apply: compose recreates every container whose labels change.
    fn labels_for(
        &self,
        snapshot: &Snapshot,
        desired: &DesiredStack,
        cause: Divergence,
        applied: Option<Synced>,
        memory: &Memory,
    ) -> StackLabels {
        let synced = match applied {
            Some(a) if cause == Divergence::Drift && a.stack_hash == desired.stack_hash => a,
            previous => Synced {
                revision: snapshot.revision.clone(),
                compose_hash: desired.compose_hash.clone(),
                stack_hash: desired.stack_hash.clone(),
                synced_at: Timestamp::now().to_string(),
                good_revision: previous.and_then(|p| good_revision_after(p, memory)),
                rolled_back_from: None,
                held: false,
                rollback_reason: None,
            },
        };
        StackLabels {
            instance: self.instance.clone(),
            stack_path: desired.path.clone(),
            synced,
        }
    }

    /// `compose down` of a stack that left Git (`queued`: who queued the key).
    pub(super) async fn remove(
        &self,
        seen: &Seen,
        name: &str,
        queued: Trigger,
        (lock, memory): (Option<StackGuard>, &mut Memory),
    ) -> Result<Report, ReconcileError> {
        let origin = origin(None, lock.is_some(), false, queued);
        let Some(_lock) = lock.or_else(|| self.memories.try_lock(name)) else {
            return Ok(Report::next(Ok(Action::requeue(LOCKED_RETRY))));
        };
        self.executor.connected()?;
        let removed = labels::last_synced(seen.containers.iter().map(|c| &c.labels));
        decide::begin(None, memory, Instant::now());
        tracing::info!(stack = name, "removing stack that left the desired state");
        let run = Run::start(Operation::Remove, origin, removed.as_ref());
        self.records.started(name, run, Status::Deleting);
        let left = self.executor.down(name, &seen.containers).await?;
        if !left.is_empty() {
            return Err(ReconcileError::NotConverged(format!(
                "compose down finished but {} container(s) remain",
                left.len()
            )));
        }
        self.executor.discard(name).await;
        tracing::info!(stack = name, "stack removed");
        let mut report = Report::with(Ok(Action::await_change()), StatusChange::Removed);
        report.health = Some(HealthChange::Remove);
        Ok(report)
    }
}

/// The revision a rollback would return to once the apply after `previous`
/// fails: `previous` itself when it passed its gate, else what it knew.
fn good_revision_after(previous: Synced, memory: &Memory) -> Option<String> {
    if memory.gate.passed(&previous.stack_hash) {
        Some(previous.revision)
    } else {
        previous.good_revision
    }
}

/// How the apply of `desired` with `synced` labels ended, from the containers
/// compose left (`fresh`); its gate opens, or reaches its verdict at once.
fn judge(
    desired: &DesiredStack,
    synced: &Synced,
    fresh: &[ContainerInfo],
    gated: bool,
    memory: &mut Memory,
) -> (Applied, Option<(Settled, Option<String>)>) {
    let assessment = assess(desired, fresh, Some(&desired.stack_hash));
    let now = Instant::now();
    let before = memory.gate.opening(&desired.stack_hash, gated, now);
    let applied = decide::after_apply(&assessment.verdict, &desired.stack_hash, gated, memory, now);
    let verdict = memory
        .gate
        .verdict_since(&before, now)
        .map(|settled| (settled, Some(synced.revision.clone())));
    (applied, verdict)
}

/// The worker's action for a decision's wait.
pub(super) fn decide_action(wait: Wait) -> Action {
    match wait {
        Wait::ForChange => Action::await_change(),
        Wait::Poll(after) => Action::requeue(after),
    }
}
