//! One case per row of the rules.

use rstest::rstest;

use super::*;
use crate::reconcile::decide::gating::CACHE_LAG;
use crate::reconcile::gate::{Applied, GateState, HealthGate, Recall, Settled};

const HASH: &str = "h1";

fn rules(reconcile: bool, remove: bool, drift: DriftPolicy) -> Rules {
    Rules {
        reconcile_enabled: reconcile,
        remove_enabled: remove,
        drift_policy: drift,
        health_timeout: TIMEOUT,
        rollback_enabled: false,
    }
}

/// `HEALTH_TIMEOUT` in these tests.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The defaults: reconcile on, removal off, revert drift.
fn defaults() -> Rules {
    rules(true, false, DriftPolicy::Revert)
}

fn needs(cause: Divergence) -> Verdict {
    Verdict::NeedsApply {
        cause,
        exited: false,
        detail: "web: no container".into(),
    }
}

/// A container of the applied stack ran and ended.
fn exited() -> Verdict {
    Verdict::NeedsApply {
        cause: Divergence::Drift,
        exited: true,
        detail: "web: container web-1 exited (3)".into(),
    }
}

/// Deployed, something not ready yet.
fn settling(detail: &str) -> Verdict {
    Verdict::Settling {
        detail: detail.into(),
        starting_only: false,
    }
}

/// Deployed, only healthchecks in their start period.
fn starting(detail: &str) -> Verdict {
    Verdict::Settling {
        detail: detail.into(),
        starting_only: true,
    }
}

fn desired(verdict: &Verdict, has_containers: bool) -> Observation<'_> {
    Observation::Desired {
        verdict,
        stack_hash: HASH,
        has_containers,
        health_timeout: None,
        rollback_to: None,
        rolled_back_from: None,
        held: false,
        rollback_reason: None,
    }
}

fn granted() -> Memory {
    Memory {
        granted: true,
        ..Memory::default()
    }
}

fn apply(cause: Divergence) -> Step {
    Step::Apply {
        cause,
        detail: "web: no container".into(),
    }
}

fn reported(status: Status, wait: Wait) -> impl Fn(&Step) -> bool {
    move |step| matches!(step, Step::Report { status: s, wait: w, .. } if *s == status && *w == wait)
}

#[rstest]
// A Git change applies, with every rules that allows applies.
#[case::desired_change_applies(needs(Divergence::Desired), true, defaults(), Memory::default())]
#[case::desired_change_applies_under_flag(
    needs(Divergence::Desired),
    true,
    rules(true, false, DriftPolicy::Flag),
    Memory::default()
)]
#[case::drift_is_reverted(needs(Divergence::Drift), true, defaults(), Memory::default())]
#[case::drift_under_flag_applies_when_acknowledged(
    needs(Divergence::Drift),
    true,
    rules(true, false, DriftPolicy::Flag),
    granted()
)]
#[case::reconcile_off_applies_on_a_sync(
    needs(Divergence::Desired),
    false,
    rules(false, false, DriftPolicy::Revert),
    granted()
)]
#[case::reconcile_off_reverts_drift_on_a_sync(
    needs(Divergence::Drift),
    true,
    rules(false, false, DriftPolicy::Revert),
    granted()
)]
fn needs_apply_rows_that_apply(
    #[case] verdict: Verdict,
    #[case] has_containers: bool,
    #[case] rules: Rules,
    #[case] mut memory: Memory,
) {
    let Verdict::NeedsApply { cause, .. } = verdict else {
        unreachable!("cases need applies")
    };
    let step = decide(
        desired(&verdict, has_containers),
        false,
        rules,
        &mut memory,
        Instant::now(),
    );
    assert_eq!(step, apply(cause));
}

