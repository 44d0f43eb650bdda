//! One history entry and its vocabulary.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::labels::Synced;
use crate::named::named_enum;
use crate::status::Outcome;

named_enum! {
    /// Why a stack was changed.
    pub enum Cause {
        /// Git changed the stack (or it was never deployed, or it left Git).
        Git = "git",
        /// The runtime drifted from what was applied.
        Drift = "drift",
        /// An operator asked (a plan's apply, a sync, an acknowledgement).
        Manual = "manual",
        /// A failed health gate brought back the last good revision.
        Rollback = "rollback",
    }
}

named_enum! {
    /// What woke the change, as far as the reconciler knows.
    pub enum Trigger {
        /// A Git refresh (poll, webhook or `POST /api/refresh`: the reconciler
        /// sees only the new snapshot, not which of them made it).
        Refresh = "refresh",
        /// A Docker event of the stack's containers.
        DockerEvent = "docker-event",
        /// The periodic resync (every stack, now and then).
        Resync = "resync",
        /// `POST /api/stacks/{name}/sync` or `/ack`.
        Sync = "sync",
        /// `POST /api/stacks/{name}/apply` (a plan) or `/rollback`.
        Api = "api",
        /// The health gate of the previous apply failed.
        HealthGate = "health-gate",
        /// The previous `compose up` of the same revision failed: tried again
        /// after its backoff.
        Retry = "retry",
    }
}

named_enum! {
    /// What was done to the stack.
    pub enum Operation {
        /// `compose up` at a revision.
        Apply = "apply",
        /// `compose down`.
        Remove = "remove",
        /// `compose up` at a past revision.
        Rollback = "rollback",
    }
}

named_enum! {
    /// A health gate's verdict on an apply or rollback.
    pub enum GateResult {
        /// Every container ran, healthy where checked.
        Passed = "passed",
        /// A container exited or turned unhealthy, or the timeout passed.
        Failed = "failed",
    }
}

named_enum! {
    /// How a health gate failed: the `reason` label of `dockercd_rollbacks_total`.
    pub enum GateFailure {
        /// A container runs but is unhealthy, restarting or paused.
        Unhealthy = "unhealthy",
        /// A container exited, or is missing right after the apply.
        Exited = "exited",
        /// Not every container was healthy within the health timeout.
        Timeout = "timeout",
    }
}

/// The verdict of the gate of the apply of `stack_hash`, for its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateVerdict {
    /// The `stack_hash` whose gate it is.
    pub stack_hash: String,
    /// Passed or failed.
    pub gate: GateResult,
    /// How it failed.
    pub failure: Option<GateFailure>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One apply, removal or rollback; the JSON of `GET /api/stacks/{name}/history`
/// and of the stored record (JSON: a field added later reads as `null` from
/// older records).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Commit applied (for a removal: the one the removed containers ran).
    pub revision: Option<String>,
    /// `stack_hash` applied (for a removal: that of the removed containers).
    pub stack_hash: Option<String>,
    /// Why the stack was changed: Git, drift, an operator or a rollback.
    pub cause: Cause,
    /// What woke it.
    pub trigger: Trigger,
    /// What was done.
    pub action: Operation,
    /// RFC 3339 start.
    pub started_at: String,
    /// From the start until compose returned and the result was checked.
    pub duration_ms: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed.
    pub error: Option<String>,
    /// The verdict of the apply's health gate; `null` while it is open, for a
    /// removal, and in records written before gates were recorded.
    #[serde(default)]
    pub gate: Option<GateResult>,
    /// How its gate failed (`unhealthy`, `exited`, `timeout`); `null` otherwise.
    #[serde(default)]
    pub gate_reason: Option<GateFailure>,
}

impl Entry {
    /// An apply or rollback that ran and passed its health gate: a revision to roll back to.
    pub fn passed(&self) -> bool {
        self.action != Operation::Remove
            && self.outcome == Outcome::Success
            && self.gate == Some(GateResult::Passed)
    }

