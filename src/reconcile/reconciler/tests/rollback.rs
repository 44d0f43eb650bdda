//! Rollbacks over the fake executor: what runs in place of a failed (or held
//! off) revision, and a rollback that cannot start yet.

use std::time::Instant;

use super::*;
use crate::git::tree::FileTree;
use crate::history::GateFailure;

const COMPOSE: &str = "services:\n  web:\n    image: app\n";

/// Past revisions where `web` exists at `r0` only.
fn revisions_with_r0() -> Revisions {
    Revisions::new(Arc::new(|revision: &str| {
        let mut tree = FileTree::new();
        if revision == "r0" {
            tree.insert_file("web/compose.yaml", COMPOSE);
        }
        Ok(tree)
    }))
}

impl Harness {
    /// `web` runs `revision` in `state`, labelled with `extra` besides the apply's labels.
    fn runs(&self, revision: &str, hash: &str, state: &str, extra: &[(&str, &str)]) {
        let mut labels = vec![
            (labels::MANAGED, "true"),
            (labels::INSTANCE, "me"),
            (labels::STACK, "web"),
            (labels::REVISION, revision),
            (labels::COMPOSE_HASH, "c"),
            (labels::STACK_HASH, hash),
            (labels::SYNCED_AT, "2026-01-01T00:00:00Z"),
        ];
        labels.extend_from_slice(extra);
        self.containers
            .set_stack("web", vec![container("a", "web", state, &labels)]);
    }
}

/// `web` at `r2` (hash h2) in Git with rollback on; `r0` can be read.
fn rollback_on() -> Harness {
    let mut h = harness(
        Rules {
            rollback_enabled: true,
            ..defaults()
        },
        runs_web(),
    );
    h.reconciler.revisions = revisions_with_r0();
    h.publish("r2", vec![desired_stack("web", "h2", None)]);
    h
}

/// `web` at `r2` (hash h2) in Git, while r0's stack runs in its place.
fn rolled_back(revisions: Revisions, state: &str) -> Harness {
    let mut h = harness(defaults(), runs_web());
    h.reconciler.revisions = revisions;
    h.publish("r2", vec![desired_stack("web", "h2", None)]);
    h.runs("r0", &r0_hash(), state, &[(labels::ROLLED_BACK_FROM, "h2")]);
    h
}

/// `web` runs `r2`, whose gate just failed; rollback is on, to `r0`.
fn failed_on_r2() -> Harness {
    let h = rollback_on();
    h.runs("r2", "h2", "running", &[(labels::GOOD_REVISION, "r0")]);
    h.reconciler.memories.with("web", |m| {
        m.gate = HealthGate::with(GateState::Failed {
            stack_hash: "h2".into(),
            failure: GateFailure::Unhealthy,
            reason: "health gate failed: web: unhealthy".into(),
            opened: Instant::now(),
            rollback_tried: false,
        });
    });
    h
}

