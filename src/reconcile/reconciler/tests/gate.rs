//! What a gate's verdict leaves besides the status: the apply's history entry,
//! the gate series, a `gate` event, and the stack's health series.

use prometheus::core::Collector as _;

use super::*;
use crate::docker::state::Health;
use crate::events::Event;
use crate::history::{self, Entry};

/// `web` whose container's healthcheck is `health`.
fn web_with(health: Health) -> FakeExecutor {
    let mut web = container("a", "web", "running", &[]);
    web.health = Some(health);
    FakeExecutor {
        up_result: Mutex::new(vec![web]),
        ..FakeExecutor::default()
    }
}

async fn newest(h: &Harness) -> Entry {
    let listed = h
        .reconciler
        .records
        .history
        .list("web")
        .await
        .expect("list");
    listed.into_iter().next().expect("an entry")
}

fn gate_count(h: &Harness, outcome: &str) -> u64 {
    h.reconciler
        .records
        .gate_series
        .duration
        .with_label_values(&[outcome])
        .get_sample_count()
}

fn health(h: &Harness) -> f64 {
    h.reconciler
        .records
        .gate_series
        .stack_health
        .with_label_values(&["web"])
        .get()
}

/// The gate events published so far.
fn gate_events(rx: &mut tokio::sync::broadcast::Receiver<Event>) -> Vec<Event> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .filter(|e| e.kind() == "gate")
        .collect()
}

