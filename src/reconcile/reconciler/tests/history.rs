//! What a pass leaves in the stack's history: one entry per apply or removal
//! that ran, none for a pass that ran nothing.

use super::*;
use crate::history::{self, Entry};

async fn entries(h: &Harness, name: &str) -> Vec<Entry> {
    h.reconciler.records.history.list(name).await.expect("list")
}

fn kinds(
    entries: &[Entry],
) -> Vec<(
    history::Operation,
    history::Cause,
    history::Trigger,
    Outcome,
)> {
    entries
        .iter()
        .map(|e| (e.action, e.cause, e.trigger, e.outcome))
        .collect()
}

#[tokio::test]
async fn a_git_apply_is_recorded_once_and_a_no_op_pass_adds_nothing() {
    let h = harness(defaults(), runs_web());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.pass("web").await.expect("applied");
    h.running("web", "h1");
    h.pass("web").await.expect("no-op");
    let listed = entries(&h, "web").await;
    assert_eq!(
        kinds(&listed),
        [(
            history::Operation::Apply,
            history::Cause::Git,
            history::Trigger::Refresh,
            Outcome::Success
        )]
    );
    assert_eq!(listed[0].revision.as_deref(), Some("r1"));
    assert_eq!(listed[0].stack_hash.as_deref(), Some("h1"));
    assert_eq!(listed[0].error, None);
}

#[tokio::test]
async fn an_apply_that_does_not_converge_is_recorded_as_failed_with_its_error() {
    let h = harness(defaults(), FakeExecutor::default());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.pass("web").await.expect_err("nothing came up");
    h.pass("web").await.expect("a report, no apply");
    let listed = entries(&h, "web").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].outcome, Outcome::Failure);
    assert_eq!(
        listed[0].error.as_deref(),
        Some("health gate failed: web: no container")
    );
}

#[tokio::test]
async fn docker_unreachable_records_nothing_as_nothing_ran() {
    let offline = FakeExecutor {
        offline: true,
        ..FakeExecutor::default()
    };
    let h = harness(defaults(), offline);
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.pass("web").await.expect_err("offline");
    assert!(entries(&h, "web").await.is_empty());
}

#[tokio::test]
async fn a_removal_names_what_it_removed_and_a_failed_one_its_error() {
    let h = harness(removal_on(), leaves_a_container());
    h.publish("r2", vec![]);
    h.running("old", "h0");
    h.pass("old").await.expect_err("a container is left");
    h.reconciler
        .executor
        .down_left
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    h.pass("old").await.expect("removed");
    let listed = entries(&h, "old").await;
    let outcomes: Vec<_> = listed.iter().map(|e| (e.action, e.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (history::Operation::Remove, Outcome::Success),
            (history::Operation::Remove, Outcome::Failure)
        ],
        "newest first"
    );
    assert_eq!(
        listed[0].revision.as_deref(),
        Some("r1"),
        "the removed containers' revision"
    );
    assert_eq!(listed[0].stack_hash.as_deref(), Some("h0"));
    assert_eq!(listed[0].cause, history::Cause::Git);
}

#[tokio::test]
async fn a_drift_revert_a_sync_and_a_plan_apply_each_say_why() {
    let h = harness(defaults(), runs_web());
    h.publish("r2", vec![desired_stack("web", "h1", None)]);
    h.running("web", "h1");
    let stopped = h.exits("web", 0);
    h.pass_for("web", Trigger::DockerEvent)
        .await
        .expect("reverted");

    h.containers.set_stack("web", stopped.clone());
    h.reconciler.memories.grant("web");
    h.pass("web").await.expect("synced");

    h.containers.set_stack("web", stopped);
    let guard = h.reconciler.memories.try_lock("web").expect("free");
    let (reply, _answer) = tokio::sync::oneshot::channel();
    h.reconciler.memories.request_apply(
        "web",
        crate::reconcile::memory::PendingApply {
            guard,
            reply,
            rollback_to: None,
        },
    );
    h.pass("web").await.expect("applied");

    let listed = entries(&h, "web").await;
    let why: Vec<_> = listed.iter().map(|e| (e.cause, e.trigger)).collect();
    assert_eq!(
        why,
        [
            (history::Cause::Manual, history::Trigger::Api),
            (history::Cause::Manual, history::Trigger::Sync),
            (history::Cause::Drift, history::Trigger::DockerEvent),
        ]
    );
    // The same drift found by the periodic resync says so.
    h.exits("web", 0);
    h.pass_for("web", Trigger::Resync).await.expect("reverted");
    let newest = entries(&h, "web").await.remove(0);
    assert_eq!(
        (newest.cause, newest.trigger),
        (history::Cause::Drift, history::Trigger::Resync)
    );
    assert_eq!(
        listed[2].revision.as_deref(),
        Some("r1"),
        "a revert re-applies r1"
    );
}
