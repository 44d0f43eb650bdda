//! The steps a stack's health gate decides: a failed gate's one rollback, an
//! open gate's wait, deadline and failures.

use std::time::{Duration, Instant};

use super::{Step, Wait, report};
use crate::history::GateFailure;
use crate::reconcile::assess::{Divergence, Verdict};
use crate::reconcile::gate::GateState;
use crate::reconcile::memory::Memory;
use crate::status::Status;

/// How long after compose returned a container may still look missing or not
/// started in the runtime cache, whose events can lag the engine's answer.
pub(super) const CACHE_LAG: Duration = Duration::from_secs(5);

/// What an apply's health gate is judged by.
pub(super) struct Gating<'a> {
    pub(super) stack_hash: &'a str,
    pub(super) timeout: Duration,
    pub(super) rollback_to: Option<&'a str>,
}

impl Gating<'_> {
    /// The step the gate decides, if it decides one: a failed gate (a rollback
    /// once, then reported, or applied again on a sync), and an open gate's
    /// wait, deadline and failures.
    pub(super) fn step(
        &self,
        verdict: &Verdict,
        memory: &mut Memory,
        now: Instant,
    ) -> Option<Step> {
        let stack_hash = self.stack_hash;
        let gate = memory.gate.of(stack_hash)?.clone();
        match gate {
            GateState::Failed {
                failure,
                reason,
                rollback_tried,
                ..
            } => Some(self.failed(failure, reason, rollback_tried, memory)),
            GateState::Open { since, gated, .. } => self.open(verdict, since, gated, memory, now),
            GateState::Passed { .. } => None,
        }
    }

    /// A failed gate: a rollback once, where one is on; then reported, or
    /// applied again on a sync.
    fn failed(
        &self,
        failure: GateFailure,
        reason: String,
        rollback_tried: bool,
        memory: &mut Memory,
    ) -> Step {
        if memory.released {
            return Step::Apply {
                cause: Divergence::Desired,
                detail: "a sync asked for the revision whose health gate failed".into(),
            };
        }
        match self.rollback_to {
            Some(revision) if !rollback_tried && memory.gate.claim_rollback() => Step::RollBack {
                revision: revision.to_string(),
                failure,
                reason,
            },
            // Failed stays failed, also when a restarted container runs again
            // for a while, until Git changes the stack or a sync.
            _ => report(Status::Failed, Some(reason), Wait::ForChange),
        }
    }

    /// An open gate (since compose returned at `since`): its wait, deadline
    /// and failures; `None` when the verdict is not the gate's business.
    fn open(
        &self,
        verdict: &Verdict,
        since: Instant,
        gated: bool,
        memory: &mut Memory,
        now: Instant,
    ) -> Option<Step> {
        match verdict {
            Verdict::Settling {
                detail,
                starting_only,
            } => {
                let deadline = since + self.timeout;
                Some(if now >= deadline {
                    let why = format!(
                        "not healthy {}s after the apply: {detail}",
                        self.timeout.as_secs()
                    );
                    self.fail(memory, GateFailure::Timeout, &why, since)
                } else if gated && !starting_only {
                    self.fail(memory, GateFailure::Unhealthy, detail, since)
                } else {
                    let waiting = Some(format!("waiting for {detail}"));
                    report(Status::Syncing, waiting, Wait::Poll(deadline - now))
                })
            }
            Verdict::NeedsApply {
                cause: Divergence::Drift,
                exited: true,
                detail,
            } if gated => Some(self.fail(memory, GateFailure::Exited, detail, since)),
            // A container missing or not started just after compose returned
            // is mostly the runtime cache not having read the engine's events
            // yet: wait for them rather than apply again. Later it is drift.
            Verdict::NeedsApply {
                exited: false,
                detail,
                ..
            } if now < since + CACHE_LAG => {
                let waiting = Some(format!("waiting for {detail}"));
                Some(report(
                    Status::Syncing,
                    waiting,
                    Wait::Poll(since + CACHE_LAG - now),
                ))
            }
            _ => None,
        }
    }

    /// The gate opened at `opened` failed for `why`: reported now; a rollback,
    /// if any, on the next pass.
    fn fail(&self, memory: &mut Memory, failure: GateFailure, why: &str, opened: Instant) -> Step {
        let reason = memory.gate.fail(self.stack_hash, failure, why, opened);
        Step::GateFailed {
            failure,
            reason,
            rolls_back: self.rollback_to.is_some(),
        }
    }
}
