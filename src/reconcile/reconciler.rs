//! One reconcile pass of one stack: read desired state (the Git snapshot) and
//! actual state (the runtime cache), let [`decide()`] pick the step, run it
//! through the [`Executor`], record the result.
//!
//! A no-op pass reads two in-memory caches and runs nothing. Only a changed
//! `stack_hash`, missing or stopped containers, or outdated labels lead to a
//! compose run, and every run is confirmed through the Docker API.

use std::sync::Arc;
use std::time::{Duration, Instant};

use controller::{Action, Reconciler};
use jiff::Timestamp;
use tracing::Instrument as _;

use super::ReconcileError;
use super::assess::{Assessment, Divergence, Verdict, assess};
use super::decide::{self, Applied, Observation, Rules, Step, Wait, decide};
use super::executor::Executor;
use super::memory::{HealthGate, Memories, StackGuard};
use super::reason::{Origin, StackRequest};
use super::series::GateSeries;
use crate::docker::state::{ContainerInfo, ContainerState, RuntimeCache};
use crate::events::EventBus;
use crate::history::GateFailure;
use crate::history::{self, History, Run};
use crate::labels::{self, StackLabels, Synced};
use crate::metrics::AppMetrics;
use crate::stack::revisions::Revisions;
use crate::stack::snapshot::{Snapshot, SnapshotReader};
use crate::stack::{DesiredStack, StackName};
use crate::status::{LastResult, Outcome, Status, StatusTable};

/// Retry delay while another session holds the stack's lock.
const LOCKED_RETRY: Duration = Duration::from_secs(1);
/// Retry delay while a rollback's revision cannot be read from the mirror.
const UNREADABLE_RETRY: Duration = Duration::from_secs(30);
/// Retry delay while no snapshot exists (the readiness gate makes this rare).
const NOT_READY_RETRY: Duration = Duration::from_secs(5);

/// The reconciler of every stack.
pub struct StackReconciler<E> {
    /// `INSTANCE_NAME`, written into every label set.
    pub instance: String,
    /// What may be done without asking.
    pub rules: Rules,
    /// Desired state.
    pub snapshots: SnapshotReader,
    /// Actual state.
    pub runtime: RuntimeCache,
    /// Effects.
    pub executor: E,
    /// Status records it owns.
    pub status: StatusTable,
    /// Per-stack memory, shared with the commands of the API.
    pub memories: Memories,
    /// Series.
    pub metrics: AppMetrics,
    /// The health gate's series.
    pub gate_series: GateSeries,
    /// Where gate verdicts and rollbacks are announced (status changes go
    /// through the status table).
    pub events: EventBus,
    /// Every apply and removal, per stack.
    pub history: History,
    /// Past revisions, for rollbacks.
    pub revisions: Revisions,
}

/// What one pass read: desired state (`wanted` from Git, `desired` what runs
/// in its place during a rollback), the labels and the containers.
struct Seen<'a> {
    name: &'a str,
    /// Who queued the key.
    queued: Origin,
    snapshot: &'a Snapshot,
    wanted: Option<&'a Arc<DesiredStack>>,
    desired: Option<&'a Arc<DesiredStack>>,
    observed: Option<Synced>,
    applied: Option<Synced>,
    containers: &'a [ContainerInfo],
}

/// One `compose up`: the stack, why, and the labels it writes.
struct Change<'a> {
    desired: &'a DesiredStack,
    cause: Divergence,
    /// What differs, for the log.
    detail: &'a str,
    labels: &'a StackLabels,
    /// An apply of the desired revision, or a rollback.
    kind: ChangeKind,
}

/// What a `compose up` is, for the gate and the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChangeKind {
    /// The desired revision, in a pass the key was queued for by `Origin`.
    Apply(Origin),
    /// The last good revision, after a failed health gate.
    AutomaticRollback,
    /// A revision an operator asked for (held until Git or a sync moves on).
    OperatorRollback,
    /// The desired revision again, after its `compose up` failed.
    Retry,
}

/// A rollback: where to, and the gate failure behind it; without one it is
/// an operator's, and held.
struct Rollback<'a> {
    revision: &'a str,
    failure: Option<&'a Failure>,
}