    /// When its compose returned (its gate opened): started plus its duration.
    pub fn ended_at(&self) -> Option<Timestamp> {
        let started = self.started_at.parse::<Timestamp>().ok()?;
        Some(started + SignedDuration::from_millis(i64::try_from(self.duration_ms).ok()?))
    }

    /// How long ago its compose returned.
    pub fn returned_ago(&self) -> Option<Duration> {
        Duration::try_from(Timestamp::now().duration_since(self.ended_at()?)).ok()
    }

    /// Whether it is the entry of the apply labelled `synced_at` (the labels
    /// are written just before the run starts; a little slack for clocks).
    pub fn is_of_apply(&self, synced_at: &str) -> bool {
        match (
            self.started_at.parse::<Timestamp>(),
            synced_at.parse::<Timestamp>(),
        ) {
            (Ok(started), Ok(synced)) => started >= synced - SignedDuration::from_secs(5),
            _ => false,
        }
    }

    /// Takes `verdict` when it is about this entry (an apply or rollback of its
    /// `stack_hash` without a verdict yet): a failed gate makes it a failure
    /// with the gate's reason. Returns whether it changed.
    pub fn settle(&mut self, verdict: &GateVerdict) -> bool {
        let ours = self.action != Operation::Remove
            && self.gate.is_none()
            && self.stack_hash.as_deref() == Some(verdict.stack_hash.as_str());
        if ours {
            self.gate = Some(verdict.gate);
            self.gate_reason = verdict.failure;
            if verdict.gate == GateResult::Failed {
                self.outcome = Outcome::Failure;
                self.error = self.error.take().or_else(|| verdict.error.clone());
            }
        }
        ours
    }
}

/// An apply, removal or rollback under way; [`Run::finish`] makes its entry.
#[derive(Debug, Clone)]
pub struct Run {
    action: Operation,
    cause: Cause,
    trigger: Trigger,
    revision: Option<String>,
    stack_hash: Option<String>,
    started_at: Timestamp,
    started: Instant,
    verdict: Option<GateVerdict>,
}

impl Run {
    /// Starts now; `target` is what it applies (or, for a removal, removes).
    pub fn start(
        action: Operation,
        (cause, trigger): (Cause, Trigger),
        target: Option<&Synced>,
    ) -> Self {
        Self {
            action,
            cause,
            trigger,
            revision: target.map(|t| t.revision.clone()),
            stack_hash: target.map(|t| t.stack_hash.clone()),
            started_at: Timestamp::now(),
            started: Instant::now(),
            verdict: None,
        }
    }

    /// What it does: an apply, a rollback or a removal.
    pub fn operation(&self) -> Operation {
        self.action
    }

    /// Why it runs.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// The commit it applies (or, for a removal, removes).
    pub fn revision(&self) -> Option<&str> {
        self.revision.as_deref()
    }

    /// The `stack_hash` it applies or removes.
    pub fn stack_hash(&self) -> Option<&str> {
        self.stack_hash.as_deref()
    }

    /// Keeps the verdict of its own gate, reached before it ended (an apply
    /// ready, or failed, as compose returned), for its entry.
    pub fn settle(&mut self, verdict: GateVerdict) {
        self.verdict = Some(verdict);
    }

    /// Its entry, ended now: a success without `error`, else a failure, with
    /// its gate's verdict if one was reached.
    pub fn finish(self, error: Option<String>) -> Entry {
        let mut entry = Entry {
            revision: self.revision,
            stack_hash: self.stack_hash,
            cause: self.cause,
            trigger: self.trigger,
            action: self.action,
            started_at: self.started_at.to_string(),
            duration_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            outcome: if error.is_none() {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            error,
            gate: None,
            gate_reason: None,
        };
        if let Some(verdict) = &self.verdict {
            entry.settle(verdict);
        }
        entry
    }
}