#[rstest]
#[case::reconcile_off_never_deployed_is_missing(
    needs(Divergence::Desired),
    false,
    rules(false, false, DriftPolicy::Revert),
    Status::Missing,
    None
)]
#[case::reconcile_off_with_containers_is_drifted(
    needs(Divergence::Desired),
    true,
    rules(false, true, DriftPolicy::Revert),
    Status::Drifted,
    Some("out of sync (automatic apply is off): web: no container")
)]
#[case::reconcile_off_drift_is_drifted(
    needs(Divergence::Drift),
    true,
    rules(false, false, DriftPolicy::Flag),
    Status::Drifted,
    Some("out of sync (automatic apply is off): web: no container")
)]
#[case::flagged_drift_waits_for_an_ack(
    needs(Divergence::Drift),
    true,
    rules(true, false, DriftPolicy::Flag),
    Status::Drifted,
    Some("web: no container")
)]
#[case::in_sync_is_synced(Verdict::InSync, true, defaults(), Status::Synced, None)]
#[case::in_sync_is_synced_with_reconcile_off(
    Verdict::InSync,
    true,
    rules(false, false, DriftPolicy::Flag),
    Status::Synced,
    None
)]
#[case::a_starting_healthcheck_is_syncing(
    starting("web: container web-1 is starting"),
    true,
    defaults(),
    Status::Syncing,
    Some("waiting for web: container web-1 is starting")
)]
#[case::unhealthy_without_an_apply_is_failed(
    settling("web: unhealthy"),
    true,
    defaults(),
    Status::Failed,
    Some("not ready: web: unhealthy")
)]
#[case::starting_and_unhealthy_is_failed(
    settling("db: health is starting; web: unhealthy"),
    true,
    defaults(),
    Status::Failed,
    Some("not ready: db: health is starting; web: unhealthy")
)]
fn rows_that_only_report(
    #[case] verdict: Verdict,
    #[case] has_containers: bool,
    #[case] rules: Rules,
    #[case] status: Status,
    #[case] error: Option<&str>,
) {
    let step = decide(
        desired(&verdict, has_containers),
        false,
        rules,
        &mut Memory::default(),
        Instant::now(),
    );
    let Step::Report {
        status: s,
        error: e,
        ..
    } = step
    else {
        panic!("expected a report, got {step:?}")
    };
    assert_eq!((s, e.as_deref()), (status, error));
}

#[rstest]
#[case::in_sync(Verdict::InSync)]
#[case::settling(settling("web: unhealthy"))]
#[case::needs_apply(needs(Divergence::Drift))]
fn an_api_apply_runs_whatever_the_verdict_and_policy(#[case] verdict: Verdict) {
    let off = rules(false, false, DriftPolicy::Flag);
    let mut memory = Memory {
        given_up: true,
        ..Memory::default()
    };
    let step = decide(
        desired(&verdict, true),
        true,
        off,
        &mut memory,
        Instant::now(),
    );
    let expected_cause = match verdict {
        Verdict::NeedsApply { cause, .. } => cause,
        _ => Divergence::Desired,
    };
    assert!(
        matches!(step, Step::Apply { cause, .. } if cause == expected_cause),
        "{step:?}"
    );
}

#[rstest]
#[case::nothing_left_is_forgotten(false, false, defaults(), Memory::default(), Step::Forget)]
#[case::nothing_left_is_forgotten_even_if_requested(
    false,
    true,
    defaults(),
    Memory::default(),
    Step::Forget
)]
#[case::removal_off_leaves_an_orphan(
    true,
    false,
    defaults(),
    Memory::default(),
    report(Status::Orphaned, None, Wait::ForChange)
)]
#[case::removal_off_orphan_despite_a_sync(
    true,
    false,
    defaults(),
    granted(),
    report(Status::Orphaned, None, Wait::ForChange)
)]
#[case::removal_on_removes(
    true,
    false,
    rules(true, true, DriftPolicy::Revert),
    Memory::default(),
    Step::Remove
)]
#[case::removal_on_but_reconcile_off_waits(
    true,
    false,
    rules(false, true, DriftPolicy::Revert),
    Memory::default(),
    report(Status::Orphaned, None, Wait::ForChange)
)]
#[case::removal_on_reconcile_off_removes_on_a_sync(
    true,
    false,
    rules(false, true, DriftPolicy::Revert),
    granted(),
    Step::Remove
)]
#[case::an_api_apply_removes_even_with_removal_off(
    true,
    true,
    rules(false, false, DriftPolicy::Flag),
    Memory::default(),
    Step::Remove
)]
fn removal_rows(
    #[case] has_containers: bool,
    #[case] requested: bool,
    #[case] rules: Rules,
    #[case] mut memory: Memory,
    #[case] expected: Step,
) {
    let step = decide(
        Observation::Gone { has_containers },
        requested,
        rules,
        &mut memory,
        Instant::now(),
    );
    assert_eq!(step, expected);
}

