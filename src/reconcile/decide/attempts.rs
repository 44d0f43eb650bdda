//! What starting and ending an apply changes in a stack's memory: an
//! operator's grant used up, the crash-loop budget of drift reverts, and the
//! retries of a `compose up` that failed.

use std::time::{Duration, Instant};

use super::{Rules, Step, Wait, report};
use crate::reconcile::assess::{Divergence, Verdict};
use crate::reconcile::gate::Applied;
use crate::reconcile::memory::{FailedUp, Memory};
use crate::status::Status;

/// Drift reverts allowed per stack within [`DRIFT_WINDOW`]: a container that
/// keeps stopping is a crash loop, and re-running compose for it forever is the
/// redeploy loop operators of other tools complain about.
pub(super) const MAX_DRIFT_REVERTS: usize = 5;
/// Window for [`MAX_DRIFT_REVERTS`].
pub(super) const DRIFT_WINDOW: Duration = Duration::from_secs(300);
/// Wait before the first new try of an apply whose `compose up` failed; it
/// doubles with each failure, up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(5);
/// The longest wait between two tries of a failing `compose up`.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// A stack whose last `compose up` failed: what it left (containers created
/// and never started, or none) is that failure, not drift, so no crash-loop
/// budget is spent on it. It is tried again once its backoff passed, and
/// reported `failed` with compose's error meanwhile; `None` once it runs, Git
/// changed the stack, or a sync asks for an apply now.
pub(super) fn after_failed_up(
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
    memory.failed_up = Some(FailedUp {
        stack_hash: stack_hash.to_string(),
        error: error.to_string(),
        tries,
        retry_at: now + retry_delay(tries),
    });
}

/// After a restart, the tries of `stack_hash` are where the history left
/// them: `tries` failed `compose up`s in a row, the last with `error`, ended
/// `ended_ago`; what they left is still not drift, and the next try waits
/// what is left of its backoff.
pub fn recall_failed_up(
    memory: &mut Memory,
    stack_hash: &str,
    (tries, error): (u32, &str),
    ended_ago: Duration,
    now: Instant,
) {
    if tries == 0 || memory.failed_up.is_some() {
        return;
    }
    let retry_at = (now + retry_delay(tries)).checked_sub(ended_ago);
    memory.failed_up = Some(FailedUp {
        stack_hash: stack_hash.to_string(),
        error: error.to_string(),
        tries,
        retry_at: retry_at.unwrap_or(now),
    });
}

/// The wait after `tries` failed tries in a row: 5 s, doubling, at most 5 min.
fn retry_delay(tries: u32) -> Duration {
    FIRST_RETRY_DELAY
        .saturating_mul(1 << tries.saturating_sub(1).min(16))
        .min(MAX_RETRY_DELAY)
}

/// After a restart the crash-loop budget is where the history left it: the
/// drift reverts it lists since the stack's last fresh start, started `ages`
/// ago (newest first), count again while inside the window. A stack
/// `stopped` again after its newest reverts spent the budget within one
/// window was left alone before the restart and stays so: a restart of
/// docker-cd buys a crash loop no new starts.
pub fn recall_reverts(memory: &mut Memory, ages: &[Duration], stopped: bool, now: Instant) {
    if !memory.reverts.is_empty() {
        return;
    }
    memory.given_up |= stopped
        && ages
            .get(MAX_DRIFT_REVERTS - 1)
            .is_some_and(|oldest| oldest.saturating_sub(ages[0]) < DRIFT_WINDOW);
    memory.reverts = ages
        .iter()
        .filter(|age| **age < DRIFT_WINDOW)
        .filter_map(|age| now.checked_sub(*age))
        .collect();
}

/// Whether the crash-loop budget is spent; forgets reverts outside the window.
pub(super) fn budget_spent(memory: &mut Memory, now: Instant) -> bool {
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
        memory.gate.clear();
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
/// returned: compose brought it up, so what follows is the gate's business,
/// not a retry of a failed `compose up`.
pub fn after_apply(
    verdict: &Verdict,
    stack_hash: &str,
    gated: bool,
    memory: &mut Memory,
    now: Instant,
) -> Applied {
    memory.failed_up = None;
    memory.gate.after_apply(verdict, stack_hash, gated, now)
}
