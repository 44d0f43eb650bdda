//! What operators may ask of a stack (sync, acknowledge drift, plan, apply a
//! plan), as typed calls the API makes. Every change goes through the work
//! queue and the worker, like any reconcile: the API never runs `compose up` or
//! `down` itself (a plan runs only `compose config`, in a scratch folder).
//!
//! An apply waits for the worker: with one worker (the default) it waits
//! behind another stack's apply, holding its own stack's lock meanwhile.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::docker::state::RuntimeCache;
use crate::history::History;
use crate::known::Known;
use crate::plan::{Plan, PlanError, Planner};
use crate::reconcile::memory::{Memories, PendingApply, StackGuard};
use crate::reconcile::reason::{Reason, StackRequest, Trigger};
use crate::stack::StackName;
use crate::stack::revisions::Revisions;
use crate::stack::snapshot::SnapshotReader;
use crate::status::{Outcome, Status, StatusTable};

/// The shortest revision prefix a rollback accepts (as `git log --oneline` shows).
const MIN_REVISION_PREFIX: usize = 7;

/// Why a command was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Neither in Git, nor known, nor running.
    #[error("no stack named '{0}'")]
    NotFound(String),
    /// `ack` of a stack that is not drifted.
    #[error("stack '{name}' is {status}, not drifted: nothing to acknowledge")]
    NotDrifted {
        /// The stack.
        name: String,
        /// Its status (`unknown` without a record).
        status: &'static str,
    },
    /// Another apply of the stack is running.
    #[error("Stack is being applied by another session")]
    Locked,
    /// The runtime or Git changed since the plan was made.
    #[error("plan is stale")]
    Stale,
    /// The plan (or its token) could not be made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// docker-cd is shutting down.
    #[error("docker-cd is shutting down")]
    Stopped,
    /// A rollback to a revision the stack's history does not list.
    #[error("revision '{revision}' is not in the history of stack '{name}'")]
    NotInHistory {
        /// The stack.
        name: String,
        /// What was asked for.
        revision: String,
    },
    /// A rollback to a revision named by fewer than 7 characters.
    #[error(
        "a revision to roll back to is its commit id or at least {MIN_REVISION_PREFIX} characters of it, not '{0}'"
    )]
    ShortRevision(String),
    /// A rollback to a revision whose apply never passed its health gate.
    #[error(
        "revision {revision} never passed its health gate on stack '{name}': roll back to one that did, or sync to apply the revision in Git"
    )]
    NeverPassed {
        /// The stack.
        name: String,
        /// The full revision.
        revision: String,
    },
    /// A rollback of a stack Git no longer has: its removal would follow.
    #[error(
        "stack '{0}' is not in Git at the current revision; there is nothing to hold a rollback against"
    )]
    NotInGit(String),
    /// A rollback to a revision whose stack cannot be read from the mirror or deployed.
    #[error("stack '{name}' cannot be read or deployed at revision {revision}")]
    Unreadable {
        /// The stack.
        name: String,
        /// The full revision.
        revision: String,
    },
    /// The history could not be read.
    #[error("history: {0}")]
    History(#[from] crate::history::HistoryError),
}

/// How an apply ended, as the API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyOutcome {
    /// The stack.
    pub stack: String,
    /// Success or failure.
    pub outcome: Outcome,
    /// The stack's status after the apply.
    pub status: Option<Status>,
    /// The revision its containers run.
    pub revision: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The commands, over the controller's queue and the reconciler's memory.
pub struct StackCommands {
    parts: Parts,
}

/// What [`StackCommands`] works over.
pub struct Parts {
    /// Desired state (to know a stack exists).
    pub snapshots: SnapshotReader,
    /// Statuses (for `ack` and the apply's answer).
    pub status: StatusTable,
    /// Actual state (to know a stack exists).
    pub runtime: RuntimeCache,
    /// Grants, locks and waiting applies, shared with the reconciler.
    pub memories: Memories,
    /// The controller's queue.
    pub queue: controller::WorkQueue<StackRequest>,
    /// Plans and staleness tokens.
    pub planner: Arc<Planner>,
    /// Cancelled at shutdown: a waiting apply gives up.
    pub shutdown: CancellationToken,
    /// The revisions a rollback may return to.
    pub history: History,
    /// Past revisions' stacks.
    pub revisions: Revisions,
}

impl StackCommands {
    /// Commands over `parts`; the API reaches the queue and the memory only through them.
    pub fn new(parts: Parts) -> Self {
        Self { parts }
    }

    /// Reconciles `name` now, applying once even when the policy would not.
    ///
    /// # Errors
    /// [`CommandError::NotFound`] for an unknown stack.
    pub fn sync(&self, name: &StackName) -> Result<(), CommandError> {
        self.known(name)?;
        self.parts.memories.release(name);
        self.parts
            .queue
            .add(Reason::request(Trigger::Sync, name.clone()));
        tracing::info!(stack = %name, "sync requested");
        Ok(())
    }

    /// Reverts the drift of a `drifted` stack.
    ///
    /// # Errors
    /// When the stack is unknown or not drifted.
    pub fn ack(&self, name: &StackName) -> Result<(), CommandError> {
        self.known(name)?;
        let status = self.parts.status.get(name).map(|r| r.status);
        if status != Some(Status::Drifted) {
            return Err(CommandError::NotDrifted {
                name: name.to_string(),
                status: status.map_or("unknown", Status::as_str),
            });
        }
        self.parts.memories.grant(name);
        self.parts
            .queue
            .add(Reason::request(Trigger::Sync, name.clone()));
        tracing::info!(stack = %name, "drift acknowledged; reverting");
        Ok(())
    }

