use rstest::rstest;

use super::*;
use crate::history::GateFailure;

fn t(kind: TransitionKind, previous: Option<Status>, status: Status) -> Transition {
    Transition {
        stack: "web".into(),
        kind,
        previous,
        status,
        revision: Some("r2".into()),
        reason: None,
    }
}

fn changed(previous: Option<Status>, status: Status) -> Transition {
    t(TransitionKind::StatusChanged, previous, status)
}

fn because(mut transition: Transition, reason: &str) -> Transition {
    transition.reason = Some(reason.into());
    transition
}

/// The events `feed` makes through a selector sending `events`.
fn events(events: &str, feed: &[Transition]) -> Vec<&'static str> {
    let mut selector = Selector::new(events.parse().expect("events"));
    feed.iter()
        .filter_map(|t| selector.transition(t))
        .map(|n| n.event.as_str())
        .collect()
}

const STARTED: TransitionKind = TransitionKind::ApplyStarted { drift: false };

#[test]
fn a_first_apply_is_one_synced_and_started_only_when_chosen() {
    let feed = [
        t(STARTED, None, Status::Syncing),
        t(TransitionKind::GatePassed, None, Status::Synced),
        changed(None, Status::Synced),
    ];
    assert_eq!(events("all", &feed), ["started", "synced"]);
    let mut selector = Selector::new(EventSet::default());
    let sent: Vec<_> = feed.iter().filter_map(|t| selector.transition(t)).collect();
    assert_eq!(
        sent,
        [Notice {
            event: NotifyEvent::Synced,
            stack: Some("web".into()),
            status: Some(Status::Synced),
            previous: None,
            revision: Some("r2".into()),
            from_revision: None,
            reason: None,
        }]
    );
}

#[test]
fn a_failed_gate_then_a_fix_is_gate_failed_failed_then_recovered() {
    let gate = "health gate failed: web: container exited (3)";
    let feed = [
        t(STARTED, Some(Status::Synced), Status::Syncing),
        because(
            t(
                TransitionKind::GateFailed {
                    failure: GateFailure::Exited,
                },
                Some(Status::Syncing),
                Status::Failed,
            ),
            gate,
        ),
        because(changed(Some(Status::Syncing), Status::Failed), gate),
        t(STARTED, Some(Status::Failed), Status::Syncing),
        t(
            TransitionKind::GatePassed,
            Some(Status::Syncing),
            Status::Synced,
        ),
        changed(Some(Status::Syncing), Status::Synced),
    ];
    assert_eq!(
        events("gate-failed,failed,recovered,synced", &feed),
        ["gate-failed", "recovered"],
        "the failed status of a failed gate is the same news"
    );
    assert_eq!(events("failed,recovered", &feed), ["failed", "recovered"]);
}

#[test]
fn an_automatic_rollback_is_one_rolled_back_naming_both_revisions() {
    let mut selector = Selector::new(EventSet::default());
    let sent: Vec<Notice> = rolled_back_to_good()
        .iter()
        .filter_map(|t| selector.transition(t))
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].event, NotifyEvent::RolledBack);
    assert_eq!(sent[0].revision.as_deref(), Some("good"));
    assert_eq!(sent[0].from_revision.as_deref(), Some("bad"));
}

/// A failed gate rolled back to `good`, ending `rolled-back`.
fn rolled_back_to_good() -> Vec<Transition> {
    let mut rollback = t(
        TransitionKind::RollbackStarted {
            from: Some("bad".into()),
            failure: Some(GateFailure::Unhealthy),
        },
        Some(Status::Syncing),
        Status::Syncing,
    );
    rollback.revision = Some("good".into());
    vec![
        rollback,
        passed(Some(Status::Syncing)),
        back_to_rolled_back(),
    ]
}

/// [`rolled_back_to_good`], then a container of `good` was killed (flagged).
fn drifted_after_rollback() -> Vec<Transition> {
    let mut feed = rolled_back_to_good();
    feed.push(because(
        changed(Some(Status::RolledBack), Status::Drifted),
        "web: exited (137)",
    ));
    feed
}

/// The gate of an apply of `good` passed.
fn passed(previous: Option<Status>) -> Transition {
    let mut passed = t(TransitionKind::GatePassed, previous, Status::Synced);
    passed.revision = Some("good".into());
    passed
}

/// The status says `good` runs in place of a revision that failed.
fn back_to_rolled_back() -> Transition {
    let mut ended = because(
        changed(Some(Status::Syncing), Status::RolledBack),
        "bad failed its health gate; the last revision that passed runs",
    );
    ended.revision = Some("good".into());
    ended
}

