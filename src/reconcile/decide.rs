//! The reconcile rules as a pure function: from what a pass observed, the
//! settings and the stack's memory, the one [`Step`] to take. No I/O and no
//! clock (the caller passes `now`), so every rule is a unit test.

use std::time::{Duration, Instant};

use super::args::DriftPolicy;
use super::assess::{Divergence, Verdict};
use super::memory::{FailedUp, HealthGate, Memory};
use crate::history::GateFailure;
use crate::status::Status;

/// How often a stack whose healthchecks are starting outside a gate is looked
/// at again (health events usually come first).
const SETTLE_POLL: Duration = Duration::from_secs(2);
/// How long after compose returned a container may still look missing or not
/// started in the runtime cache, whose events can lag the engine's answer.
const CACHE_LAG: Duration = Duration::from_secs(5);
/// Drift reverts allowed per stack within [`DRIFT_WINDOW`]: a container that
/// keeps stopping is a crash loop, and re-running compose for it forever is the
/// redeploy loop operators of other tools complain about.
const MAX_DRIFT_REVERTS: usize = 5;
/// Window for [`MAX_DRIFT_REVERTS`].
const DRIFT_WINDOW: Duration = Duration::from_secs(300);
/// Wait before the first new try of an apply whose `compose up` failed; it
/// doubles with each failure, up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(5);
/// The longest wait between two tries of a failing `compose up`.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

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
        /// Why.
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
        /// How long ago the labels say `stack_hash` was applied: after a
        /// restart, an apply still within its timeout has its gate reopened.
        applied_ago: Option<Duration>,
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
        /// How.
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