#[test]
fn an_invalid_stack_fails_even_when_requested() {
    let step = decide(
        Observation::Invalid { error: "bad yaml" },
        true,
        defaults(),
        &mut Memory::default(),
        Instant::now(),
    );
    assert_eq!(step, Step::Invalid("bad yaml".into()));
}

/// One pass at `now` over `verdict`, with the defaults.
fn pass(verdict: &Verdict, memory: &mut Memory, now: Instant) -> Step {
    decide(desired(verdict, true), false, defaults(), memory, now)
}

fn gate_failed(failure: GateFailure, why: &str) -> Step {
    Step::GateFailed {
        failure,
        reason: format!("health gate failed: {why}"),
        rolls_back: false,
    }
}

#[test]
fn a_gated_apply_is_syncing_while_healthchecks_start_then_fails_at_the_timeout() {
    let start = Instant::now();
    let verdict = starting("web: container web-1 is starting");
    let mut memory = Memory::default();
    assert_eq!(
        after_apply(&verdict, HASH, true, &mut memory, start),
        Applied::Settling
    );
    let later = start + Duration::from_secs(20);
    let step = pass(&verdict, &mut memory, later);
    // The next look is the deadline: health events come before it.
    assert!(
        reported(Status::Syncing, Wait::Poll(Duration::from_secs(100)))(&step),
        "{step:?}"
    );
    let step = pass(&verdict, &mut memory, start + TIMEOUT);
    assert_eq!(
        step,
        gate_failed(
            GateFailure::Timeout,
            "not healthy 120s after the apply: web: container web-1 is starting"
        )
    );
    // Failed stays failed without another apply, also when it keeps starting.
    assert_eq!(
        pass(&verdict, &mut memory, start + TIMEOUT * 2),
        report(
            Status::Failed,
            Some("health gate failed: not healthy 120s after the apply: web: container web-1 is starting".into()),
            Wait::ForChange
        )
    );
}

#[rstest]
#[case::unhealthy(
    settling("web: container web-1 is unhealthy"),
    GateFailure::Unhealthy,
    "web: container web-1 is unhealthy"
)]
#[case::exited(exited(), GateFailure::Exited, "web: container web-1 exited (3)")]
fn a_gated_apply_fails_at_once_when_a_container_is_unhealthy_or_exits(
    #[case] verdict: Verdict,
    #[case] failure: GateFailure,
    #[case] why: &str,
) {
    let start = Instant::now();
    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, true, &mut memory, start);
    let now = start + Duration::from_secs(3);
    assert_eq!(pass(&verdict, &mut memory, now), gate_failed(failure, why));
    // No revert of the failed revision: it is reported until Git changes or a sync.
    assert!(reported(Status::Failed, Wait::ForChange)(&pass(
        &verdict,
        &mut memory,
        now
    )));
    // Not even when the container runs again for a while (restart: always).
    assert!(reported(Status::Failed, Wait::ForChange)(&pass(
        &Verdict::InSync,
        &mut memory,
        now
    )));
    // An ack does not (it repairs what runs); a sync applies it again,
    // whatever the containers look like.
    memory.granted = true;
    assert!(reported(Status::Failed, Wait::ForChange)(&pass(
        &verdict,
        &mut memory,
        now
    )));
    memory.released = true;
    let Step::Apply { cause, .. } = pass(&verdict, &mut memory, now) else {
        panic!("a sync applies");
    };
    assert!(
        begin(Some(cause), &mut memory, now),
        "a sync is a fresh start"
    );
    assert_eq!(memory.gate.state(), None);
}

#[test]
fn a_container_missing_or_not_started_during_the_gate_is_applied_not_failed() {
    let start = Instant::now();
    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, true, &mut memory, start);
    assert_eq!(
        pass(&needs(Divergence::Drift), &mut memory, start + CACHE_LAG),
        apply(Divergence::Drift)
    );
    // The revert is part of the gate: still gated, with its deadline.
    begin(Some(Divergence::Drift), &mut memory, start + CACHE_LAG);
    let later = start + Duration::from_secs(7);
    after_apply(&starting("web: starting"), HASH, false, &mut memory, later);
    assert_eq!(
        memory.gate.state(),
        Some(&GateState::Open {
            stack_hash: HASH.into(),
            since: start,
            gated: true
        })
    );
}

