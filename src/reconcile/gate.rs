//! The health gate of a stack's last apply, as one state machine: it opens when
//! compose returns, and passes once every container ran and was healthy, or
//! fails (an exit, an unhealthy container, the deadline). Only its own methods
//! change it; [`HealthGate::recall`] is the one rule for what it is after a
//! restart of docker-cd.

use std::time::{Duration, Instant};

use super::assess::Verdict;
use crate::history::{self, GateFailure, GateResult};

/// The longest docker-cd may have been down for an apply's gate, still open
/// when it stopped, to go on after the restart; after a longer stop (a host
/// down for the night, an upgrade weeks after the apply) nothing is known of
/// what happened meanwhile, and the stack is judged as it is now.
const DOWNTIME: Duration = Duration::from_secs(600);

/// Where the last apply of a stack stands between `compose up` and `synced`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthGate {
    state: Option<GateState>,
}

/// The states of a [`HealthGate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateState {
    /// Waiting for its containers to run and pass their healthchecks.
    Open {
        /// The `stack_hash` applied.
        stack_hash: String,
        /// When compose returned.
        since: Instant,
        /// A Git change or an operator's apply: an exit or an unhealthy
        /// container fails it at once. A drift revert is not gated: the
        /// crash-loop budget bounds it.
        gated: bool,
    },
    /// Every container ran and was healthy once.
    Passed {
        /// The `stack_hash` applied.
        stack_hash: String,
    },
    /// Failed: left alone until Git changes the stack or a sync.
    Failed {
        /// The `stack_hash` applied.
        stack_hash: String,
        /// How it failed, for the metrics and events.
        failure: GateFailure,
        /// Why it failed, for the status.
        reason: String,
        /// When the gate opened (compose returned): the time to the verdict.
        opened: Instant,
        /// A rollback was asked for once already: never twice for one failure.
        rollback_tried: bool,
    },
}

impl GateState {
    /// The `stack_hash` the gate is about.
    pub fn stack_hash(&self) -> &str {
        match self {
            Self::Open { stack_hash, .. }
            | Self::Passed { stack_hash }
            | Self::Failed { stack_hash, .. } => stack_hash,
        }
    }
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

/// A health gate's verdict, reached in one pass (see [`HealthGate::verdict_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// The `stack_hash` whose gate it is.
    pub stack_hash: String,
    /// How and why it failed; `None`: it passed.
    pub failure: Option<(GateFailure, String)>,
    /// From the gate's opening (compose returned) to the verdict.
    pub took: Duration,
}

/// What a restart can know of the running apply, for [`HealthGate::recall`].
#[derive(Debug, Clone)]
pub struct Recall<'a> {
    /// The `stack_hash` the running containers' labels name.
    pub stack_hash: &'a str,
    /// How long ago the labels say that apply was written (before compose ran).
    pub labelled_ago: Option<Duration>,
    /// The history's entry of that very apply, if it has one.
    pub entry: Option<&'a history::Entry>,
    /// Whether the stack runs as desired now.
    pub in_sync: bool,
    /// The stack's health timeout.
    pub timeout: Duration,
}

impl HealthGate {
    /// A gate in `state` (tests set up a gate this way).
    #[cfg(test)]
    pub fn with(state: GateState) -> Self {
        Self { state: Some(state) }
    }

    /// The gate's state; `None` before any apply of ours was judged.
    pub fn state(&self) -> Option<&GateState> {
        self.state.as_ref()
    }

    /// The gate's state if it is about `stack_hash`.
    pub fn of(&self, stack_hash: &str) -> Option<&GateState> {
        self.state.as_ref().filter(|g| g.stack_hash() == stack_hash)
    }

    /// Whether the gate of `stack_hash` passed.
    pub fn passed(&self, stack_hash: &str) -> bool {
        matches!(self.of(stack_hash), Some(GateState::Passed { .. }))
    }

    /// Whether the gate (of whatever `stack_hash`) has failed.
    pub fn failed(&self) -> bool {
        matches!(self.state, Some(GateState::Failed { .. }))
    }

    /// Forgets the gate: a fresh apply, or the stack left Git.
    pub fn clear(&mut self) {
        self.state = None;
    }

    /// Every container of `stack_hash` runs and is healthy.
    pub fn pass(&mut self, stack_hash: &str) {
        self.state = Some(GateState::Passed {
            stack_hash: stack_hash.to_string(),
        });
    }

    /// The gate of `stack_hash`, open since `opened`, failed for `why`;
    /// returns the reason reported.
    pub fn fail(
        &mut self,
        stack_hash: &str,
        failure: GateFailure,
        why: &str,
        opened: Instant,
    ) -> String {
        let reason = format!("health gate failed: {why}");
        self.state = Some(GateState::Failed {
            stack_hash: stack_hash.to_string(),
            failure,
            reason: reason.clone(),
            opened,
            rollback_tried: false,
        });
        reason
    }

    /// Takes the failed gate's one rollback; `false` when it was taken.
    pub fn claim_rollback(&mut self) -> bool {
        match &mut self.state {
            Some(GateState::Failed { rollback_tried, .. }) if !*rollback_tried => {
                *rollback_tried = true;
                true
            }
            _ => false,
        }
    }

    /// A rollback that could not start (lock taken, Docker away, revision
    /// unreadable) may be tried again on a later pass.
    pub fn rollback_not_started(&mut self) {
        if let Some(GateState::Failed { rollback_tried, .. }) = &mut self.state {
            *rollback_tried = false;
        }
    }