#[test]
fn an_ack_of_drift_on_a_rolled_back_stack_is_one_recovered_saying_rolled_back() {
    let mut feed = drifted_after_rollback();
    // The ack: an operator's apply of the revision that runs, whose gate
    // passes, and the status goes back to rolled-back (no new rollback).
    feed.push(t(STARTED, Some(Status::Drifted), Status::Syncing));
    feed.push(passed(Some(Status::Drifted)));
    feed.push(back_to_rolled_back());
    let mut selector = Selector::new(EventSet::default());
    let sent: Vec<Notice> = feed.iter().filter_map(|t| selector.transition(t)).collect();
    let told: Vec<_> = sent.iter().map(|n| (n.event.as_str(), n.status)).collect();
    assert_eq!(
        told,
        [
            ("rolled-back", Some(Status::RolledBack)),
            ("drifted", Some(Status::Drifted)),
            ("recovered", Some(Status::RolledBack)),
        ]
    );
    assert_eq!(sent[2].revision.as_deref(), Some("good"));
}

#[test]
fn a_rolled_back_status_without_a_rollback_is_not_rolled_back_news() {
    // Drift found and gone by itself, then a pass found it rolled back again.
    let mut feed = drifted_after_rollback();
    let mut found = back_to_rolled_back();
    found.previous = Some(Status::Drifted);
    feed.push(found);
    assert_eq!(
        events("all", &feed),
        ["rolled-back", "drifted", "recovered"]
    );
}

/// What decide reports with `RECONCILE_ENABLED=false` when Git changed.
fn pending_change(previous: Status) -> Transition {
    because(
        changed(Some(previous), Status::Drifted),
        "out of sync (automatic apply is off): web: labels of another stack_hash",
    )
}

#[test]
fn a_git_change_waiting_for_an_apply_is_not_drift_and_its_apply_is_synced() {
    let feed = [
        pending_change(Status::Synced),
        t(STARTED, Some(Status::Drifted), Status::Syncing),
        t(
            TransitionKind::GatePassed,
            Some(Status::Drifted),
            Status::Synced,
        ),
        changed(Some(Status::Syncing), Status::Synced),
    ];
    assert_eq!(events("all", &feed), ["started", "synced"]);
}

#[test]
fn a_git_change_reverted_before_its_apply_is_no_news() {
    let feed = [
        pending_change(Status::Synced),
        changed(Some(Status::Drifted), Status::Synced),
    ];
    assert_eq!(events("all", &feed), Vec::<&str>::new());
}

#[test]
fn the_state_a_restart_finds_is_no_news_but_what_changes_after_is() {
    let found = [
        changed(None, Status::Orphaned),
        because(
            changed(None, Status::RolledBack),
            "bad failed its health gate",
        ),
        because(changed(None, Status::Failed), "compose up: port in use"),
        because(changed(None, Status::Drifted), "web: exited (137)"),
    ];
    for state in &found {
        assert_eq!(
            events("all", std::slice::from_ref(state)),
            Vec::<&str>::new()
        );
    }
    // Found failed, then fixed: the fix is news.
    let fixed = [
        found[2].clone(),
        t(STARTED, Some(Status::Failed), Status::Syncing),
        t(
            TransitionKind::GatePassed,
            Some(Status::Failed),
            Status::Synced,
        ),
        changed(Some(Status::Syncing), Status::Synced),
    ];
    assert_eq!(events("failed,recovered", &fixed), ["recovered"]);
}

#[test]
fn a_failure_of_an_apply_after_a_restart_is_news() {
    let feed = [
        t(STARTED, None, Status::Syncing),
        because(changed(None, Status::Failed), "compose up: port in use"),
    ];
    assert_eq!(events("all", &feed), ["started", "failed"]);
}

#[test]
fn removed_names_the_revision_removed() {
    let mut removal = t(
        TransitionKind::RemoveStarted,
        Some(Status::Orphaned),
        Status::Deleting,
    );
    removal.revision = Some("last".into());
    let mut gone = changed(Some(Status::Deleting), Status::Missing);
    gone.revision = None;
    let mut selector = Selector::new(EventSet::default());
    let sent: Vec<Notice> = [removal, gone]
        .iter()
        .filter_map(|t| selector.transition(t))
        .collect();
    let told: Vec<_> = sent
        .iter()
        .map(|n| (n.event.as_str(), n.revision.as_deref()))
        .collect();
    assert_eq!(told, [("removed", Some("last"))]);
}