#[test]
fn a_drift_revert_is_not_gated_the_crash_loop_budget_bounds_it() {
    let start = Instant::now();
    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, false, &mut memory, start);
    let now = start + Duration::from_secs(6);
    let unhealthy = settling("web: container web-1 is unhealthy");
    assert!(reported(
        Status::Syncing,
        Wait::Poll(TIMEOUT - Duration::from_secs(6))
    )(&pass(&unhealthy, &mut memory, now)));
    assert_eq!(
        pass(&needs(Divergence::Drift), &mut memory, now),
        apply(Divergence::Drift)
    );
}

#[test]
fn a_passed_gate_stays_passed_a_later_exit_is_drift() {
    let now = Instant::now();
    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, true, &mut memory, now);
    assert!(reported(Status::Synced, Wait::ForChange)(&pass(
        &Verdict::InSync,
        &mut memory,
        now
    )));
    assert_eq!(
        memory.gate.state(),
        Some(&GateState::Passed {
            stack_hash: HASH.into()
        })
    );
    assert_eq!(
        pass(&needs(Divergence::Drift), &mut memory, now),
        apply(Divergence::Drift)
    );
}

#[test]
fn the_stack_label_sets_its_own_timeout() {
    let start = Instant::now();
    let verdict = starting("web: starting");
    let mut memory = Memory::default();
    after_apply(&verdict, HASH, true, &mut memory, start);
    let observation = Observation::Desired {
        verdict: &verdict,
        stack_hash: HASH,
        has_containers: true,
        health_timeout: Some(Duration::from_secs(10)),
        rollback_to: None,
        rolled_back_from: None,
        held: false,
        rollback_reason: None,
    };
    let step = decide(
        observation,
        false,
        defaults(),
        &mut memory,
        start + Duration::from_secs(10),
    );
    assert_eq!(
        step,
        gate_failed(
            GateFailure::Timeout,
            "not healthy 10s after the apply: web: starting"
        )
    );
}

#[rstest]
// Restarted 30 s into a 120 s gate: the gate is back with 90 s left.
#[case::resumes_a_young_apply(
    starting("web: starting"),
    30,
    reported(Status::Syncing, Wait::Poll(Duration::from_secs(90)))
)]
#[case::fails_a_young_unhealthy_apply(settling("web: unhealthy"), 30, |s: &Step| matches!(s, Step::GateFailed { failure: GateFailure::Unhealthy, .. }))]
// Down past the deadline (not past the timeout plus the downtime allowed):
// the gate goes on and times out at once.
#[case::times_out_an_apply_whose_deadline_passed_meanwhile(
    starting("web: starting"),
    200,
    |s: &Step| matches!(s, Step::GateFailed { failure: GateFailure::Timeout, .. })
)]
// An apply older than the timeout plus the downtime allowed has no gate to
// resume: as without one.
#[case::old_apply_starting(
    starting("web: starting"),
    800,
    reported(Status::Syncing, Wait::Poll(SETTLE_POLL))
)]
#[case::old_apply_unhealthy(
    settling("web: unhealthy"),
    800,
    reported(Status::Failed, Wait::ForChange)
)]
#[case::old_apply_exited(exited(), 800, |s: &Step| matches!(s, Step::Apply { cause: Divergence::Drift, .. }))]
fn after_a_restart_without_history_the_gate_is_read_from_the_labels(
    #[case] verdict: Verdict,
    #[case] seconds_ago: u64,
    #[case] expect: impl Fn(&Step) -> bool,
) {
    let observation = Observation::Desired {
        verdict: &verdict,
        stack_hash: HASH,
        has_containers: true,
        health_timeout: None,
        rollback_to: None,
        rolled_back_from: None,
        held: false,
        rollback_reason: None,
    };
    let now = Instant::now() + Duration::from_secs(1000);
    let mut memory = Memory::default();
    recalled_from_labels(&mut memory, &verdict, Duration::from_secs(seconds_ago), now);
    let step = decide(observation, false, defaults(), &mut memory, now);
    assert!(expect(&step), "{step:?}");
}