#[tokio::test]
async fn an_apply_ready_as_compose_returns_passes_its_gate_at_once() {
    let h = harness(defaults(), runs_web());
    let mut rx = h.reconciler.records.events.subscribe();
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.pass("web").await.expect("applied");
    let entry = newest(&h).await;
    assert_eq!(entry.gate, Some(history::GateResult::Passed));
    assert_eq!(entry.outcome, Outcome::Success);
    assert_eq!(gate_count(&h, "passed"), 1);
    assert_eq!(health(&h), 1.0);
    let events = gate_events(&mut rx);
    assert!(
        matches!(&events[..], [Event::Gate { outcome, revision, .. }] if outcome == "passed" && revision.as_deref() == Some("r1")),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_gate_that_fails_after_the_apply_makes_its_entry_a_failure() {
    let h = harness(defaults(), web_with(Health::Starting));
    let mut rx = h.reconciler.records.events.subscribe();
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.pass("web").await.expect("applied");
    assert_eq!(h.status("web"), Some(Status::Syncing));
    let open = newest(&h).await;
    assert_eq!((open.outcome, open.gate), (Outcome::Success, None), "open");
    assert_eq!(health(&h), 0.0);

    // The informer sees the container turn unhealthy.
    h.running("web", "h1");
    let mut unhealthy = h.reconciler.runtime.containers("web");
    unhealthy[0].health = Some(Health::Unhealthy);
    h.containers.set_stack("web", unhealthy);
    h.pass("web").await.expect("gate failed");
    assert_eq!(h.status("web"), Some(Status::Failed));
    let entry = newest(&h).await;
    assert_eq!(entry.gate, Some(history::GateResult::Failed));
    assert_eq!(entry.outcome, Outcome::Failure);
    assert_eq!(
        entry.error.as_deref(),
        Some("health gate failed: web: container a-1 is unhealthy")
    );
    assert_eq!((gate_count(&h, "failed"), gate_count(&h, "passed")), (1, 0));
    let events = gate_events(&mut rx);
    assert!(
        matches!(&events[..], [Event::Gate { outcome, reason, .. }] if outcome == "failed" && reason.as_deref() == Some("unhealthy")),
        "{events:?}"
    );

    // Reported again, not counted again.
    h.pass("web").await.expect("a report");
    assert_eq!(gate_count(&h, "failed"), 1);
    assert!(gate_events(&mut rx).is_empty());
}

#[tokio::test]
async fn a_stack_that_leaves_leaves_no_health_series() {
    let h = harness(defaults(), runs_web());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.running("web", "h1");
    h.pass("web").await.expect("in sync");
    let series = |h: &Harness| {
        h.reconciler
            .records
            .gate_series
            .stack_health
            .collect()
            .into_iter()
            .map(|f| f.get_metric().len())
            .sum::<usize>()
    };
    assert_eq!(series(&h), 1);
    h.publish("r2", vec![]);
    h.containers.set_stack("web", vec![]);
    h.pass("web").await.expect("forgotten");
    assert_eq!(h.status("web"), None);
    assert_eq!(series(&h), 0);
}

/// After a restart, `web`'s container (labelled as applied at `synced_at`)
/// exited long after an apply of h2 whose entry says its gate failed.
async fn restarted_with_a_failed_entry(synced_at: &str) -> Harness {
    let h = harness(defaults(), runs_web());
    h.publish("r2", vec![desired_stack("web", "h2", None)]);
    h.failed_apply_of_r2(history::GateFailure::Exited, EXITED)
        .await;
    h.running("web", "h2");
    let mut exited = h.reconciler.runtime.containers("web");
    exited[0].state = crate::docker::state::ContainerState::Exited;
    exited[0].exit_code = Some(1);
    exited[0]
        .labels
        .insert(labels::SYNCED_AT.into(), synced_at.into());
    h.containers.set_stack("web", exited);
    h
}

const EXITED: &str = "health gate failed: web: container a-1 exited (1)";

#[tokio::test]
async fn after_a_restart_a_failed_gate_is_recalled_from_the_history_not_reverted() {
    let h = restarted_with_a_failed_entry("2026-01-01T00:00:00Z").await;
    h.pass("web").await.expect("a report");
    assert!(h.reconciler.executor.calls().is_empty(), "not reverted");
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(
        (record.status, record.error.as_deref()),
        (Status::Failed, Some(EXITED))
    );
    // And the last result is the history's, not unknown.
    let last = record.last_result.expect("a last result");
    assert_eq!(
        (last.outcome, last.error.as_deref()),
        (Outcome::Failure, Some(EXITED))
    );
}

#[tokio::test]
async fn an_entry_older_than_the_running_apply_is_not_recalled() {
    // The running apply (a sync of the same files, killed before its entry
    // was written) is newer than the failed entry: its exit is drift.
    let h = restarted_with_a_failed_entry("2099-01-01T00:00:00Z").await;
    h.pass("web").await.expect("reverted");
    assert_eq!(h.reconciler.executor.calls(), ["up web r1"]);
}

#[tokio::test]
async fn the_history_is_looked_at_once_per_stack_hash_not_on_every_pass() {
    let mut h = harness(
        Rules {
            drift_policy: DriftPolicy::Flag,
            ..defaults()
        },
        runs_web(),
    );
    let store = Arc::new(crate::history::fake::MemoryStore::default());
    let errors = prometheus::IntCounter::new("history_errors_total", "test").expect("counter");
    h.reconciler.records.history = History::new(store.clone(), errors);
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    // A stopped container under DRIFT_POLICY=flag: out of sync pass after pass.
    h.running("web", "h1");
    let mut stopped = h.reconciler.runtime.containers("web");
    stopped[0].state = crate::docker::state::ContainerState::Exited;
    h.containers.set_stack("web", stopped);
    for _ in 0..3 {
        h.pass("web").await.expect("flagged");
    }
    assert_eq!(h.status("web"), Some(Status::Drifted));
    assert_eq!(store.reads(), 1);
}

#[tokio::test]
async fn a_healthy_stack_waiting_for_a_new_revision_counts_as_healthy() {
    // Reconcile off: Git moved to h2, the containers of h1 run and are ready.
    let h = harness(
        Rules {
            reconcile_enabled: false,
            ..defaults()
        },
        runs_web(),
    );
    h.publish("r2", vec![desired_stack("web", "h2", None)]);
    h.running("web", "h1");
    h.pass("web").await.expect("a report");
    assert!(h.reconciler.executor.calls().is_empty());
    assert_eq!(health(&h), 1.0, "as the API counts it: what runs is ready");
}

#[tokio::test]
async fn a_gate_whose_deadline_passed_while_docker_cd_was_down_fails_at_the_restart() {
    let h = harness(defaults(), runs_web());
    // A deadline already behind the apply (its entry is from just now).
    let desired = DesiredStack {
        health_timeout: Some(Duration::ZERO),
        ..desired_stack("web", "h2", None)
    };
    h.publish("r2", vec![desired]);
    h.open_apply_of_r2().await;
    // Its healthcheck still starting.
    h.running("web", "h2");
    let mut starting = h.reconciler.runtime.containers("web");
    starting[0].health = Some(crate::docker::state::Health::Starting);
    h.containers.set_stack("web", starting);
    h.pass("web").await.expect("a report");
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(record.status, Status::Failed, "{record:?}");
    assert!(
        record.error.unwrap_or_default().contains("not healthy"),
        "timed out"
    );
    let entry = newest(&h).await;
    assert_eq!(
        (entry.gate, entry.gate_reason),
        (
            Some(history::GateResult::Failed),
            Some(history::GateFailure::Timeout)
        )
    );
}

#[tokio::test]
async fn a_gate_that_timed_out_stays_failed_after_a_restart_once_its_containers_are_healthy() {
    let h = harness(defaults(), runs_web());
    h.publish("r2", vec![desired_stack("web", "h2", None)]);
    let timed_out = "health gate failed: not healthy 8s after the apply: web: health starting";
    h.failed_apply_of_r2(history::GateFailure::Timeout, timed_out)
        .await;
    h.running("web", "h2");
    h.pass("web").await.expect("a report");
    assert!(h.reconciler.executor.calls().is_empty());
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(
        (record.status, record.error.as_deref()),
        (Status::Failed, Some(timed_out))
    );
}

#[tokio::test]
async fn an_entry_without_a_verdict_from_long_ago_reopens_no_gate() {
    // An apply weeks ago (before verdicts were kept, or docker-cd down for
    // long): after a restart its starting healthcheck is waited for, not
    // failed at a deadline long gone.
    let h = harness(defaults(), runs_web());
    h.publish("r2", vec![desired_stack("web", "h2", None)]);
    let mut entry = history::Run::start(
        history::Operation::Apply,
        (history::Cause::Git, history::Trigger::Refresh),
        None,
    )
    .finish(None);
    entry.stack_hash = Some("h2".into());
    entry.started_at = "2026-01-01T00:00:00Z".into();
    h.reconciler.records.history.record("web", entry).await;
    h.running("web", "h2");
    let mut starting = h.reconciler.runtime.containers("web");
    starting[0].health = Some(crate::docker::state::Health::Starting);
    h.containers.set_stack("web", starting);
    h.pass("web").await.expect("a report");
    assert_eq!(h.status("web"), Some(Status::Syncing));
    assert!(h.reconciler.executor.calls().is_empty());
}
