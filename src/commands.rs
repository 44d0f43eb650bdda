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
use crate::plan::{Plan, PlanError, Planner};
use crate::reconcile::memory::{ApplyRequest, Memories};
use crate::stack::StackName;
use crate::stack::snapshot::SnapshotReader;
use crate::status::{Outcome, Status, StatusTable};

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
    pub queue: controller::WorkQueue<StackName>,
    /// Plans and staleness tokens.
    pub planner: Arc<Planner>,
    /// Cancelled at shutdown: a waiting apply gives up.
    pub shutdown: CancellationToken,
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
        self.parts.memories.grant(name);
        self.parts.queue.add(name.clone());
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
        self.parts.queue.add(name.clone());
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
        if self.parts.queue.is_shutting_down() {
            return Err(CommandError::Stopped);
        }
        tracing::info!(stack = %name, "applying a plan");
        let (reply, answer) = oneshot::channel();
        self.parts
            .memories
            .request_apply(name, ApplyRequest { guard, reply });
        self.parts.queue.add(name.clone());
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
        let desired = self
            .parts
            .snapshots
            .current()
            .is_some_and(|s| s.stacks.contains_key(name));
        if desired
            || self.parts.status.get(name).is_some()
            || !self.parts.runtime.containers(name).is_empty()
        {
            Ok(())
        } else {
            Err(CommandError::NotFound(name.to_string()))
        }
    }
}