#[test]
fn an_apply_that_ends_in_sync_is_synced_and_a_mismatch_is_an_error() {
    let now = Instant::now();
    let mut memory = Memory::default();
    assert_eq!(
        after_apply(&Verdict::InSync, HASH, true, &mut memory, now),
        Applied::Synced
    );
    let mismatch = Applied::NotConverged(
        "compose up finished but the stack does not match: web: no container".into(),
    );
    assert_eq!(
        after_apply(&needs(Divergence::Drift), HASH, false, &mut memory, now),
        mismatch
    );
    assert_eq!(
        pass(&needs(Divergence::Drift), &mut memory, now),
        apply(Divergence::Drift),
        "a revert retries"
    );
    // A gated apply whose container exits before compose returns fails its gate:
    // the retry reports instead of applying the same files again.
    assert_eq!(
        after_apply(&needs(Divergence::Drift), HASH, true, &mut memory, now),
        Applied::NotConverged("health gate failed: web: no container".into())
    );
    assert!(reported(Status::Failed, Wait::ForChange)(&pass(
        &needs(Divergence::Drift),
        &mut memory,
        now
    )));
}

/// Runs drift passes, each starting an apply as the reconciler does.
fn revert_passes(memory: &mut Memory, times: &[Instant]) -> Vec<Step> {
    let verdict = needs(Divergence::Drift);
    times
        .iter()
        .map(|now| {
            let step = decide(desired(&verdict, true), false, defaults(), memory, *now);
            if let Step::Apply { cause, .. } = &step {
                begin(Some(*cause), memory, *now);
            }
            step
        })
        .collect()
}

#[test]
fn a_crash_loop_gives_up_after_the_budget() {
    let start = Instant::now();
    let times: Vec<Instant> = (0..6)
        .map(|i| start + Duration::from_secs(i * 10))
        .collect();
    let mut memory = Memory::default();
    let steps = revert_passes(&mut memory, &times);
    assert!(
        steps[..MAX_DRIFT_REVERTS]
            .iter()
            .all(|s| matches!(s, Step::Apply { .. }))
    );
    let Step::GiveUp(message) = &steps[MAX_DRIFT_REVERTS] else {
        panic!("expected to give up, got {:?}", steps[MAX_DRIFT_REVERTS])
    };
    assert!(
        message.contains("restarted 5 times within 300s"),
        "{message}"
    );
}

#[test]
fn having_given_up_stays_given_up_after_the_window() {
    let start = Instant::now();
    let times: Vec<Instant> = (0..6).map(|i| start + Duration::from_secs(i)).collect();
    let mut memory = Memory::default();
    revert_passes(&mut memory, &times);
    let later = [start + DRIFT_WINDOW * 2];
    assert!(matches!(
        revert_passes(&mut memory, &later)[0],
        Step::GiveUp(_)
    ));
}

#[test]
fn reverts_outside_the_window_are_forgotten() {
    let start = Instant::now();
    let times: Vec<Instant> = (0..6u32).map(|i| start + DRIFT_WINDOW / 4 * i).collect();
    let mut memory = Memory::default();
    let steps = revert_passes(&mut memory, &times);
    assert!(
        steps.iter().all(|s| matches!(s, Step::Apply { .. })),
        "{steps:?}"
    );
}

#[rstest]
#[case::a_sync_grant(true, Some(Divergence::Drift))]
#[case::a_git_change(false, Some(Divergence::Desired))]
fn a_fresh_budget_after(#[case] grant: bool, #[case] cause: Option<Divergence>) {
    let now = Instant::now();
    let mut memory = Memory {
        reverts: vec![now; MAX_DRIFT_REVERTS],
        given_up: true,
        granted: grant,
        ..Memory::default()
    };
    begin(cause, &mut memory, now);
    assert!(!memory.given_up && !memory.granted);
    let expected = usize::from(cause == Some(Divergence::Drift));
    assert_eq!(
        memory.reverts.len(),
        expected,
        "the granted revert itself counts"
    );
}