/// Why an operator's rollback runs, for the log and history.
const ASKED: &str = "asked for through the API";

/// How soon a drift revert looks again when Docker's list still says running
/// what its `die` event said stopped.
const ENGINE_LAG: Duration = Duration::from_millis(250);

/// How soon after a failed gate the stack is looked at again (to roll back).
const ROLLBACK_DELAY: Duration = Duration::from_millis(100);

/// How soon an apply that ended synced is looked at once more. Docker sends a
/// container's `die` event before its state says it stopped: a revert started
/// by that event can find compose leaving the container alone and the list
/// after it saying it runs, while no later event will tell otherwise.
const VERIFY_AFTER: Duration = Duration::from_secs(2);

impl<E: Executor> Reconciler<StackRequest> for StackReconciler<E> {
    type Error = ReconcileError;

    async fn reconcile(&self, request: &StackRequest) -> Result<Action, ReconcileError> {
        let (name, queued) = (&request.key, request.reason.origin);
        let asked = self.memories.take_request(name);
        let span = tracing::info_span!("stack", stack = %name, revision = tracing::field::Empty);
        let (guard, reply, rollback_to) = match asked {
            Some(r) => (Some(r.guard), Some(r.reply), r.rollback_to),
            None => (None, None, None),
        };
        let result = match (guard, rollback_to) {
            (Some(guard), Some(revision)) => {
                self.hold(name, &revision, guard).instrument(span).await
            }
            (guard, _) => self.pass(name, guard, queued).instrument(span).await,
        };
        let error = result.as_ref().err().map(ToString::to_string);
        self.history.end(name, error).await;
        if let Err(error) = &result
            && !matches!(error, ReconcileError::Invalid(_))
        {
            tracing::warn!(stack = %name, error = %error, "reconcile failed");
            self.record_failure(name, &error.to_string());
        }
        if let Some(reply) = reply {
            let _ = reply.send(result.as_ref().map(|_| ()).map_err(ToString::to_string));
        }
        result
    }
}

impl<E: Executor> StackReconciler<E> {
    /// One pass; `held` is the lock of an apply asked through the API,
    /// `queued` who queued the key.
    async fn pass(
        &self,
        name: &str,
        held: Option<StackGuard>,
        queued: Origin,
    ) -> Result<Action, ReconcileError> {
        let requested = held.is_some();
        let Some(snapshot) = self.snapshots.current() else {
            return if requested {
                Err(ReconcileError::NotReady)
            } else {
                Ok(Action::requeue(NOT_READY_RETRY))
            };
        };
        tracing::Span::current().record("revision", snapshot.revision.as_str());
        let containers = self.runtime.containers(name);
        // A container that was created and never started (its compose up
        // failed) says nothing of what was applied: a stack is synced only to
        // what once ran.
        let started = containers
            .iter()
            .filter(|c| c.state != ContainerState::Created);
        let observed = labels::last_synced(started.map(|c| &c.labels));
        let wanted = snapshot.stacks.get(name);
        let applied = self.last_applied(name, observed.as_ref());
        // What was applied, not only what runs: a rollback whose containers
        // were all removed still stands in for the failed revision.
        let standing_in = match self.standing_in(wanted, applied.as_ref(), requested).await {
            Ok(stack) => stack,
            Err(revision) => return Ok(self.stand_in_unreadable(name, &revision, observed)),
        };
        let rolled_back_from = standing_in
            .as_ref()
            .and(wanted)
            .map(|w| w.stack_hash.as_str());
        let desired = standing_in.as_ref().or(wanted);
        let rollback_to = self.rollback_to(wanted, observed.as_ref(), rolled_back_from.is_some());
        let assessment = desired.filter(|d| d.error.is_none()).map(|d| {
            assess(
                d,
                &containers,
                applied.as_ref().map(|a| a.stack_hash.as_str()),
            )
        });
        let observation = match (desired, &assessment) {
            (Some(d), Some(a)) => Observation::Desired {
                verdict: &a.verdict,
                stack_hash: &d.stack_hash,
                has_containers: !containers.is_empty(),
                health_timeout: d.health_timeout,
                applied_ago: observed
                    .as_ref()
                    .filter(|o| o.stack_hash == d.stack_hash)
                    .and_then(|o| o.age(Timestamp::now())),
                rollback_to: rollback_to.as_deref(),
                rolled_back_from,
                held: observed.as_ref().is_some_and(|o| o.held),
                rollback_reason: observed.as_ref().and_then(|o| o.rollback_reason.as_deref()),
            },
            (Some(d), None) => Observation::Invalid {
                error: d.error.as_deref().unwrap_or_default(),
            },
            (None, _) => Observation::Gone {
                has_containers: !containers.is_empty(),
            },
        };
        self.record_health(name, desired.map(|d| &**d), &containers);
        let recalled = self
            .recall(name, desired, assessment.as_ref(), observed.as_ref())
            .await;
        let step = self
            .step_for(name, observation, requested, observed.as_ref())
            .await;
        let seen = Seen {
            name,
            queued,
            snapshot: &snapshot,
            wanted,
            desired,
            observed,
            applied,
            containers: &containers,
        };
        let result = self.act(step, seen, held).await;
        // After the step's own report, so no record is made up before it.
        if let Some(newest) = recalled {
            self.recall_last_result(name, &newest);
        }
        result
    }

