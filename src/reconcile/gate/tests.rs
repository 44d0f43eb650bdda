//! The gate's one restart rule, case by case.

use jiff::{SignedDuration, Timestamp};
use rstest::rstest;

use super::*;
use crate::history::{Cause, Entry, Operation, Trigger};
use crate::status::Outcome;

const HASH: &str = "h1";
const TIMEOUT: Duration = Duration::from_secs(120);

/// An entry of an apply of `HASH` whose compose returned `ago` seconds ago.
fn entry(ago: i64, cause: Cause, gate: Option<GateResult>) -> Entry {
    Entry {
        revision: Some("r1".into()),
        stack_hash: Some(HASH.into()),
        cause,
        trigger: Trigger::Refresh,
        action: Operation::Apply,
        started_at: (Timestamp::now() - SignedDuration::from_secs(ago)).to_string(),
        duration_ms: 0,
        outcome: Outcome::Success,
        error: gate
            .filter(|g| *g == GateResult::Failed)
            .map(|_| "health gate failed: web: unhealthy".into()),
        gate,
        gate_reason: gate
            .filter(|g| *g == GateResult::Failed)
            .map(|_| GateFailure::Unhealthy),
    }
}

/// What the gate is after a restart that recalls `entry` (or the labels
/// alone, written `labelled` seconds ago), `in_sync` or not.
fn recalled(entry: Option<&Entry>, labelled: u64, in_sync: bool) -> Option<GateState> {
    let mut gate = HealthGate::default();
    let recall = Recall {
        stack_hash: HASH,
        labelled_ago: Some(Duration::from_secs(labelled)),
        entry,
        in_sync,
        timeout: TIMEOUT,
    };
    gate.recall(&recall, Instant::now());
    gate.state().cloned()
}

fn is_open(state: Option<GateState>) -> bool {
    matches!(state, Some(GateState::Open { gated: true, .. }))
}

#[test]
fn the_history_s_verdict_wins_over_the_labels() {
    let passed = entry(30, Cause::Git, Some(GateResult::Passed));
    assert_eq!(
        recalled(Some(&passed), 30, false),
        Some(GateState::Passed {
            stack_hash: HASH.into()
        }),
        "not reopened from the labels, though they are young and it is not ready"
    );
    let failed = entry(5000, Cause::Git, Some(GateResult::Failed));
    let state = recalled(Some(&failed), 5000, true);
    assert!(
        matches!(
            &state,
            Some(GateState::Failed {
                failure: GateFailure::Unhealthy,
                rollback_tried: true,
                ..
            })
        ),
        "failed however long ago; running well now: no rollback: {state:?}"
    );
    let state = recalled(Some(&failed), 5000, false);
    assert!(
        matches!(
            &state,
            Some(GateState::Failed {
                rollback_tried: false,
                ..
            })
        ),
        "not running well: its rollback may run: {state:?}"
    );
}

#[rstest]
#[case::young(30, true)]
#[case::deadline_passed_while_down(500, true)]
#[case::older_than_timeout_and_downtime(800, false)]
fn an_open_gate_goes_on_from_when_compose_returned(#[case] ago: i64, #[case] open: bool) {
    let open_entry = entry(ago, Cause::Git, None);
    // The labels say something else: the history's time is the one read.
    assert_eq!(is_open(recalled(Some(&open_entry), 10, false)), open);
}

#[test]
fn a_gate_opened_by_no_apply_of_its_own_is_not_recalled() {
    let revert = entry(30, Cause::Drift, None);
    assert_eq!(recalled(Some(&revert), 30, false), None);
    let mut failed_up = entry(30, Cause::Git, None);
    failed_up.outcome = Outcome::Failure;
    assert_eq!(recalled(Some(&failed_up), 30, false), None);
}

#[rstest]
#[case::young_not_ready(30, false, true)]
#[case::young_in_sync(30, true, false)]
#[case::old(800, false, false)]
fn without_an_entry_the_labels_reopen_the_gate_of_a_stack_not_ready(
    #[case] labelled: u64,
    #[case] in_sync: bool,
    #[case] open: bool,
) {
    assert_eq!(is_open(recalled(None, labelled, in_sync)), open);
}

#[test]
fn a_remembered_gate_is_not_recalled_again() {
    let mut gate = HealthGate::default();
    gate.pass(HASH);
    let failed = entry(30, Cause::Git, Some(GateResult::Failed));
    let recall = Recall {
        stack_hash: HASH,
        labelled_ago: None,
        entry: Some(&failed),
        in_sync: false,
        timeout: TIMEOUT,
    };
    gate.recall(&recall, Instant::now());
    assert!(gate.passed(HASH));
}

#[rstest]
#[case::a_git_change(true, true)]
#[case::a_drift_revert(false, false)]
fn only_a_gated_apply_that_runs_as_compose_returns_has_a_passed_verdict(
    #[case] gated: bool,
    #[case] verdict: bool,
) {
    let now = Instant::now();
    let mut gate = HealthGate::default();
    let before = gate.opening(HASH, gated, now);
    assert_eq!(
        gate.after_apply(&Verdict::InSync, HASH, gated, now),
        Applied::Synced
    );
    assert_eq!(gate.verdict_since(&before, now).is_some(), verdict);
}
