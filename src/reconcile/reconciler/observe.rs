//! What a pass reads, once: the Git snapshot, the stack's containers and the
//! labels of what runs, the revision standing in for Git's during a rollback,
//! and after a restart what the history recalls of the running apply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::StackReconciler;
use super::report::{HealthChange, Report, StatusChange};
use crate::docker::state::{ContainerInfo, ContainerState};
use crate::history::{self, Operation};
use crate::labels::{self, Synced};
use crate::reconcile::ReconcileError;
use crate::reconcile::assess::{Assessment, Divergence, Verdict, assess};
use crate::reconcile::decide::{self, Observation};
use crate::reconcile::executor::Executor;
use crate::reconcile::gate::Recall;
use crate::reconcile::memory::Memory;
use crate::stack::DesiredStack;
use crate::stack::snapshot::Snapshot;
use crate::status::{LastResult, Status};

/// Retry delay while a rollback's revision cannot be read from the mirror.
pub(super) const UNREADABLE_RETRY: Duration = Duration::from_secs(30);
/// Retry delay while no snapshot exists (the readiness gate makes this rare).
const NOT_READY_RETRY: Duration = Duration::from_secs(5);

/// What one pass read: desired state (`wanted` from Git, `desired` what runs
/// in its place during a rollback), the labels and the containers.
pub(super) struct Seen {
    pub(super) snapshot: Arc<Snapshot>,
    pub(super) wanted: Option<Arc<DesiredStack>>,
    pub(super) desired: Option<Arc<DesiredStack>>,
    /// `desired` is a rollback's (or an operator's held) revision, not `wanted`.
    pub(super) standing_in: bool,
    /// The labels of the running apply (of containers that once started).
    pub(super) observed: Option<Synced>,
    /// What was last applied: the status record's labels, else the running ones.
    pub(super) applied: Option<Synced>,
    pub(super) containers: Vec<ContainerInfo>,
    pub(super) assessment: Option<Assessment>,
    /// Where a failed gate of `wanted` rolls back to.
    pub(super) rollback_to: Option<String>,
}

impl Seen {
    /// The `stack_hash` of `wanted` that a stand-in runs in place of.
    fn rolled_back_from(&self) -> Option<&str> {
        let wanted = self.wanted.as_deref().filter(|_| self.standing_in)?;
        Some(wanted.stack_hash.as_str())
    }

    /// What [`decide::decide`] is told of the pass.
    pub(super) fn observation(&self) -> Observation<'_> {
        match (&self.desired, &self.assessment) {
            (Some(d), Some(a)) => Observation::Desired {
                verdict: &a.verdict,
                stack_hash: &d.stack_hash,
                has_containers: !self.containers.is_empty(),
                health_timeout: d.health_timeout,
                rollback_to: self.rollback_to.as_deref(),
                rolled_back_from: self.rolled_back_from(),
                held: self.observed.as_ref().is_some_and(|o| o.held),
                rollback_reason: self
                    .observed
                    .as_ref()
                    .and_then(|o| o.rollback_reason.as_deref()),
            },
            (Some(d), None) => Observation::Invalid {
                error: d.error.as_deref().unwrap_or_default(),
            },
            (None, _) => Observation::Gone {
                has_containers: !self.containers.is_empty(),
            },
        }
    }

    /// `dockercd_stack_health` for what runs: counted as the API counts it; a
    /// stack no longer desired has no series; an undeployable revision keeps
    /// the last value.
    pub(super) fn health(&self) -> Option<HealthChange> {
        match &self.desired {
            Some(d) if d.error.is_none() => Some(HealthChange::of(d, &self.containers)),
            Some(_) => None,
            None => Some(HealthChange::Remove),
        }
    }
}

