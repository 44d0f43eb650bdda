//! Rollbacks: the revision that stands in for Git's after a failed gate or an
//! operator's hold, where a failed gate rolls back to, and the rollback's apply.

use std::sync::Arc;

use controller::Action;
use jiff::Timestamp;

use super::StackReconciler;
use super::apply::{Change, ChangeKind, LOCKED_RETRY};
use super::observe::UNREADABLE_RETRY;
use super::report::{Report, StatusChange};
use crate::history::GateFailure;
use crate::labels::{self, StackLabels, Synced};
use crate::reconcile::ReconcileError;
use crate::reconcile::assess::Divergence;
use crate::reconcile::decide;
use crate::reconcile::executor::Executor;
use crate::reconcile::memory::{Memory, StackGuard};
use crate::stack::{DesiredStack, StackName};

/// Why an operator's rollback runs, for the log and history.
const ASKED: &str = "asked for through the API";

/// How and why a gate failed, for a rollback's records.
#[derive(Debug)]
pub(crate) struct Failure {
    /// How, for the series and events.
    pub(crate) failure: GateFailure,
    /// The gate's reason.
    pub(crate) reason: String,
}

/// A rollback: where to, and the gate failure behind it; without one it is
/// an operator's, and held.
pub(super) struct Rollback<'a> {
    pub(super) revision: &'a str,
    pub(super) failure: Option<&'a Failure>,
}

impl<E: Executor> StackReconciler<E> {
    /// The stack a rollback runs instead of `wanted`, while what was `applied`
    /// says `wanted` failed its gate (or an operator held another revision)
    /// and no sync asked for `wanted` (`released`); `Err(revision)` when that
    /// revision cannot be read now.
    pub(super) async fn standing_in(
        &self,
        wanted: Option<&DesiredStack>,
        applied: Option<&Synced>,
        released: bool,
    ) -> Result<Option<Arc<DesiredStack>>, String> {
        let (Some(wanted), Some(applied)) = (wanted, applied) else {
            return Ok(None);
        };
        if released || !applied.stands_in_for(&wanted.stack_hash) {
            return Ok(None);
        }
        match self
            .revisions
            .stack_at(&applied.revision, &wanted.name)
            .await
        {
            Some(stack) => Ok(Some(stack)),
            None => Err(applied.revision.clone()),
        }
    }

    /// Where a failed gate of `wanted` rolls back to: the revision its running
    /// apply's labels name as the last good one, if rollbacks are on for it.
    pub(super) fn rollback_to(
        &self,
        wanted: Option<&DesiredStack>,
        observed: Option<&Synced>,
        rolled_back: bool,
    ) -> Option<String> {
        let wanted = wanted?;
        let enabled = wanted.rollback.unwrap_or(self.rules.rollback_enabled);
        let observed = observed.filter(|o| o.stack_hash == wanted.stack_hash)?;
        (enabled && !rolled_back)
            .then(|| observed.good_revision.clone())
            .flatten()
            .filter(|good| *good != observed.revision)
    }

    /// Whether the gated apply `change`, whose gate failed as compose
    /// returned, is rolled back on the next pass.
    pub(super) fn rolls_back(&self, change: &Change<'_>, gated: bool, memory: &Memory) -> bool {
        let synced = &change.labels.synced;
        gated
            && matches!(change.kind, ChangeKind::Apply(_) | ChangeKind::Retry)
            && change
                .desired
                .rollback
                .unwrap_or(self.rules.rollback_enabled)
            && synced
                .good_revision
                .as_deref()
                .is_some_and(|good| good != synced.revision)
            && memory.gate.failed()
    }

    /// Applies `rollback.revision` in place of `failed` (applied from commit `from`).
    pub(super) async fn roll_back(
        &self,
        failed: &DesiredStack,
        from: Option<String>,
        rollback: Rollback<'_>,
        lock: Option<StackGuard>,
        memory: &mut Memory,
    ) -> Result<Report, ReconcileError> {
        let name = &failed.name;
        let Rollback { revision, failure } = rollback;
        let reason = failure.map_or(ASKED, |f| f.reason.as_str());
        let Some(target) = self.revisions.stack_at(revision, name).await else {
            let error = format!("{reason}; no rollback yet: revision {revision} cannot be read");
            // The mirror may be cloned again: tried once more later.
            memory.gate.rollback_not_started();
            let failed = StatusChange::Failed {
                error,
                repeated: false,
                synced: None,
            };
            return Ok(Report::with(Ok(Action::requeue(UNREADABLE_RETRY)), failed));
        };
        // Only a rollback that really starts uses up the failure's one try.
        let Some(lock) = lock.or_else(|| self.memories.try_lock(name)) else {
            memory.gate.rollback_not_started();
            return Ok(Report::next(Ok(Action::requeue(LOCKED_RETRY))));
        };
        if let Err(error) = self.executor.connected() {
            memory.gate.rollback_not_started();
            return Err(error);
        }
        tracing::warn!(stack = %name, %reason, revision, "rolling back");
        let because = failure.map(|f| rollback_reason(from.as_deref(), &f.reason));
        self.records
            .rollback_started(name, from, &failed.stack_hash, revision, failure);
        let labels = StackLabels {
            instance: self.instance.clone(),
            stack_path: target.path.clone(),
            synced: Synced {
                revision: revision.to_string(),
                compose_hash: target.compose_hash.clone(),
                stack_hash: target.stack_hash.clone(),
                synced_at: Timestamp::now().to_string(),
                good_revision: Some(revision.to_string()),
                rolled_back_from: Some(failed.stack_hash.clone()),
                held: failure.is_none(),
                rollback_reason: because,
            },
        };
        let detail = format!("rollback to {revision}: {reason}");
        let change = Change {
            desired: &target,
            cause: Divergence::Desired,
            detail: &detail,
            labels: &labels,
            kind: match failure {
                Some(_) => ChangeKind::AutomaticRollback,
                None => ChangeKind::OperatorRollback,
            },
        };
        self.run(change, lock, false, memory).await
    }

    /// An operator's rollback to `revision`: applied in place of the stack
    /// Git wants, and held there until Git changes the stack or a sync.
    pub(super) async fn hold(
        &self,
        name: &StackName,
        revision: &str,
        lock: StackGuard,
        memory: &mut Memory,
    ) -> Result<Report, ReconcileError> {
        let snapshot = self.snapshots.current().ok_or(ReconcileError::NotReady)?;
        let Some(wanted) = snapshot.stacks.get(name) else {
            return Err(ReconcileError::NotConverged(format!(
                "stack '{name}' left Git; nothing to roll back"
            )));
        };
        if self.revisions.stack_at(revision, name).await.is_none() {
            return Err(ReconcileError::NotConverged(format!(
                "stack '{name}' cannot be read or deployed at revision {revision}"
            )));
        }
        let from = labels::last_synced(self.runtime.containers(name).iter().map(|c| &c.labels))
            .map(|s| s.revision);
        let rollback = Rollback {
            revision,
            failure: None,
        };
        self.roll_back(wanted, from, rollback, Some(lock), memory)
            .await
    }
}

/// The label saying which revision failed its gate and how, kept short: a
/// label is no place for a long message.
fn rollback_reason(from: Option<&str>, reason: &str) -> String {
    const LONGEST: usize = 300;
    let text = match from {
        Some(revision) => format!("revision {}: {reason}", decide::short(revision)),
        None => reason.to_string(),
    };
    match text.char_indices().nth(LONGEST) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