/// The `stack_hash` of `web` at `r0`.
fn r0_hash() -> String {
    let r0 = crate::stack::discover(&{
        let mut tree = FileTree::new();
        tree.insert_file("web/compose.yaml", COMPOSE);
        tree
    });
    r0.get("web")
        .map(|s| s.stack_hash.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_stand_in_that_cannot_be_read_does_not_bring_back_the_failed_revision() {
    let h = rolled_back(Revisions::default(), "running");
    let action = h.pass("web").await.expect("a report");
    assert!(h.reconciler.executor.calls().is_empty(), "h2 not applied");
    assert_eq!(action, Action::requeue(UNREADABLE_RETRY));
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(record.status, Status::Failed);
    assert!(
        record
            .error
            .unwrap_or_default()
            .contains("cannot be read now"),
        "says why"
    );
}

#[tokio::test]
async fn an_ack_repairs_the_stand_in_and_only_a_sync_brings_back_git() {
    let h = rolled_back(revisions_with_r0(), "exited");
    h.reconciler.memories.grant("web");
    h.pass("web").await.expect("drift reverted");
    assert_eq!(h.reconciler.executor.calls(), ["up web r0"], "ack");
    let listed = h
        .reconciler
        .records
        .history
        .list("web")
        .await
        .expect("history");
    assert_eq!(
        listed.first().map(|e| e.action),
        Some(crate::history::Operation::Apply),
        "a repair of the stand-in is no rollback"
    );
    h.reconciler.memories.release("web");
    h.pass("web").await.expect("applied");
    assert_eq!(
        h.reconciler.executor.calls(),
        ["up web r0", "up web r2"],
        "sync"
    );
}

#[tokio::test]
async fn a_rollback_that_cannot_start_yet_is_tried_again() {
    let h = failed_on_r2();
    let rollbacks = |h: &Harness| {
        h.reconciler
            .records
            .gate_series
            .rollbacks
            .with_label_values(&["unhealthy"])
            .get()
    };
    let plan_apply = h.reconciler.memories.try_lock("web");
    let action = h.pass("web").await.expect("locked: later");
    assert_eq!(action, Action::requeue(LOCKED_RETRY));
    assert!(h.reconciler.executor.calls().is_empty());
    assert_eq!(rollbacks(&h), 0, "not counted before it starts");
    drop(plan_apply);
    h.pass("web").await.expect("rolled back");
    assert_eq!(h.reconciler.executor.calls(), ["up web r0"]);
    assert_eq!(rollbacks(&h), 1);
}

#[tokio::test]
async fn a_rollback_whose_containers_were_all_removed_is_restored_not_replaced() {
    let h = rolled_back(revisions_with_r0(), "running");
    h.pass("web").await.expect("in sync");
    assert_eq!(h.status("web"), Some(Status::RolledBack));
    h.containers.set_stack("web", vec![]);
    h.pass("web").await.expect("restored");
    assert_eq!(h.reconciler.executor.calls(), ["up web r0"], "not r2");
}

#[tokio::test]
async fn a_rollback_target_that_cannot_be_read_yet_is_tried_again_later() {
    let mut h = failed_on_r2();
    h.reconciler.revisions = Revisions::default();
    let action = h.pass("web").await.expect("later");
    assert_eq!(action, Action::requeue(UNREADABLE_RETRY));
    let tried = h.reconciler.memories.with("web", |m| {
        matches!(
            m.gate.state(),
            Some(GateState::Failed {
                rollback_tried: true,
                ..
            })
        )
    });
    assert!(!tried, "the one try is still there");
}

#[tokio::test]
async fn a_gate_recalled_after_a_restart_counts_its_rollback_by_how_it_failed() {
    let h = rollback_on();
    // A restart loop is unhealthy, though its message does not say so.
    h.failed_apply_of_r2(
        GateFailure::Unhealthy,
        "health gate failed: web: container a-1 is restarting",
    )
    .await;
    h.runs("r2", "h2", "restarting", &[(labels::GOOD_REVISION, "r0")]);
    h.pass("web").await.expect("rolled back");
    assert_eq!(h.reconciler.executor.calls(), ["up web r0"]);
    let counted = |reason: &str| {
        h.reconciler
            .records
            .gate_series
            .rollbacks
            .with_label_values(&[reason])
            .get()
    };
    assert_eq!((counted("unhealthy"), counted("exited")), (1, 0));
}

#[tokio::test]
async fn a_sync_asked_for_while_a_rollback_starts_applies_git_after_it() {
    let h = failed_on_r2();
    let memories = h.reconciler.memories.clone();
    *h.reconciler
        .executor
        .on_connect
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(Box::new(move || memories.release("web")));
    h.pass("web").await.expect("rolled back");
    assert_eq!(h.reconciler.executor.calls(), ["up web r0"]);
    h.runs(
        "r0",
        &r0_hash(),
        "running",
        &[(labels::ROLLED_BACK_FROM, "h2")],
    );
    h.pass("web").await.expect("the sync");
    assert_eq!(
        h.reconciler.executor.calls(),
        ["up web r0", "up web r2"],
        "the sync is not used up by the rollback that started meanwhile"
    );
}

#[tokio::test]
async fn a_failed_gate_with_a_rollback_to_follow_is_not_reported_failed_meanwhile() {
    let h = rollback_on();
    h.runs("r2", "h2", "restarting", &[(labels::GOOD_REVISION, "r0")]);
    h.reconciler.memories.with("web", |m| {
        m.gate = HealthGate::with(GateState::Open {
            stack_hash: "h2".into(),
            since: Instant::now(),
            gated: true,
        });
    });
    let action = h.pass("web").await.expect("gate failed");
    assert_eq!(action, Action::requeue(ROLLBACK_DELAY));
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(record.status, Status::Syncing, "{record:?}");
    assert!(
        record.error.unwrap_or_default().ends_with("; rolling back"),
        "says what comes"
    );
    h.pass("web").await.expect("rolled back");
    assert_eq!(h.reconciler.executor.calls(), ["up web r0"]);
}

#[tokio::test]
async fn a_failed_gate_recalled_while_the_stack_runs_well_is_not_rolled_back() {
    // Timed out last week with rollback off; healthy since; rollback turned on.
    let h = rollback_on();
    h.failed_apply_of_r2(GateFailure::Timeout, "health gate failed: late")
        .await;
    h.runs("r2", "h2", "running", &[(labels::GOOD_REVISION, "r0")]);
    h.pass("web").await.expect("a report");
    assert!(h.reconciler.executor.calls().is_empty(), "no rollback");
    assert_eq!(h.status("web"), Some(Status::Failed));
}

#[tokio::test]
async fn a_revision_that_exits_as_compose_returns_is_syncing_until_rolled_back() {
    let mut h = rollback_on();
    h.reconciler.executor = FakeExecutor {
        up_result: Mutex::new(vec![container("a", "web", "exited", &[])]),
        ..FakeExecutor::default()
    };
    // r0 runs and passed its gate; Git says r2.
    h.runs("r0", "h0", "running", &[]);
    h.reconciler.memories.with("web", |m| {
        m.gate = HealthGate::with(GateState::Passed {
            stack_hash: "h0".into(),
        });
    });
    let action = h
        .pass("web")
        .await
        .expect("not an error: a rollback follows");
    assert_eq!(action, Action::requeue(ROLLBACK_DELAY));
    assert_eq!(h.status("web"), Some(Status::Syncing));
    h.runs("r2", "h2", "exited", &[(labels::GOOD_REVISION, "r0")]);
    *h.reconciler
        .executor
        .up_result
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = vec![container("a", "web", "running", &[])];
    h.pass("web").await.expect("rolled back");
    assert_eq!(h.reconciler.executor.calls(), ["up web r2", "up web r0"]);
}