    /// After a restart, what the history knows of the running apply of
    /// `desired` (see [`Self::recall_gate`]); its newest entry, if read.
    async fn recall(
        &self,
        name: &str,
        desired: Option<&Arc<DesiredStack>>,
        assessment: Option<&Assessment>,
        observed: Option<&Synced>,
    ) -> Option<history::Entry> {
        let (d, a) = (desired?, assessment?);
        let o = observed.filter(|o| o.stack_hash == d.stack_hash)?;
        let in_sync = a.verdict == Verdict::InSync;
        let timeout = d.health_timeout.unwrap_or(self.rules.health_timeout);
        self.recall_gate(name, o, in_sync, timeout).await
    }

    /// The step for what the pass saw (`observed`: the labels of the running
    /// apply); a gate verdict it reaches is recorded.
    async fn step_for(
        &self,
        name: &str,
        observation: Observation<'_>,
        requested: bool,
        observed: Option<&Synced>,
    ) -> Step {
        let (step, settled) = self.memories.with(name, |memory| {
            let before = memory.gate.clone();
            let now = Instant::now();
            let step = decide(observation, requested, self.rules, memory, now);
            let settled = decide::settled(before.as_ref(), memory.gate.as_ref(), now);
            (step, settled)
        });
        if let Some(settled) = settled {
            let revision = observed
                .filter(|o| o.stack_hash == settled.stack_hash)
                .map(|o| o.revision.clone());
            self.record_gate(name, revision, settled).await;
        }
        step
    }

    /// Runs the step `decide` chose for what the pass `seen`.
    async fn act(
        &self,
        step: Step,
        seen: Seen<'_>,
        held: Option<StackGuard>,
    ) -> Result<Action, ReconcileError> {
        let name = seen.name;
        match step {
            Step::Report {
                status,
                error,
                wait,
            } => {
                self.report(name, status, error, seen.observed);
                Ok(action(wait))
            }
            Step::Invalid(error) => {
                self.record_invalid(name, &error, seen.observed);
                Err(ReconcileError::Invalid(error))
            }
            Step::GiveUp(message) => {
                tracing::warn!(stack = name, %message, "crash loop");
                self.record_failure(name, &message);
                Ok(Action::await_change())
            }
            Step::RollBack {
                revision,
                failure,
                reason,
            } => match seen.wanted {
                Some(failed) => {
                    let from = seen.observed.map(|o| o.revision);
                    let why = Failure { failure, reason };
                    let rollback = Rollback {
                        revision: &revision,
                        failure: Some(&why),
                    };
                    self.roll_back(failed, from, rollback, held).await
                }
                None => Ok(Action::await_change()),
            },
            Step::GateFailed {
                reason, rolls_back, ..
            } => Ok(self.gate_failed(name, &reason, rolls_back)),
            Step::Forget => {
                self.status.remove(name);
                self.record_health(name, None, &[]);
                Ok(Action::await_change())
            }
            Step::Apply { cause, detail } => {
                let kind = ChangeKind::Apply(seen.queued);
                self.apply_desired(seen, cause, &detail, kind, held).await
            }
            Step::Retry { try_number, error } => {
                let detail = format!("try {try_number} after compose up failed: {error}");
                let kind = ChangeKind::Retry;
                self.apply_desired(seen, Divergence::Desired, &detail, kind, held)
                    .await
            }
            Step::Remove => self.remove(name, seen.containers, held, seen.queued).await,
        }
    }

