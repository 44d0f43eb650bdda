//! The reconcile rules as a pure function: from what a pass observed, the
//! settings and the stack's memory, the one [`Step`] to take. No I/O and no
//! clock (the caller passes `now`), so every rule is a unit test.

use std::time::{Duration, Instant};

use super::args::DriftPolicy;
use super::assess::{Divergence, Verdict};
use super::memory::Memory;
use crate::history::GateFailure;
use crate::status::Status;

mod attempts;
mod gating;

use attempts::{DRIFT_WINDOW, MAX_DRIFT_REVERTS, after_failed_up, budget_spent};
pub use attempts::{
    after_apply, begin, begin_rollback, recall_failed_up, recall_reverts, up_failed,
};
use gating::Gating;

/// How often a stack whose healthchecks are starting outside a gate is looked
/// at again (health events usually come first).
const SETTLE_POLL: Duration = Duration::from_secs(2);
/// The settings the reconcile follows: what may be done without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// `RECONCILE_ENABLED`.
    pub reconcile_enabled: bool,
    /// `RECONCILE_REMOVE_ENABLED`.
    pub remove_enabled: bool,
    /// `DRIFT_POLICY`.
    pub drift_policy: DriftPolicy,
    /// `HEALTH_TIMEOUT`: how long an apply may take to run and pass its healthchecks.
    pub health_timeout: Duration,
    /// `ROLLBACK_ENABLED`: a failed gate re-applies the last revision that passed.
    pub rollback_enabled: bool,
}

/// What one pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation<'a> {
    /// In Git, but not deployable at this revision.
    Invalid {
        /// Why the stack cannot be deployed at this revision.
        error: &'a str,
    },
    /// In Git and assessed against its containers.
    Desired {
        /// The assessment's verdict.
        verdict: &'a Verdict,
        /// The desired `stack_hash`.
        stack_hash: &'a str,
        /// Whether any container of the stack exists.
        has_containers: bool,
        /// The stack's own health timeout (its label), if it sets one.
        health_timeout: Option<Duration>,
        /// Where a failed gate rolls back to (`ROLLBACK_ENABLED` and a revision
        /// that passed its gate before); `None`: no rollback.
        rollback_to: Option<&'a str>,
        /// This is a rollback's target, running because the desired
        /// `stack_hash` (given here) failed its gate.
        rolled_back_from: Option<&'a str>,
        /// That target is an operator's rollback: held, `synced`, not `rolled-back`.
        held: bool,
        /// Why an automatic rollback ran, as its labels say.
        rollback_reason: Option<&'a str>,
    },
    /// No longer in Git.
    Gone {
        /// Whether any container of the stack still exists.
        has_containers: bool,
    },
}

/// When to look at the stack again without an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Only when something changes (an informer event, a resync).
    ForChange,
    /// After this long.
    Poll(Duration),
}

/// What the reconciler does this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Runs nothing: records the status (and error) and waits.
    Report {
        /// New status.
        status: Status,
        /// Why the stack is failed or drifted.
        error: Option<String>,
        /// When to look again.
        wait: Wait,
    },
    /// Not deployable at this revision: `failed` until Git changes it.
    Invalid(String),
    /// A crash loop: `failed`, left alone until Git changes the stack or a sync.
    GiveUp(String),
    /// The apply's health gate failed: `failed`, left alone until Git changes
    /// the stack or a sync; or, where a rollback follows on the next pass,
    /// `syncing` until it has run.
    GateFailed {
        /// How the gate failed: a timeout, an exit, unhealthy.
        failure: GateFailure,
        /// Why, for the status.
        reason: String,
        /// A rollback follows.
        rolls_back: bool,
    },
    /// The apply's health gate failed: apply `revision` (the last one that
    /// passed) instead.
    RollBack {
        /// The commit to read the stack from.
        revision: String,
        /// How the gate failed, for the metrics.
        failure: GateFailure,
        /// Why, for the status and history.
        reason: String,
    },
    /// Runs `compose up`.
    Apply {
        /// Git change or drift.
        cause: Divergence,
        /// What differs, for the log.
        detail: String,
    },
    /// Runs `compose up` again after a failed one, its backoff passed.
    Retry {
        /// This try's number (2 for the first retry).
        try_number: u32,
        /// Why the last try failed, for the log.
        error: String,
    },
    /// Runs `compose down`.
    Remove,
    /// Neither desired nor running: the stack's record goes.
    Forget,
}

/// The step for one pass. `requested` is an apply asked through the API: it
/// runs whatever the settings and the verdict say (the operator saw the plan).
pub fn decide(
    observation: Observation<'_>,
    requested: bool,
    rules: Rules,
    memory: &mut Memory,
    now: Instant,
) -> Step {
    let step = step_for(observation, requested, rules, memory, now);
    // An operator's sync or ack is for the pass it wakes: one that finds
    // nothing to apply is used up, not kept for whatever changes later (it
    // would then override RECONCILE_ENABLED or DRIFT_POLICY unasked).
    let applies = matches!(
        step,
        Step::Apply { .. } | Step::Retry { .. } | Step::RollBack { .. } | Step::Remove
    );
    if !applies {
        memory.granted = false;
        memory.released = false;
    }
    step
}