/// How an apply ended, seen by a fresh assessment after compose returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Every service ready.
    Synced,
    /// Deployed, waiting for healthchecks.
    Settling,
    /// Compose succeeded, yet the runtime does not match.
    NotConverged(String),
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
    match observation {
        Observation::Invalid { error } => Step::Invalid(error.to_string()),
        Observation::Desired {
            verdict,
            stack_hash,
            has_containers,
            health_timeout,
            applied_ago,
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
            reopen_after_restart(memory, verdict, stack_hash, applied_ago, timeout, now);
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
            memory.gate = None;
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
    memory.gate = Some(HealthGate::Passed {
        stack_hash: stack_hash.to_string(),
    });
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

/// What an apply's health gate is judged by.
struct Gating<'a> {
    stack_hash: &'a str,
    timeout: Duration,
    rollback_to: Option<&'a str>,
}

impl Gating<'_> {
    /// The step the gate decides, if it decides one: a failed gate (a rollback
    /// once, then reported, or applied again on a sync), and an open gate's
    /// wait, deadline and failures.
    fn step(&self, verdict: &Verdict, memory: &mut Memory, now: Instant) -> Option<Step> {
        let stack_hash = self.stack_hash;
        let gate = memory
            .gate
            .clone()
            .filter(|g| g.stack_hash() == stack_hash)?;
        match gate {
            HealthGate::Failed {
                failure,
                reason,
                rollback_tried,
                ..
            } => Some(self.failed(failure, reason, rollback_tried, memory)),
            HealthGate::Open { since, gated, .. } => self.open(verdict, since, gated, memory, now),
            HealthGate::Passed { .. } => None,
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
            Some(revision) if !rollback_tried => {
                if let Some(HealthGate::Failed { rollback_tried, .. }) = &mut memory.gate {
                    *rollback_tried = true;
                }
                Step::RollBack {
                    revision: revision.to_string(),
                    failure,
                    reason,
                }
            }
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
        let reason = fail_gate(memory, self.stack_hash, failure, why, opened);
        Step::GateFailed {
            failure,
            reason,
            rolls_back: self.rollback_to.is_some(),
        }
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

/// A stack whose last `compose up` failed: what it left (containers created
/// and never started, or none) is that failure, not drift, so no crash-loop
/// budget is spent on it. It is tried again once its backoff passed, and
/// reported `failed` with compose's error meanwhile; `None` once it runs, Git
/// changed the stack, or a sync asks for an apply now.
fn after_failed_up(
    memory: &mut Memory,
    verdict: &Verdict,
    stack_hash: &str,
    rules: Rules,
    now: Instant,
) -> Option<Step> {
    let failed = memory.failed_up.as_ref()?;
    if failed.stack_hash != stack_hash || matches!(verdict, Verdict::InSync) {
        memory.failed_up = None;
        return None;
    }
    if memory.granted {
        // A sync: the operator's apply, recorded as such, not a retry.
        return None;
    }
    let due = rules.reconcile_enabled && now >= failed.retry_at;
    Some(if due {
        Step::Retry {
            try_number: failed.tries + 1,
            error: failed.error.clone(),
        }
    } else {
        let wait = if rules.reconcile_enabled {
            Wait::Poll(failed.retry_at.saturating_duration_since(now))
        } else {
            Wait::ForChange
        };
        report(Status::Failed, Some(failed.error.clone()), wait)
    })
}

/// `compose up` of `stack_hash` failed with `error`: the next try waits
/// 5 s, doubling with each failure in a row, at most 5 min.
pub fn up_failed(memory: &mut Memory, stack_hash: &str, error: &str, now: Instant) {
    let tries = match &memory.failed_up {
        Some(last) if last.stack_hash == stack_hash => last.tries + 1,
        _ => 1,
    };
    let delay = FIRST_RETRY_DELAY
        .saturating_mul(1 << (tries - 1).min(16))
        .min(MAX_RETRY_DELAY);
    memory.failed_up = Some(FailedUp {
        stack_hash: stack_hash.to_string(),
        error: error.to_string(),
        tries,
        retry_at: now + delay,
    });
}

/// After a restart nothing is remembered: an apply of `stack_hash` whose labels
/// say it is younger than `timeout` and not ready yet gets its gate back, with
/// the time it has left, rather than a new apply.
fn reopen_after_restart(
    memory: &mut Memory,
    verdict: &Verdict,
    stack_hash: &str,
    applied_ago: Option<Duration>,
    timeout: Duration,
    now: Instant,
) {
    let remembered = memory
        .gate
        .as_ref()
        .is_some_and(|g| g.stack_hash() == stack_hash);
    let not_ready = !matches!(verdict, Verdict::InSync);
    if let (false, true, Some(ago)) = (remembered, not_ready, applied_ago)
        && ago < timeout
        && let Some(since) = now.checked_sub(ago)
    {
        memory.gate = Some(HealthGate::Open {
            stack_hash: stack_hash.to_string(),
            since,
            gated: true,
        });
    }
}

/// The gate of `stack_hash`, open since `opened`, failed for `why`; the reason
/// reported.
fn fail_gate(
    memory: &mut Memory,
    stack_hash: &str,
    failure: GateFailure,
    why: &str,
    opened: Instant,
) -> String {
    let reason = format!("health gate failed: {why}");
    memory.gate = Some(HealthGate::Failed {
        stack_hash: stack_hash.to_string(),
        failure,
        reason: reason.clone(),
        opened,
        rollback_tried: false,
    });
    reason
}

/// After a restart the crash-loop budget is where the history left it: the
/// drift reverts it lists since the stack's last fresh start, started `ages`
/// ago, count again while inside the window.
pub fn recall_reverts(memory: &mut Memory, ages: &[Duration], now: Instant) {
    if !memory.reverts.is_empty() {
        return;
    }
    memory.reverts = ages
        .iter()
        .filter(|age| **age < DRIFT_WINDOW)
        .filter_map(|age| now.checked_sub(*age))
        .collect();
}

/// Whether the crash-loop budget is spent; forgets reverts outside the window.
fn budget_spent(memory: &mut Memory, now: Instant) -> bool {
    memory
        .reverts
        .retain(|at| now.saturating_duration_since(*at) < DRIFT_WINDOW);
    memory.given_up |= memory.reverts.len() >= MAX_DRIFT_REVERTS;
    memory.given_up
}

/// Called once an apply or removal really starts (lock held, Docker answering):
/// uses up a grant, and counts a drift revert. A new desired state or an
/// explicit sync starts a fresh budget and a fresh gate; every drift attempt
/// counts, also one whose container exits before compose returns. Returns
/// whether it was such a fresh start.
pub fn begin(cause: Option<Divergence>, memory: &mut Memory, now: Instant) -> bool {
    let granted = std::mem::take(&mut memory.granted);
    memory.released = false;
    let fresh = granted || cause == Some(Divergence::Desired);
    if fresh {
        memory.reverts.clear();
        memory.given_up = false;
        memory.gate = None;
    }
    if cause == Some(Divergence::Drift) {
        memory.reverts.push(now);
    }
    fresh
}

/// Called once an automatic rollback really starts: a fresh gate, like any
/// apply of another revision. A sync asked for after the rollback was decided
/// is kept for the pass after it: it asked for the revision in Git, not this
/// one. An ack is used up: the rollback repairs the stack.
pub fn begin_rollback(memory: &mut Memory, now: Instant) {
    let synced = memory.released;
    begin(Some(Divergence::Desired), memory, now);
    memory.granted |= synced;
    memory.released = synced;
}

/// How an apply of `stack_hash` ended, from the assessment made after compose
/// returned; the apply's gate opens unless it is already passed. `gated`: a Git
/// change or an operator's apply (see [`HealthGate::Open`]).
pub fn after_apply(
    verdict: &Verdict,
    stack_hash: &str,
    gated: bool,
    memory: &mut Memory,
    now: Instant,
) -> Applied {
    // Compose brought it up: what follows is the gate's business, not a retry.
    memory.failed_up = None;
    // A revert during a gated apply's gate belongs to that gate: still gated,
    // with the same deadline.
    let (gated, since) = match &memory.gate {
        Some(HealthGate::Open {
            stack_hash: open,
            since,
            gated: true,
        }) if open == stack_hash => (true, *since),
        _ => (gated, now),
    };
    match verdict {
        Verdict::InSync => {
            memory.gate = Some(HealthGate::Passed {
                stack_hash: stack_hash.to_string(),
            });
            Applied::Synced
        }
        Verdict::Settling { .. } => {
            memory.gate = Some(HealthGate::Open {
                stack_hash: stack_hash.to_string(),
                since,
                gated,
            });
            Applied::Settling
        }
        Verdict::NeedsApply { detail, .. } if gated => {
            // Retries report this instead of applying the same files again.
            let failure = GateFailure::Exited;
            Applied::NotConverged(fail_gate(memory, stack_hash, failure, detail, since))
        }
        Verdict::NeedsApply { detail, .. } => Applied::NotConverged(format!(
            "compose up finished but the stack does not match: {detail}"
        )),
    }
}

/// A gate's verdict, reached by one decision: its gate went from `before` to
/// `after` at `now`. Passing needs an open gate before; failing, only a new
/// failure (a gate reopened after a restart can fail in the pass that reopens it).
pub fn settled(
    before: Option<&HealthGate>,
    after: Option<&HealthGate>,
    now: Instant,
) -> Option<Settled> {
    match (before, after?) {
        (
            Some(HealthGate::Open {
                stack_hash, since, ..
            }),
            HealthGate::Passed { stack_hash: passed },
        ) if stack_hash == passed => Some(Settled {
            stack_hash: passed.clone(),
            failure: None,
            took: now.saturating_duration_since(*since),
        }),
        (
            Some(HealthGate::Failed { stack_hash, .. }),
            HealthGate::Failed {
                stack_hash: again, ..
            },
        ) if stack_hash == again => None,
        (
            _,
            HealthGate::Failed {
                stack_hash,
                failure,
                reason,
                opened,
                ..
            },
        ) => Some(Settled {
            stack_hash: stack_hash.clone(),
            failure: Some((*failure, reason.clone())),
            took: now.saturating_duration_since(*opened),
        }),
        _ => None,
    }
}

/// A health gate's verdict (see [`settled`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The `stack_hash` whose gate it is.
    pub stack_hash: String,
    /// How and why it failed; `None`: it passed.
    pub failure: Option<(GateFailure, String)>,
    /// From the gate's opening (compose returned) to the verdict.
    pub took: Duration,
}

fn report(status: Status, error: Option<String>, wait: Wait) -> Step {
    Step::Report {
        status,
        error,
        wait,
    }
}

#[cfg(test)]
mod tests;