    /// Applies the desired stack the pass `seen`.
    async fn apply_desired(
        &self,
        seen: Seen<'_>,
        cause: Divergence,
        detail: &str,
        kind: ChangeKind,
        held: Option<StackGuard>,
    ) -> Result<Action, ReconcileError> {
        let Some(desired) = seen.desired else {
            return Ok(Action::await_change());
        };
        if cause == Divergence::Drift
            && !self
                .executor
                .stops_listed(seen.name, seen.containers)
                .await?
        {
            tracing::debug!(
                stack = seen.name,
                "Docker's list does not say stopped yet; looking again before a revert"
            );
            return Ok(Action::requeue(ENGINE_LAG));
        }
        let labels = self.labels_for(seen.snapshot, desired, cause, seen.applied);
        let change = Change {
            desired,
            cause,
            detail,
            labels: &labels,
            kind,
        };
        self.apply(change, held).await
    }

    /// Whether the gated apply `change`, whose gate failed as compose
    /// returned, is rolled back on the next pass.
    fn rolls_back(&self, change: &Change<'_>, gated: bool) -> bool {
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
            && self.memories.with(&change.desired.name, |m| {
                matches!(m.gate, Some(HealthGate::Failed { .. }))
            })
    }

    /// Reports a failed gate; where a rollback follows (the next pass), the
    /// stack is `syncing` until it has run, not `failed` for the moment: a
    /// watcher of the status would report a failure about to be repaired.
    fn gate_failed(&self, name: &str, reason: &str, rolls_back: bool) -> Action {
        tracing::warn!(stack = name, message = %reason, "health gate failed");
        if rolls_back {
            self.status.update(name, |r| {
                r.status = Status::Syncing;
                r.error = Some(format!("{reason}; rolling back"));
                r.last_result = Some(LastResult::now(Outcome::Failure, Some(reason.to_string())));
            });
        } else {
            self.record_failure(name, reason);
        }
        Action::requeue(ROLLBACK_DELAY)
    }

    /// The stack a rollback runs instead of `wanted`, while the running
    /// containers say `wanted` failed its gate (or an operator held another
    /// revision) and no sync asked for `wanted`; `Err(revision)` when that
    /// revision cannot be read now.
    async fn standing_in(
        &self,
        wanted: Option<&Arc<DesiredStack>>,
        observed: Option<&Synced>,
        requested: bool,
    ) -> Result<Option<Arc<DesiredStack>>, String> {
        let (Some(wanted), Some(observed)) = (wanted, observed) else {
            return Ok(None);
        };
        let name = &wanted.name;
        let released = self.memories.with(name, |m| m.released);
        if requested || released || observed.rolled_back_from.as_deref() != Some(&wanted.stack_hash)
        {
            return Ok(None);
        }
        match self.revisions.stack_at(&observed.revision, name).await {
            Some(stack) => Ok(Some(stack)),
            None => Err(observed.revision.clone()),
        }
    }

    /// The revision standing in for the desired one cannot be read (the
    /// mirror is being cloned again, the commit is gone): the desired one
    /// failed or was held off, so it is not applied in its place; looked at
    /// again later.
    fn stand_in_unreadable(&self, name: &str, revision: &str, observed: Option<Synced>) -> Action {
        let error = format!(
            "revision {} runs in place of the one in Git, and its files cannot be read now; the one in Git is not applied until it changes or a sync asks for it",
            decide::short(revision)
        );
        self.report(name, Status::Failed, Some(error), observed);
        Action::requeue(UNREADABLE_RETRY)
    }