impl<E: Executor> StackReconciler<E> {
    /// Reads what the pass of `name` works on; `Err` is the pass's report
    /// when there is nothing to decide on yet. `requested`: an apply asked
    /// through the API.
    pub(super) async fn observe(
        &self,
        name: &str,
        requested: bool,
        memory: &Memory,
    ) -> Result<Seen, Report> {
        let Some(snapshot) = self.snapshots.current() else {
            return Err(Report::next(if requested {
                Err(ReconcileError::NotReady)
            } else {
                Ok(controller::Action::requeue(NOT_READY_RETRY))
            }));
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
        let wanted = snapshot.stacks.get(name).cloned();
        let applied = self.records.last_synced(name).or_else(|| observed.clone());
        // What was applied, not only what runs: a rollback whose containers
        // were all removed still stands in for the failed revision.
        let released = requested || memory.released;
        let stand_in = match self
            .standing_in(wanted.as_deref(), applied.as_ref(), released)
            .await
        {
            Ok(stack) => stack,
            Err(revision) => return Err(stand_in_unreadable(&revision, observed)),
        };
        let rollback_to =
            self.rollback_to(wanted.as_deref(), observed.as_ref(), stand_in.is_some());
        let standing_in = stand_in.is_some();
        let desired = stand_in.or_else(|| wanted.clone());
        let assessment = desired.as_deref().filter(|d| d.error.is_none()).map(|d| {
            assess(
                d,
                &containers,
                applied.as_ref().map(|a| a.stack_hash.as_str()),
            )
        });
        Ok(Seen {
            snapshot,
            wanted,
            desired,
            standing_in,
            observed,
            applied,
            containers,
            assessment,
            rollback_to,
        })
    }

    /// After a restart, what the history knows of the desired stack, looked
    /// for once per `stack_hash`: of its running apply, the gate (see
    /// [`crate::reconcile::gate::HealthGate::recall`]) and the crash-loop
    /// budget; of an apply that never ran, its failed tries. Returns the last
    /// result the history's newest entry recalls.
    pub(super) async fn recall(
        &self,
        name: &str,
        seen: &Seen,
        memory: &mut Memory,
    ) -> Option<LastResult> {
        let (desired, assessment) = (seen.desired.as_ref()?, seen.assessment.as_ref()?);
        let stack_hash = desired.stack_hash.as_str();
        let remembered = memory.gate.of(stack_hash).is_some() || memory.failed_up.is_some();
        if remembered || memory.recalled.as_deref() == Some(stack_hash) {
            return None;
        }
        memory.recalled = Some(stack_hash.to_string());
        // An unreadable history recalls as an empty one: the labels alone.
        let entries = self.records.history_of(name).await.unwrap_or_default();
        let now = Instant::now();
        let running = (seen.observed.as_ref()).filter(|o| o.stack_hash == stack_hash);
        if let Some(running) = running {
            let reverts = reverts_since_fresh_start(&entries, stack_hash);
            let stopped = matches!(
                assessment.verdict,
                Verdict::NeedsApply {
                    cause: Divergence::Drift,
                    exited: true,
                    ..
                }
            );
            decide::recall_reverts(memory, &reverts, stopped, now);
            // One killed before its entry was written leaves an older entry
            // of the same `stack_hash`: not this apply's.
            let entry = entries
                .iter()
                .find(|e| {
                    e.stack_hash.as_deref() == Some(stack_hash) && e.action != Operation::Remove
                })
                .filter(|e| e.is_of_apply(&running.synced_at));
            let recall = Recall {
                stack_hash,
                labelled_ago: running.age(Timestamp::now()),
                entry,
                in_sync: assessment.verdict == Verdict::InSync,
                timeout: desired.health_timeout.unwrap_or(self.rules.health_timeout),
            };
            memory.gate.recall(&recall, now);
        } else if let Some((tries, last)) =
            failed_tries(&entries, stack_hash).filter(|(_, last)| {
                last.trigger == history::Trigger::Retry || left_created(seen, stack_hash)
            })
        {
            let error = last.error.as_deref().unwrap_or("compose up failed");
            let ended_ago = last.returned_ago().unwrap_or_default();
            decide::recall_failed_up(memory, stack_hash, (tries, error), ended_ago, now);
        }
        let newest = entries.first()?;
        Some(LastResult {
            outcome: newest.outcome,
            at: newest.ended_at()?.to_string(),
            error: newest.error.clone(),
        })
    }
}

/// Whether a `compose up` of `stack_hash` left containers it never started:
/// with a retry in the history, what tells a failed `compose up` from a
/// refusal before compose ran (which a restart under other settings judges
/// afresh).
fn left_created(seen: &Seen, stack_hash: &str) -> bool {
    seen.containers.iter().any(|c| {
        c.state == ContainerState::Created
            && c.labels.get(labels::STACK_HASH).map(String::as_str) == Some(stack_hash)
    })
}

/// The failed `compose up`s of `stack_hash` in a row that end the history
/// (an apply of it that failed without a gate verdict: it never ran), and the
/// newest of them.
fn failed_tries<'e>(
    entries: &'e [history::Entry],
    stack_hash: &str,
) -> Option<(u32, &'e history::Entry)> {
    let failed = |e: &&history::Entry| {
        e.stack_hash.as_deref() == Some(stack_hash)
            && e.action == Operation::Apply
            && e.outcome == crate::status::Outcome::Failure
            && e.gate.is_none()
    };
    let tries = entries.iter().take_while(failed).count();
    let newest = entries.first().filter(|_| tries > 0)?;
    Some((u32::try_from(tries).unwrap_or(u32::MAX), newest))
}

/// The revision standing in for the desired one cannot be read (the mirror is
/// being cloned again, the commit is gone): the desired one failed or was held
/// off, so it is not applied in its place; looked at again later.
fn stand_in_unreadable(revision: &str, observed: Option<Synced>) -> Report {
    let error = format!(
        "revision {} runs in place of the one in Git, and its files cannot be read now; the one in Git is not applied until it changes or a sync asks for it",
        decide::short(revision)
    );
    tracing::warn!(%error, "stack not ready");
    let status = StatusChange::Seen {
        status: Status::Failed,
        error: Some(error),
        synced: observed,
    };
    Report::with(Ok(controller::Action::requeue(UNREADABLE_RETRY)), status)
}

/// How long ago each drift revert of `stack_hash` started, newest first, back
/// to the stack's last fresh start: an apply of another cause, or an ack (a
/// granted revert, which counts itself).
fn reverts_since_fresh_start(entries: &[history::Entry], stack_hash: &str) -> Vec<Duration> {
    let mut ages = Vec::new();
    for entry in entries {
        let drift = entry.cause == history::Cause::Drift
            && entry.action == Operation::Apply
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