#[test]
fn a_given_up_stack_is_applied_on_a_sync() {
    let now = Instant::now();
    let verdict = needs(Divergence::Drift);
    let mut memory = Memory {
        given_up: true,
        granted: true,
        ..Memory::default()
    };
    let step = decide(desired(&verdict, true), false, defaults(), &mut memory, now);
    assert_eq!(step, apply(Divergence::Drift));
}

#[test]
fn a_removal_uses_up_the_grant_without_counting_a_revert() {
    let now = Instant::now();
    let mut memory = granted();
    begin(None, &mut memory, now);
    assert_eq!(memory, Memory::default());
}

/// One pass of a stack whose apply's labels name `good` as the last revision
/// that passed (rollback on), or of a rollback's target (`rolled_back_from`).
fn pass_with(
    verdict: &Verdict,
    rollback_to: Option<&str>,
    rolled_back_from: Option<&str>,
    memory: &mut Memory,
    now: Instant,
) -> Step {
    let observation = Observation::Desired {
        verdict,
        stack_hash: HASH,
        has_containers: true,
        health_timeout: None,
        rollback_to,
        rolled_back_from,
        held: false,
        rollback_reason: None,
    };
    decide(observation, false, defaults(), memory, now)
}

#[test]
fn a_failed_gate_is_reported_then_rolled_back_once() {
    let start = Instant::now();
    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, true, &mut memory, start);
    let unhealthy = settling("web: container web-1 is unhealthy");
    let now = start + Duration::from_secs(3);
    assert_eq!(
        pass_with(&unhealthy, Some("good"), None, &mut memory, now),
        Step::GateFailed {
            failure: GateFailure::Unhealthy,
            reason: "health gate failed: web: container web-1 is unhealthy".into(),
            rolls_back: true,
        }
    );
    assert_eq!(
        pass_with(&unhealthy, Some("good"), None, &mut memory, now),
        Step::RollBack {
            revision: "good".into(),
            failure: GateFailure::Unhealthy,
            reason: "health gate failed: web: container web-1 is unhealthy".into()
        }
    );
    // Once: if the rollback could not even start, the failure is reported.
    assert!(reported(Status::Failed, Wait::ForChange)(&pass_with(
        &unhealthy,
        Some("good"),
        None,
        &mut memory,
        now
    )));
}

#[test]
fn a_rollback_target_in_sync_is_rolled_back_and_its_own_failure_is_final() {
    let now = Instant::now();
    let mut memory = Memory::default();
    let step = pass_with(
        &Verdict::InSync,
        None,
        Some("failedhash0123456"),
        &mut memory,
        now,
    );
    assert!(
        reported(Status::RolledBack, Wait::ForChange)(&step),
        "{step:?}"
    );
    let Step::Report { error, .. } = step else {
        unreachable!()
    };
    assert_eq!(
        error.as_deref(),
        Some("stack_hash failedhash01 failed its health gate; the last revision that passed runs")
    );
    // The target's own gate failing is not rolled back again (no target given).
    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, true, &mut memory, now);
    let exited = exited();
    assert!(matches!(
        pass_with(&exited, None, Some("failedhash0123456"), &mut memory, now),
        Step::GateFailed {
            failure: GateFailure::Exited,
            ..
        }
    ));
    assert!(reported(Status::Failed, Wait::ForChange)(&pass_with(
        &exited,
        None,
        Some("failedhash0123456"),
        &mut memory,
        now
    )));
}

/// One pass, and the verdict it reached (as the reconciler reads it).
fn settling_pass(
    verdict: &Verdict,
    applied_ago: Option<Duration>,
    memory: &mut Memory,
    now: Instant,
) -> Option<Settled> {
    if let Some(ago) = applied_ago {
        recalled_from_labels(memory, verdict, ago, now);
    }
    let before = memory.gate.clone();
    let observation = Observation::Desired {
        verdict,
        stack_hash: HASH,
        has_containers: true,
        health_timeout: None,
        rollback_to: None,
        rolled_back_from: None,
        held: false,
        rollback_reason: None,
    };
    decide(observation, false, defaults(), memory, now);
    memory.gate.verdict_since(&before, now)
}