    /// What an apply of `name` would change.
    ///
    /// # Errors
    /// When the plan cannot be made.
    pub async fn plan(&self, name: &StackName) -> Result<Plan, CommandError> {
        let plan = self.parts.planner.plan(name).await?;
        tracing::info!(
            stack = %name,
            add = plan.summary.add,
            change = plan.summary.change,
            remove = plan.summary.remove,
            "plan made"
        );
        Ok(plan)
    }

    /// Applies `name` if `token` is still the token of its plan, through the
    /// worker, and waits for the result. A second apply of the stack is refused
    /// at once rather than queued.
    ///
    /// # Errors
    /// Locked, stale, or the token cannot be computed.
    pub async fn apply(&self, name: &StackName, token: &str) -> Result<ApplyOutcome, CommandError> {
        // Before the lock and the token (a Docker call): nothing to apply.
        self.known(name)?;
        let guard = self
            .parts
            .memories
            .try_lock(name)
            .ok_or(CommandError::Locked)?;
        if self.parts.planner.current_token(name).await? != token {
            tracing::info!(stack = %name, "apply refused: the plan is stale");
            return Err(CommandError::Stale);
        }
        tracing::info!(stack = %name, "applying a plan");
        self.run(name, guard, None).await
    }

    /// Applies `name` as it was at `revision` (a full commit id or a prefix of
    /// at least 7 characters naming one revision of its history), through the
    /// worker, and holds it there until Git changes the stack or a sync.
    ///
    /// # Errors
    /// Unknown stack or revision, a stack no longer in Git, a revision that
    /// cannot be read, or another apply of the stack running.
    pub async fn rollback(
        &self,
        name: &StackName,
        revision: &str,
    ) -> Result<ApplyOutcome, CommandError> {
        self.known(name)?;
        let revision = self.past_revision(name, revision).await?;
        let in_git = self
            .parts
            .snapshots
            .current()
            .is_some_and(|s| s.stacks.contains_key(name));
        if !in_git {
            return Err(CommandError::NotInGit(name.to_string()));
        }
        if self
            .parts
            .revisions
            .stack_at(&revision, name)
            .await
            .is_none()
        {
            return Err(CommandError::Unreadable {
                name: name.to_string(),
                revision,
            });
        }
        let guard = self
            .parts
            .memories
            .try_lock(name)
            .ok_or(CommandError::Locked)?;
        tracing::info!(stack = %name, revision, "rollback requested");
        self.run(name, guard, Some(revision)).await
    }

    /// The full revision of `name`'s history that `asked` names; one whose
    /// apply (or rollback) passed its health gate there at least once.
    async fn past_revision(&self, name: &StackName, asked: &str) -> Result<String, CommandError> {
        if asked.len() < MIN_REVISION_PREFIX {
            return Err(CommandError::ShortRevision(asked.to_string()));
        }
        let entries: Vec<_> = self
            .parts
            .history
            .list(name)
            .await?
            .into_iter()
            .filter(|e| e.revision.as_deref().is_some_and(|r| r.starts_with(asked)))
            .collect();
        let mut matching: Vec<&str> = entries
            .iter()
            .filter_map(|e| e.revision.as_deref())
            .collect();
        matching.sort_unstable();
        matching.dedup();
        let [revision] = matching.as_slice() else {
            return Err(CommandError::NotInHistory {
                name: name.to_string(),
                revision: asked.to_string(),
            });
        };
        if entries.iter().any(|e| e.passed()) {
            Ok((*revision).to_string())
        } else {
            Err(CommandError::NeverPassed {
                name: name.to_string(),
                revision: (*revision).to_string(),
            })
        }
    }

    /// Hands an apply (at `rollback_to`, or the current revision) to the
    /// worker and waits for its result.
    async fn run(
        &self,
        name: &StackName,
        guard: StackGuard,
        rollback_to: Option<String>,
    ) -> Result<ApplyOutcome, CommandError> {
        if self.parts.queue.is_shutting_down() {
            return Err(CommandError::Stopped);
        }
        let (reply, answer) = oneshot::channel();
        let request = PendingApply {
            guard,
            reply,
            rollback_to,
        };
        self.parts.memories.request_apply(name, request);
        self.parts
            .queue
            .add(Reason::request(Trigger::Api, name.clone()));
        let result = tokio::select! {
            answer = answer => answer.map_err(|_| CommandError::Stopped)?,
            () = self.parts.shutdown.cancelled() => return Err(CommandError::Stopped),
        };
        let record = self.parts.status.get(name);
        Ok(ApplyOutcome {
            stack: name.to_string(),
            outcome: if result.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            status: record.as_ref().map(|r| r.status),
            revision: record.and_then(|r| r.synced).map(|s| s.revision),
            error: result.err(),
        })
    }

    fn known(&self, name: &StackName) -> Result<(), CommandError> {
        let snapshot = self.parts.snapshots.current();
        let known = Known {
            snapshot: snapshot.as_deref(),
            status: &self.parts.status,
            runtime: &self.parts.runtime,
        };
        if known.contains(name) {
            Ok(())
        } else {
            Err(CommandError::NotFound(name.to_string()))
        }
    }
}