    /// Where a failed gate of `wanted` rolls back to: the revision its running
    /// apply's labels name as the last good one, if rollbacks are on for it.
    fn rollback_to(
        &self,
        wanted: Option<&Arc<DesiredStack>>,
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

    /// Applies `rollback.revision` in place of `failed` (applied from commit `from`).
    async fn roll_back(
        &self,
        failed: &DesiredStack,
        from: Option<String>,
        rollback: Rollback<'_>,
        held: Option<StackGuard>,
    ) -> Result<Action, ReconcileError> {
        let name = &failed.name;
        let Rollback { revision, failure } = rollback;
        let reason = failure.map_or(ASKED, |f| f.reason.as_str());
        let Some(target) = self.revisions.stack_at(revision, name).await else {
            let message = format!("{reason}; no rollback yet: revision {revision} cannot be read");
            self.record_failure(name, &message);
            // The mirror may be cloned again: tried once more later.
            self.retry_rollback(name);
            return Ok(Action::requeue(UNREADABLE_RETRY));
        };
        // Only a rollback that really starts uses up the failure's one try.
        let Some(guard) = held.or_else(|| self.memories.try_lock(name)) else {
            self.retry_rollback(name);
            return Ok(Action::requeue(LOCKED_RETRY));
        };
        if let Err(error) = self.executor.connected() {
            self.retry_rollback(name);
            return Err(error);
        }
        tracing::warn!(stack = %name, %reason, revision, "rolling back");
        let because = failure.map(|f| rollback_reason(from.as_deref(), &f.reason));
        self.record_rollback(name, from, &failed.stack_hash, revision, failure);
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
        self.run(change, guard, false).await
    }

    /// A rollback that could not start (lock taken, Docker away) may be tried
    /// again on a later pass.
    fn retry_rollback(&self, name: &str) {
        self.memories.with(name, |m| {
            if let Some(HealthGate::Failed { rollback_tried, .. }) = &mut m.gate {
                *rollback_tried = false;
            }
        });
    }

    /// An operator's rollback to `revision`: applied in place of the stack
    /// Git wants, and held there until Git changes the stack or a sync.
    async fn hold(
        &self,
        name: &StackName,
        revision: &str,
        guard: StackGuard,
    ) -> Result<Action, ReconcileError> {
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
        self.roll_back(wanted, from, rollback, Some(guard)).await
    }

    /// What was last applied: the record survives a container's removal, the
    /// labels survive a restart of docker-cd.
    fn last_applied(&self, name: &str, observed: Option<&Synced>) -> Option<Synced> {
        self.status
            .get(name)
            .and_then(|r| r.synced)
            .or_else(|| observed.cloned())
    }

    fn report(&self, name: &str, status: Status, error: Option<String>, observed: Option<Synced>) {
        match (status, &error) {
            (Status::Failed, Some(error)) => {
                tracing::warn!(stack = name, %error, "stack not ready")
            }
            (Status::Drifted, Some(detail)) => {
                tracing::info!(stack = name, %detail, "drift left alone until acknowledged or synced");
            }
            _ => {}
        }
        self.status.update(name, |r| {
            r.status = status;
            r.error = error;
            if observed.is_some() {
                r.synced = observed;
            }
        });
    }

    /// The labels an apply writes. Re-applying what already runs (drift) keeps
    /// those of that apply: compose recreates every container whose labels change.
    fn labels_for(
        &self,
        snapshot: &Snapshot,
        desired: &DesiredStack,
        cause: Divergence,
        applied: Option<Synced>,
    ) -> StackLabels {
        let synced = match applied {
            Some(a) if cause == Divergence::Drift && a.stack_hash == desired.stack_hash => a,
            previous => Synced {
                revision: snapshot.revision.clone(),
                compose_hash: desired.compose_hash.clone(),
                stack_hash: desired.stack_hash.clone(),
                synced_at: Timestamp::now().to_string(),
                good_revision: previous.and_then(|p| self.good_revision_after(&desired.name, p)),
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

    /// The revision a rollback would return to once the apply after `previous`
    /// fails: `previous` itself when it passed its gate, else what it knew.
    fn good_revision_after(&self, name: &str, previous: Synced) -> Option<String> {
        let passed = self.memories.with(name, |m| {
            matches!(&m.gate, Some(HealthGate::Passed { stack_hash }) if *stack_hash == previous.stack_hash)
        });
        if passed {
            Some(previous.revision)
        } else {
            previous.good_revision
        }
    }

    async fn apply(
        &self,
        change: Change<'_>,
        held: Option<StackGuard>,
    ) -> Result<Action, ReconcileError> {
        let name = change.desired.name.as_str();
        let requested = held.is_some();
        let Some(guard) = held.or_else(|| self.memories.try_lock(name)) else {
            tracing::debug!(
                stack = name,
                "stack is being applied by another session; retrying"
            );
            return Ok(Action::requeue(LOCKED_RETRY));
        };
        self.executor.connected()?;
        self.run(change, guard, requested).await
    }

    /// Runs `change` under the stack's lock (`requested`: asked through the API).
    async fn run(
        &self,
        change: Change<'_>,
        _guard: StackGuard,
        requested: bool,
    ) -> Result<Action, ReconcileError> {
        let Change {
            desired,
            cause,
            detail,
            labels,
            ..
        } = change;
        let name = desired.name.as_str();
        self.history
            .begin(name, self.history_run(&change, requested));
        let automatic_rollback = change.kind == ChangeKind::AutomaticRollback;
        let gated = self.memories.with(name, |m| {
            if automatic_rollback {
                decide::begin_rollback(m, Instant::now());
                true
            } else {
                decide::begin(Some(cause), m, Instant::now())
            }
        }) || requested;
        tracing::info!(stack = name, cause = ?cause, %detail, "applying stack");
        self.status.update(name, |r| {
            r.status = Status::Syncing;
            r.error = None;
        });
        let fresh = match self.executor.up(desired, labels).await {
            // Refused before compose ran: failed until Git changes the files.
            Err(ReconcileError::Invalid(why)) => {
                tracing::warn!(stack = name, error = %why, "stack refused");
                self.record_failure(name, &why);
                return Err(ReconcileError::Invalid(why));
            }
            // Tried again with backoff; what it left is not drift.
            Err(error) => {
                let error_text = error.to_string();
                self.memories.with(name, |m| {
                    decide::up_failed(m, &desired.stack_hash, &error_text, Instant::now());
                });
                return Err(error);
            }
            Ok(fresh) => fresh,
        };
        let settled = match self.judge(desired, &labels.synced, &fresh, gated).await {
            Applied::NotConverged(message) if self.rolls_back(&change, gated) => {
                return Ok(self.gate_failed(name, &message, true));
            }
            Applied::NotConverged(message) => return Err(ReconcileError::NotConverged(message)),
            Applied::Synced => true,
            Applied::Settling => false,
        };
        if cause == Divergence::Drift {
            self.metrics.drift_corrections.inc();
        }
        self.record_applied(name, settled, &fresh);
        Ok(action(if settled {
            Wait::Poll(VERIFY_AFTER)
        } else {
            // Health events wake it before; this is the gate's deadline.
            Wait::Poll(desired.health_timeout.unwrap_or(self.rules.health_timeout))
        }))
    }

    /// The history entry `change` starts: a rollback as such, an apply by its
    /// cause and whoever asked (read before `begin` takes the grant).
    fn history_run(&self, change: &Change<'_>, requested: bool) -> Run {
        let (origin, action) = match change.kind {
            ChangeKind::OperatorRollback => (
                (history::Cause::Manual, history::Trigger::Api),
                history::Operation::Rollback,
            ),
            ChangeKind::AutomaticRollback => (
                (history::Cause::Rollback, history::Trigger::HealthGate),
                history::Operation::Rollback,
            ),
            ChangeKind::Retry => (
                (history::Cause::Git, history::Trigger::Retry),
                history::Operation::Apply,
            ),
            ChangeKind::Apply(queued) => {
                let granted = self.memories.with(&change.desired.name, |m| m.granted);
                let origin = super::origin::origin(Some(change.cause), requested, granted, queued);
                (origin, history::Operation::Apply)
            }
        };
        Run::start(action, origin, Some(&change.labels.synced))
    }

    /// An apply's containers run: `synced`, or `syncing` while the gate is open.
    fn record_applied(&self, name: &str, settled: bool, fresh: &[ContainerInfo]) {
        if settled {
            tracing::info!(stack = name, "stack synced");
        } else {
            tracing::info!(
                stack = name,
                "stack applied; waiting for it to become ready"
            );
        }
        let observed = labels::last_synced(fresh.iter().map(|c| &c.labels));
        self.status.update(name, |r| {
            r.status = if settled {
                Status::Synced
            } else {
                Status::Syncing
            };
            r.error = None;
            r.synced = observed;
            r.last_result = Some(LastResult::now(Outcome::Success, None));
        });
    }

    /// How the apply of `desired` with `synced` labels ended, from the
    /// containers compose left (`fresh`); its gate opens, or reaches its
    /// verdict at once, which is recorded.
    async fn judge(
        &self,
        desired: &DesiredStack,
        synced: &Synced,
        fresh: &[ContainerInfo],
        gated: bool,
    ) -> Applied {
        let name = desired.name.as_str();
        let assessment = assess(desired, fresh, Some(&desired.stack_hash));
        self.record_health(name, Some(desired), fresh);
        let (applied, settled) = self.memories.with(name, |m| {
            let now = Instant::now();
            // The gate opens as compose returns (a verdict now took no time),
            // unless this is a revert within a gate still open.
            let opened = m
                .gate
                .clone()
                .filter(|g| matches!(g, HealthGate::Open { stack_hash, .. } if *stack_hash == desired.stack_hash))
                .unwrap_or(HealthGate::Open {
                    stack_hash: desired.stack_hash.clone(),
                    since: now,
                    gated,
                });
            let applied =
                decide::after_apply(&assessment.verdict, &desired.stack_hash, gated, m, now);
            (
                applied,
                decide::settled(Some(&opened), m.gate.as_ref(), now),
            )
        });
        if let Some(settled) = settled {
            self.record_gate(name, Some(synced.revision.clone()), settled)
                .await;
        }
        applied
    }

    async fn remove(
        &self,
        name: &str,
        containers: &[ContainerInfo],
        held: Option<StackGuard>,
        queued: Origin,
    ) -> Result<Action, ReconcileError> {
        let origin = super::origin::origin(None, held.is_some(), false, queued);
        let Some(_guard) = held.or_else(|| self.memories.try_lock(name)) else {
            return Ok(Action::requeue(LOCKED_RETRY));
        };
        self.executor.connected()?;
        let removed = labels::last_synced(containers.iter().map(|c| &c.labels));
        self.history.begin(
            name,
            Run::start(history::Operation::Remove, origin, removed.as_ref()),
        );
        self.memories
            .with(name, |m| decide::begin(None, m, Instant::now()));
        tracing::info!(stack = name, "removing stack that left the desired state");
        self.status.update(name, |r| {
            r.status = Status::Deleting;
            r.error = None;
        });
        let left = self.executor.down(name, containers).await?;
        if !left.is_empty() {
            return Err(ReconcileError::NotConverged(format!(
                "compose down finished but {} container(s) remain",
                left.len()
            )));
        }
        self.executor.discard(name).await;
        tracing::info!(stack = name, "stack removed");
        self.status.update(name, |r| {
            r.status = Status::Missing;
            r.error = None;
            r.synced = None;
            r.last_result = Some(LastResult::now(Outcome::Success, None));
        });
        Ok(Action::await_change())
    }

    fn record_failure(&self, name: &str, message: &str) {
        self.status.update(name, |r| {
            r.status = Status::Failed;
            r.error = Some(message.to_string());
            r.last_result = Some(LastResult::now(Outcome::Failure, Some(message.to_string())));
        });
    }

    /// Found at refresh, not by an apply, yet the stack's last result all the
    /// same; its time stays that of the first finding.
    fn record_invalid(&self, name: &str, error: &str, observed: Option<Synced>) {
        self.status.update(name, |r| {
            r.status = Status::Failed;
            r.error = Some(error.to_string());
            let known = r.last_result.as_ref().is_some_and(|l| {
                l.outcome == Outcome::Failure && l.error.as_deref() == Some(error)
            });
            if !known {
                r.last_result = Some(LastResult::now(Outcome::Failure, Some(error.to_string())));
            }
            if observed.is_some() {
                r.synced = observed;
            }
        });
    }
}

/// How and why a gate failed, for a rollback's records.
struct Failure {
    failure: GateFailure,
    reason: String,
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

fn action(wait: Wait) -> Action {
    match wait {
        Wait::ForChange => Action::await_change(),
        Wait::Poll(after) => Action::requeue(after),
    }
}

mod records;
#[cfg(test)]
mod tests;