    /// The gate as compose returns at `now` from an apply of `stack_hash`:
    /// the open gate of that apply (a revert within it), or a new one, so a
    /// verdict reached at once took no time.
    pub fn opening(&self, stack_hash: &str, gated: bool, now: Instant) -> HealthGate {
        let open = match self.of(stack_hash) {
            Some(open @ GateState::Open { .. }) => open.clone(),
            _ => GateState::Open {
                stack_hash: stack_hash.to_string(),
                since: now,
                gated,
            },
        };
        HealthGate { state: Some(open) }
    }

    /// How an apply of `stack_hash` ended, from the assessment made after
    /// compose returned at `now`. `gated`: a Git change or an operator's apply
    /// (see [`GateState::Open`]).
    pub fn after_apply(
        &mut self,
        verdict: &Verdict,
        stack_hash: &str,
        gated: bool,
        now: Instant,
    ) -> Applied {
        // A revert during a gated apply's gate belongs to that gate: still
        // gated, with the same deadline.
        let (gated, since) = match &self.state {
            Some(GateState::Open {
                stack_hash: open,
                since,
                gated: true,
            }) if open == stack_hash => (true, *since),
            _ => (gated, now),
        };
        match verdict {
            Verdict::InSync => {
                self.pass(stack_hash);
                Applied::Synced
            }
            Verdict::Settling { .. } => {
                self.state = Some(GateState::Open {
                    stack_hash: stack_hash.to_string(),
                    since,
                    gated,
                });
                Applied::Settling
            }
            Verdict::NeedsApply { detail, .. } if gated => {
                // Retries report this instead of applying the same files again.
                let failure = GateFailure::Exited;
                Applied::NotConverged(self.fail(stack_hash, failure, detail, since))
            }
            Verdict::NeedsApply { detail, .. } => Applied::NotConverged(format!(
                "compose up finished but the stack does not match: {detail}"
            )),
        }
    }

    /// The verdict this gate reached since it was `before`, at `now`. Passing
    /// needs an open gated gate before; failing, only a new failure (a gate
    /// recalled open after a restart can fail in the pass that recalls it).
    pub fn verdict_since(&self, before: &HealthGate, now: Instant) -> Option<Settled> {
        match (&before.state, self.state.as_ref()?) {
            // A drift revert is not gated: it reaching its containers again
            // is no verdict on a revision (that had its own gate).
            (
                Some(GateState::Open {
                    stack_hash,
                    since,
                    gated: true,
                }),
                GateState::Passed { stack_hash: passed },
            ) if stack_hash == passed => Some(Settled {
                stack_hash: passed.clone(),
                failure: None,
                took: now.saturating_duration_since(*since),
            }),
            (
                Some(GateState::Failed { stack_hash, .. }),
                GateState::Failed {
                    stack_hash: again, ..
                },
            ) if stack_hash == again => None,
            (
                _,
                GateState::Failed {
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

    /// After a restart nothing is remembered of a gate: this is the one rule
    /// for what it becomes, applied once per running `stack_hash` while no
    /// gate of it is remembered.
    ///
    /// The history wins over the labels, because only the history keeps a
    /// verdict and when compose returned: a gate that failed stays failed (not
    /// a drift to revert, nor synced once its containers recover; rolled back
    /// only if the stack is not in sync now), one that passed stays passed.
    /// Without a verdict the gate was open when docker-cd stopped and goes on
    /// from when compose returned (the history's end of the apply, else the
    /// labels' time, when the apply has no entry: the history store was
    /// unreadable, or docker-cd was killed before writing it), provided that
    /// was less than the timeout plus [`DOWNTIME`] ago; its deadline may have
    /// passed meanwhile. Older, and the stack is judged as it is now.
    pub fn recall(&mut self, recall: &Recall<'_>, now: Instant) {
        if self.of(recall.stack_hash).is_some() {
            return;
        }
        let stack_hash = recall.stack_hash.to_string();
        let reopen = |open: bool, returned_ago: Option<Duration>| {
            returned_ago
                .filter(|ago| open && *ago < recall.timeout + DOWNTIME)
                .and_then(|ago| now.checked_sub(ago))
                .map(|since| GateState::Open {
                    stack_hash: recall.stack_hash.to_string(),
                    since,
                    gated: true,
                })
        };
        let recalled = match recall.entry {
            Some(entry) if entry.gate == Some(GateResult::Passed) => {
                Some(GateState::Passed { stack_hash })
            }
            Some(entry) if entry.gate == Some(GateResult::Failed) => Some(GateState::Failed {
                stack_hash,
                // Records from before the kind was kept say only why.
                failure: entry.gate_reason.unwrap_or(GateFailure::Exited),
                reason: entry
                    .error
                    .clone()
                    .unwrap_or_else(|| "health gate failed".into()),
                opened: now,
                // Running well now: no rollback of what works.
                rollback_tried: recall.in_sync,
            }),
            // A drift revert keeps the labels of the apply it repairs: it
            // opened no gate of its own; nor did an apply that failed.
            Some(entry) => reopen(
                entry.cause != history::Cause::Drift
                    && entry.outcome == crate::status::Outcome::Success,
                entry.returned_ago(),
            ),
            // Without an entry to settle, the labels reopen only the gate of a
            // stack not running as desired.
            None => reopen(!recall.in_sync, recall.labelled_ago),
        };
        if let Some(state) = recalled {
            tracing::debug!(?state, "gate recalled after a restart");
            self.state = Some(state);
        }
    }
}

#[cfg(test)]
mod tests;