/// After a restart with no history entry of the running apply, labelled `ago`.
fn recalled_from_labels(memory: &mut Memory, verdict: &Verdict, ago: Duration, now: Instant) {
    let recall = Recall {
        stack_hash: HASH,
        labelled_ago: Some(ago),
        entry: None,
        in_sync: *verdict == Verdict::InSync,
        timeout: TIMEOUT,
    };
    memory.gate.recall(&recall, now);
}

#[test]
fn a_gate_reaches_one_verdict_with_the_time_since_compose_returned() {
    let start = Instant::now();
    let later = start + Duration::from_secs(7);
    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, true, &mut memory, start);
    assert_eq!(
        settling_pass(&starting("web: starting"), None, &mut memory, later),
        None,
        "still open"
    );
    let passed = settling_pass(&Verdict::InSync, None, &mut memory, later);
    assert_eq!(
        passed,
        Some(Settled {
            stack_hash: HASH.into(),
            failure: None,
            took: Duration::from_secs(7),
        })
    );
    assert_eq!(
        settling_pass(&Verdict::InSync, None, &mut memory, later),
        None,
        "a passed gate is not passed again"
    );

    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, true, &mut memory, start);
    let unhealthy = settling("web: container web-1 is unhealthy");
    let failed = settling_pass(&unhealthy, None, &mut memory, later);
    assert_eq!(
        failed.map(|s| (s.failure, s.took)),
        Some((
            Some((
                GateFailure::Unhealthy,
                "health gate failed: web: container web-1 is unhealthy".into()
            )),
            Duration::from_secs(7)
        ))
    );
    assert_eq!(
        settling_pass(&unhealthy, None, &mut memory, later),
        None,
        "failed once"
    );
}

#[test]
fn a_stack_found_in_sync_at_start_has_no_verdict_a_resumed_gate_has_one() {
    let now = Instant::now() + Duration::from_secs(1000);
    let mut memory = Memory::default();
    let ago = Some(Duration::from_secs(30));
    assert_eq!(settling_pass(&Verdict::InSync, ago, &mut memory, now), None);

    // Reopened from the labels and failed in one pass: timed from the apply.
    let mut memory = Memory::default();
    let failed = settling_pass(&settling("web: unhealthy"), ago, &mut memory, now);
    assert_eq!(
        failed.map(|s| (s.failure.map(|f| f.0), s.took)),
        Some((Some(GateFailure::Unhealthy), Duration::from_secs(30)))
    );
}

#[test]
fn an_apply_whose_container_is_gone_as_compose_returns_fails_as_exited() {
    let now = Instant::now();
    let mut memory = Memory::default();
    after_apply(&needs(Divergence::Desired), HASH, true, &mut memory, now);
    let opened = HealthGate::with(GateState::Open {
        stack_hash: HASH.into(),
        since: now,
        gated: true,
    });
    let failed = memory.gate.verdict_since(&opened, now);
    assert_eq!(
        failed.and_then(|s| s.failure).map(|f| f.0),
        Some(GateFailure::Exited)
    );
}

#[test]
fn a_held_rollback_in_sync_is_synced_and_its_failure_is_final() {
    let now = Instant::now();
    let held = |verdict| Observation::Desired {
        verdict,
        stack_hash: HASH,
        has_containers: true,
        health_timeout: None,
        rollback_to: None,
        rolled_back_from: Some("failedhash0123456"),
        held: true,
        rollback_reason: None,
    };
    let mut memory = Memory::default();
    let step = decide(held(&Verdict::InSync), false, defaults(), &mut memory, now);
    assert_eq!(
        step,
        Step::Report {
            status: Status::Synced,
            error: None,
            wait: Wait::ForChange
        }
    );
    // Its own gate failing leaves it failed: no rollback, no re-apply.
    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, true, &mut memory, now);
    let exited = exited();
    let first = decide(held(&exited), false, defaults(), &mut memory, now);
    assert!(matches!(first, Step::GateFailed { .. }), "{first:?}");
    let then = decide(held(&exited), false, defaults(), &mut memory, now);
    assert!(reported(Status::Failed, Wait::ForChange)(&then), "{then:?}");
}

/// A container the runtime cache shows `created` (its `start` event not read
/// yet) just after compose returned.
fn created() -> Verdict {
    Verdict::NeedsApply {
        cause: Divergence::Drift,
        exited: false,
        detail: "web: container web-1 created".into(),
    }
}

