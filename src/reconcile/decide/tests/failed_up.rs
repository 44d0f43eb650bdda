//! A failed `compose up` is a failed apply, tried again with backoff: what it
//! left is not drift, and no crash-loop budget is spent on it.

use super::*;

const ERROR: &str = "compose up failed (exit 1): mkdir /srv/app: read-only file system";

/// Memory after the first failed `compose up` of `HASH` at `at`.
fn failed_at(at: Instant) -> Memory {
    let mut memory = Memory::default();
    up_failed(&mut memory, HASH, ERROR, at);
    memory
}

#[test]
fn before_its_backoff_it_is_failed_with_compose_s_error_and_spends_no_budget() {
    let at = Instant::now();
    let mut memory = failed_at(at);
    for verdict in [created(), needs(Divergence::Drift), exited()] {
        let step = pass(&verdict, &mut memory, at + Duration::from_secs(1));
        assert_eq!(
            step,
            Step::Report {
                status: Status::Failed,
                error: Some(ERROR.into()),
                wait: Wait::Poll(Duration::from_secs(4)),
            }
        );
    }
    assert!(memory.reverts.is_empty(), "no drift revert was counted");
}

#[test]
fn each_failure_doubles_the_wait_up_to_five_minutes() {
    let at = Instant::now();
    let mut memory = failed_at(at);
    let mut waits = Vec::new();
    for _ in 0..8 {
        let retry_at = memory
            .failed_up
            .as_ref()
            .map(|f| f.retry_at)
            .expect("failed");
        waits.push(retry_at.duration_since(at).as_secs());
        let step = pass(&created(), &mut memory, retry_at);
        assert!(matches!(step, Step::Retry { .. }), "{step:?}");
        up_failed(&mut memory, HASH, ERROR, at);
    }
    assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300]);
}

#[test]
fn a_due_retry_says_which_try_and_why() {
    let at = Instant::now();
    let mut memory = failed_at(at);
    assert_eq!(
        pass(&created(), &mut memory, at + Duration::from_secs(5)),
        Step::Retry {
            try_number: 2,
            error: ERROR.into()
        }
    );
}

#[test]
fn a_sync_tries_at_once_and_with_reconcile_off_nothing_else_does() {
    let at = Instant::now();
    let mut memory = failed_at(at);
    memory.granted = true;
    let step = pass(&created(), &mut memory, at);
    assert!(
        matches!(step, Step::Apply { .. }),
        "a sync's own apply: {step:?}"
    );

    let mut memory = failed_at(at);
    let off = rules(false, false, DriftPolicy::Revert);
    let later = at + Duration::from_secs(600);
    let step = decide(desired(&created(), true), false, off, &mut memory, later);
    assert_eq!(
        step,
        Step::Report {
            status: Status::Failed,
            error: Some(ERROR.into()),
            wait: Wait::ForChange,
        }
    );
}

#[test]
fn it_is_forgotten_once_the_stack_runs_or_git_changes_it() {
    let at = Instant::now();
    let mut memory = failed_at(at);
    pass(&Verdict::InSync, &mut memory, at);
    assert_eq!(memory.failed_up, None);

    let mut memory = failed_at(at);
    let verdict = created();
    let mut other = desired(&verdict, true);
    if let Observation::Desired { stack_hash, .. } = &mut other {
        *stack_hash = "h2";
    }
    let step = decide(other, false, defaults(), &mut memory, at);
    assert!(matches!(step, Step::Apply { .. }), "{step:?}");
    assert_eq!(memory.failed_up, None);
}

#[test]
fn compose_bringing_it_up_ends_the_retries() {
    let at = Instant::now();
    let mut memory = failed_at(at);
    after_apply(&starting("web: starting"), HASH, true, &mut memory, at);
    assert_eq!(memory.failed_up, None);
}