fn step_for(
    observation: Observation<'_>,
    requested: bool,
    rules: Rules,
    memory: &mut Memory,
    now: Instant,
) -> Step {
    match observation {
        Observation::Invalid { error } => Step::Invalid(error.to_string()),
        Observation::Desired {
            verdict,
            stack_hash,
            has_containers,
            health_timeout,
            rollback_to,
            rolled_back_from,
            held,
            rollback_reason,
        } => {
            if requested {
                return requested_apply(verdict);
            }
            if let Some(step) = after_failed_up(memory, verdict, stack_hash, rules, now) {
                return step;
            }
            let timeout = health_timeout.unwrap_or(rules.health_timeout);
            let gate = Gating {
                stack_hash,
                timeout,
                rollback_to,
            };
            if let Some(step) = gate.step(verdict, memory, now) {
                return step;
            }
            match verdict {
                Verdict::InSync if held => in_sync(memory, stack_hash, None),
                Verdict::InSync => in_sync(
                    memory,
                    stack_hash,
                    rolled_back_from.map(|failed| (failed, rollback_reason)),
                ),
                Verdict::Settling {
                    detail,
                    starting_only: true,
                } => {
                    let waiting = Some(format!("waiting for {detail}"));
                    report(Status::Syncing, waiting, Wait::Poll(SETTLE_POLL))
                }
                // Health events wake the stack when it recovers.
                Verdict::Settling { detail, .. } => report(
                    Status::Failed,
                    Some(format!("not ready: {detail}")),
                    Wait::ForChange,
                ),
                Verdict::NeedsApply { cause, detail, .. } => {
                    needs_apply(*cause, detail, has_containers, rules, memory, now)
                }
            }
        }
        Observation::Gone { has_containers } => {
            memory.gate.clear();
            memory.recalled = None;
            if !has_containers {
                Step::Forget
            } else if !requested
                && (!rules.remove_enabled || (!rules.reconcile_enabled && !memory.granted))
            {
                // A sync grant stands in for RECONCILE_ENABLED, never for removal.
                report(Status::Orphaned, None, Wait::ForChange)
            } else {
                Step::Remove
            }
        }
    }
}

/// Everything runs and is healthy: the gate passed. `synced`, or
/// `rolled-back` when this is a rollback's target, replacing the `stack_hash`
/// given (which failed as the reason says, where the labels say it).
fn in_sync(
    memory: &mut Memory,
    stack_hash: &str,
    rolled_back: Option<(&str, Option<&str>)>,
) -> Step {
    memory.gate.pass(stack_hash);
    let Some((failed, reason)) = rolled_back else {
        return report(Status::Synced, None, Wait::ForChange);
    };
    let why = match reason {
        Some(reason) => reason.to_string(),
        None => format!("stack_hash {} failed its health gate", short(failed)),
    };
    let message = format!("{why}; the last revision that passed runs");
    report(Status::RolledBack, Some(message), Wait::ForChange)
}

/// An apply asked through the API: it runs whatever the verdict and settings say.
fn requested_apply(verdict: &Verdict) -> Step {
    let cause = match verdict {
        Verdict::NeedsApply { cause, .. } => *cause,
        _ => Divergence::Desired,
    };
    Step::Apply {
        cause,
        detail: "requested through the API".into(),
    }
}

/// The first 12 characters of a hash, for messages.
pub(super) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn needs_apply(
    cause: Divergence,
    detail: &str,
    has_containers: bool,
    rules: Rules,
    memory: &mut Memory,
    now: Instant,
) -> Step {
    let granted = memory.granted;
    if !rules.reconcile_enabled && !granted {
        return if has_containers {
            let error = format!("out of sync (automatic apply is off): {detail}");
            report(Status::Drifted, Some(error), Wait::ForChange)
        } else {
            report(Status::Missing, None, Wait::ForChange)
        };
    }
    if cause == Divergence::Drift && !granted {
        if rules.drift_policy == DriftPolicy::Flag {
            return report(Status::Drifted, Some(detail.to_string()), Wait::ForChange);
        }
        if budget_spent(memory, now) {
            return Step::GiveUp(format!(
                "{detail}: restarted {MAX_DRIFT_REVERTS} times within {}s and it keeps stopping; left alone until the stack changes in Git or a sync is requested",
                DRIFT_WINDOW.as_secs()
            ));
        }
    }
    Step::Apply {
        cause,
        detail: detail.to_string(),
    }
}

pub(super) fn report(status: Status, error: Option<String>, wait: Wait) -> Step {
    Step::Report {
        status,
        error,
        wait,
    }
}

#[cfg(test)]
mod tests;