#[rstest]
// Within the grace the cache is behind the apply: wait, neither revert nor fail.
#[case::gated_within_the_grace(true, 1, reported(Status::Syncing, Wait::Poll(CACHE_LAG - Duration::from_secs(1))))]
#[case::revert_within_the_grace(false, 1, reported(Status::Syncing, Wait::Poll(CACHE_LAG - Duration::from_secs(1))))]
// After it, it is drift.
#[case::gated_after_the_grace(true, 10, |s: &Step| matches!(s, Step::Apply { cause: Divergence::Drift, .. }))]
#[case::revert_after_the_grace(false, 10, |s: &Step| matches!(s, Step::Apply { cause: Divergence::Drift, .. }))]
fn a_container_not_started_right_after_an_apply_is_waited_for_briefly(
    #[case] gated: bool,
    #[case] seconds_later: u64,
    #[case] expect: impl Fn(&Step) -> bool,
) {
    let start = Instant::now();
    let mut memory = Memory::default();
    after_apply(&starting("web: starting"), HASH, gated, &mut memory, start);
    let verdict = created();
    let now = start + Duration::from_secs(seconds_later);
    let step = decide(desired(&verdict, true), false, defaults(), &mut memory, now);
    assert!(expect(&step), "{step:?}");
}

#[test]
fn a_rolled_back_stack_says_which_revision_failed_and_how_where_its_labels_do() {
    let verdict = Verdict::InSync;
    let observation = Observation::Desired {
        verdict: &verdict,
        stack_hash: HASH,
        has_containers: true,
        health_timeout: None,
        rollback_to: None,
        rolled_back_from: Some("failedhash0123456"),
        held: false,
        rollback_reason: Some("revision 0123456789ab: health gate failed: web: unhealthy"),
    };
    let step = decide(
        observation,
        false,
        defaults(),
        &mut Memory::default(),
        Instant::now(),
    );
    assert_eq!(
        step,
        Step::Report {
            status: Status::RolledBack,
            error: Some(
                "revision 0123456789ab: health gate failed: web: unhealthy; the last revision that passed runs"
                    .into()
            ),
            wait: Wait::ForChange
        }
    );
}

#[rstest]
#[case::a_sync_is_kept_for_the_next_pass(true, true)]
#[case::an_ack_is_used_up(false, false)]
fn an_automatic_rollback_starting(#[case] released: bool, #[case] kept: bool) {
    let now = Instant::now();
    let mut memory = Memory {
        granted: true,
        released,
        gate: HealthGate::with(GateState::Passed {
            stack_hash: HASH.into(),
        }),
        ..Memory::default()
    };
    begin_rollback(&mut memory, now);
    assert_eq!((memory.granted, memory.released), (kept, kept));
    assert_eq!(memory.gate.state(), None, "a fresh gate");
}

mod failed_up;

/// A sync on a stack with nothing to apply (a probe found it kept for
/// weeks, then applying a later commit and reverting a later drift under
/// `RECONCILE_ENABLED=false` and `DRIFT_POLICY=flag`).
#[rstest]
#[case::reconcile_off(
    rules(false, false, DriftPolicy::Revert),
    needs(Divergence::Desired),
    Status::Drifted
)]
#[case::drift_flagged(
    rules(true, false, DriftPolicy::Flag),
    needs(Divergence::Drift),
    Status::Drifted
)]
fn a_sync_that_finds_nothing_to_apply_is_used_up(
    #[case] rules: Rules,
    #[case] later: Verdict,
    #[case] reported_later: Status,
) {
    let now = Instant::now();
    let mut memory = Memory {
        granted: true,
        released: true,
        ..Memory::default()
    };
    let step = decide(
        desired(&Verdict::InSync, true),
        false,
        rules,
        &mut memory,
        now,
    );
    assert!(reported(Status::Synced, Wait::ForChange)(&step), "{step:?}");
    assert!(!memory.granted && !memory.released, "used up: {memory:?}");
    let step = decide(desired(&later, true), false, rules, &mut memory, now);
    assert!(reported(reported_later, Wait::ForChange)(&step), "{step:?}");
}
