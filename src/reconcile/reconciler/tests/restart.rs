//! What a restart of docker-cd recalls from the history besides the gate:
//! the tries of a `compose up` that failed, and a crash loop left alone.

use super::*;
use crate::history::{Cause, Operation, Run, Trigger};

const WHY: &str = "Error response from daemon: mkdir /srv/app: read-only file system";

/// The labels compose wrote on `web`'s containers for an apply of `h1` at r1.
fn applied_h1() -> Synced {
    Synced {
        revision: "r1".into(),
        compose_hash: "c".into(),
        stack_hash: "h1".into(),
        synced_at: Timestamp::now().to_string(),
        good_revision: None,
        rolled_back_from: None,
        held: false,
        rollback_reason: None,
    }
}

/// Records an apply of `h1` that started `ago` seconds ago.
async fn recorded(h: &Harness, (cause, trigger): (Cause, Trigger), error: Option<&str>, ago: i64) {
    let run = Run::start(Operation::Apply, (cause, trigger), Some(&applied_h1()));
    let mut entry = run.finish(error.map(str::to_string));
    entry.started_at = (Timestamp::now() - jiff::SignedDuration::from_secs(ago)).to_string();
    h.reconciler.records.history.record("web", entry).await;
}

#[tokio::test]
async fn after_a_restart_a_failed_compose_up_is_retried_after_its_backoff_not_reverted() {
    let h = harness(defaults(), runs_web());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    recorded(&h, (Cause::Git, Trigger::Refresh), Some(WHY), 6).await;
    recorded(&h, (Cause::Git, Trigger::Retry), Some(WHY), 1).await;
    // What the failed tries left: a container created, never started.
    let labels: Vec<(&str, String)> = StackLabels {
        instance: "me".into(),
        stack_path: "web".into(),
        synced: applied_h1(),
    }
    .pairs()
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.containers
        .set_stack("web", vec![container("a", "web", "created", &labels)]);
    let action = h.pass("web").await.expect("a report");
    assert!(
        h.reconciler.executor.calls().is_empty(),
        "not applied at once"
    );
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(record.status, Status::Failed);
    assert_eq!(record.error.as_deref(), Some(WHY), "compose's own reason");
    let after = action.requeue_after().unwrap_or_default();
    assert!(
        after > Duration::from_secs(5) && after <= Duration::from_secs(10),
        "the third try waits what is left of 10 s: {after:?}"
    );
}

#[tokio::test]
async fn after_a_restart_a_crash_loop_left_alone_stays_alone() {
    let h = harness(defaults(), runs_web());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    // Five reverts within a minute, given up on; docker-cd restarted more
    // than the crash-loop window after the first of them.
    recorded(&h, (Cause::Git, Trigger::Refresh), None, 1000).await;
    for ago in [390, 370, 350, 330, 310] {
        recorded(&h, (Cause::Drift, Trigger::DockerEvent), None, ago).await;
    }
    h.running("web", "h1");
    h.exits("web", 7);
    h.pass("web").await.expect("a report");
    assert!(h.reconciler.executor.calls().is_empty(), "no sixth start");
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(record.status, Status::Failed);
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("restarted 5 times")),
        "{:?}",
        record.error
    );
}

/// A revision refused before compose ran (POLICY) is judged afresh after a
/// restart, maybe under other settings: not a failed `compose up` to retry.
#[tokio::test]
async fn after_a_restart_a_refused_revision_is_not_taken_for_a_failed_compose_up() {
    let off = Rules {
        reconcile_enabled: false,
        ..defaults()
    };
    let h = harness(off, runs_web());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    let refused = "service 'web': privileged: true is refused by POLICY deny-privileged";
    recorded(&h, (Cause::Git, Trigger::Refresh), Some(refused), 60).await;
    h.pass("web").await.expect("a report");
    assert_eq!(h.status("web"), Some(Status::Missing));
}