#[rstest]
#[case::reverted(vec![t(TransitionKind::ApplyStarted { drift: true }, Some(Status::Synced), Status::Syncing)], &["drifted"])]
#[case::flagged(vec![because(changed(Some(Status::Synced), Status::Drifted), "web: stopped")], &["drifted"])]
#[case::orphaned(vec![changed(Some(Status::Synced), Status::Orphaned)], &["orphaned"])]
#[case::removed(vec![
    t(TransitionKind::RemoveStarted, Some(Status::Synced), Status::Deleting),
    changed(Some(Status::Synced), Status::Missing),
], &["removed"])]
#[case::missing_is_no_removal(vec![changed(Some(Status::Synced), Status::Missing)], &[])]
#[case::restart_finds_synced(vec![changed(None, Status::Synced), changed(Some(Status::Unknown), Status::Synced)], &[])]
#[case::drift_gone(vec![
    because(changed(Some(Status::Synced), Status::Drifted), "web: stopped"),
    changed(Some(Status::Drifted), Status::Synced),
], &["drifted", "recovered"])]
fn each_status_has_its_event(#[case] feed: Vec<Transition>, #[case] expected: &[&str]) {
    assert_eq!(events("all", &feed), expected);
}

#[test]
fn the_same_news_is_sent_once_until_something_else_is_sent() {
    let failed = because(
        changed(Some(Status::Syncing), Status::Failed),
        "compose up: port in use",
    );
    let drift = t(
        TransitionKind::ApplyStarted { drift: true },
        Some(Status::Synced),
        Status::Syncing,
    );
    let other = because(
        changed(Some(Status::Syncing), Status::Failed),
        "compose up: no image",
    );
    let feed = [
        failed.clone(),
        failed.clone(),
        drift.clone(),
        drift.clone(),
        failed.clone(),
        other,
    ];
    assert_eq!(
        events("all", &feed),
        ["failed", "drifted", "failed", "failed"],
        "a repeat is dropped; a change of reason is news"
    );
}

#[test]
fn an_unchosen_event_is_not_sent_and_does_not_count_as_sent() {
    let failed = because(changed(Some(Status::Syncing), Status::Failed), "boom");
    let drift = t(
        TransitionKind::ApplyStarted { drift: true },
        Some(Status::Synced),
        Status::Syncing,
    );
    assert_eq!(
        events("failed", &[failed.clone(), drift, failed]),
        ["failed"]
    );
}

#[test]
fn git_failing_is_told_at_the_third_failure_in_a_row_and_its_recovery_once() {
    let mut selector = Selector::new(EventSet::default());
    let mut told = Vec::new();
    for failed in [true, true, false, true, true, true, true, false, false] {
        let error = failed.then(|| "fetch: connection refused".to_string());
        if let Some(n) = selector.refresh(failed, Some("r".into()), error) {
            told.push((n.event.as_str(), n.reason));
        }
    }
    assert_eq!(
        told,
        [
            ("refresh-failing", Some("fetch: connection refused".into())),
            ("refresh-recovered", None)
        ]
    );
}

#[rstest]
#[case("", "names no event")]
#[case(
    "synced,bogus",
    "unknown event 'bogus' in NOTIFY_EVENTS (one of: started, synced, failed, gate-failed, rolled-back, drifted, orphaned, removed, recovered, refresh-failing, refresh-recovered, or all)"
)]
fn notify_events_refuses_unknown_names(#[case] text: &str, #[case] why: &str) {
    let err = text.parse::<EventSet>().err().map(|e| e.to_string());
    assert!(err.as_deref().is_some_and(|e| e.contains(why)), "{err:?}");
}

#[test]
fn names_are_read_whatever_their_case() {
    let set = "ALL".parse::<EventSet>().expect("ALL");
    assert!(set.contains(NotifyEvent::Started));
    let set = " Synced ,ROLLED-BACK"
        .parse::<EventSet>()
        .expect("mixed case");
    assert!(set.contains(NotifyEvent::Synced) && set.contains(NotifyEvent::RolledBack));
    assert!(!set.contains(NotifyEvent::Failed));
}

#[test]
fn the_default_is_everything_but_started() {
    let default = EventSet::default();
    assert!(!default.contains(NotifyEvent::Started));
    assert!(
        NotifyEvent::ALL
            .iter()
            .filter(|e| **e != NotifyEvent::Started)
            .all(|e| default.contains(*e))
    );
    assert_eq!(
        "all"
            .parse::<EventSet>()
            .map(|s| s.contains(NotifyEvent::Started)),
        Ok(true)
    );
}
