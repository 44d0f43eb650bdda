//! Passes of the reconciler over a fake executor: the wiring of decision,
//! effects and records, without Docker.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use std::time::Duration;

use jiff::Timestamp;

use super::apply::{ENGINE_LAG, LOCKED_RETRY, VERIFY_AFTER};
use super::observe::UNREADABLE_RETRY;
use super::*;
use crate::docker::state::ContainerInfo;
use crate::docker::state::RuntimeStore;
use crate::docker::state::fixtures::container;
use crate::events::EventBus;
use crate::history::{GateFailure, History};
use crate::labels::{self, StackLabels, Synced};
use crate::metrics::AppMetrics;
use crate::reconcile::args::DriftPolicy;
use crate::reconcile::gate::{GateState, HealthGate};
use crate::reconcile::reason::Reason;
use crate::stack::snapshot::Snapshot;
use crate::stack::snapshot::SnapshotStore;
use crate::stack::{DesiredStack, StackName};
use crate::status::{Outcome, StatusTable};
use crate::transitions::Transitions;

mod gate;
mod history;
mod restart;
mod rollback;

/// Records what it was asked to do and answers with scripted containers.
#[derive(Default)]
struct FakeExecutor {
    calls: Mutex<Vec<String>>,
    /// What `up` leaves running, by service.
    up_result: Mutex<Vec<ContainerInfo>>,
    /// What `down` leaves.
    down_left: Mutex<Vec<ContainerInfo>>,
    offline: bool,
    /// Runs once when the reconciler next asks whether Docker answers: what
    /// happens elsewhere between a decision and the apply it starts.
    on_connect: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// Docker's list still says running what the cache says stopped.
    list_lags: bool,
}

impl FakeExecutor {
    fn calls(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn call(&self, what: String) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(what);
    }
}

impl Executor for FakeExecutor {
    fn connected(&self) -> Result<(), ReconcileError> {
        let meanwhile = self
            .on_connect
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(meanwhile) = meanwhile {
            meanwhile();
        }
        if self.offline {
            Err(ReconcileError::DockerUnavailable)
        } else {
            Ok(())
        }
    }

    async fn up(
        &self,
        desired: &DesiredStack,
        labels: &StackLabels,
    ) -> Result<Vec<ContainerInfo>, ReconcileError> {
        self.call(format!("up {} {}", desired.name, labels.synced.revision));
        let pairs = labels.pairs();
        Ok(self
            .up_result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.labels.extend(
                    pairs
                        .iter()
                        .map(|(k, v)| ((*k).to_string(), (*v).to_string())),
                );
                c
            })
            .collect())
    }

    async fn down(
        &self,
        name: &str,
        _containers: &[ContainerInfo],
    ) -> Result<Vec<ContainerInfo>, ReconcileError> {
        self.call(format!("down {name}"));
        Ok(self
            .down_left
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    async fn discard(&self, name: &str) {
        self.call(format!("discard {name}"));
    }

    async fn stops_listed(
        &self,
        _name: &str,
        _seen: &[ContainerInfo],
    ) -> Result<bool, ReconcileError> {
        Ok(!self.list_lags)
    }
}

struct Harness {
    reconciler: StackReconciler<FakeExecutor>,
    store: SnapshotStore,
    containers: RuntimeStore,
}

fn desired_stack(name: &str, hash: &str, error: Option<&str>) -> DesiredStack {
    DesiredStack {
        error: error.map(str::to_string),
        ..crate::stack::fixtures::desired(name, &["web"], hash)
    }
}

fn harness(rules: Rules, executor: FakeExecutor) -> Harness {
    let (store, snapshots) = SnapshotStore::new();
    let (containers, runtime) = RuntimeStore::new();
    let registry = prometheus::Registry::new();
    let metrics = AppMetrics::register(&registry).expect("metrics register");
    Harness {
        reconciler: StackReconciler::new(Parts {
            instance: "me".into(),
            rules,
            snapshots,
            runtime,
            executor,
            status: StatusTable::new(EventBus::new(), metrics.clone(), Default::default()),
            memories: Memories::new(),
            metrics,
            gate_series: GateSeries::register(&registry).expect("gate series register"),
            events: EventBus::new(),
            transitions: Transitions::default(),
            history: History::in_memory(),
            revisions: Default::default(),
        }),
        store,
        containers,
    }
}

impl Harness {
    fn publish(&self, revision: &str, stacks: Vec<DesiredStack>) {
        let stacks: BTreeMap<StackName, Arc<DesiredStack>> = stacks
            .into_iter()
            .map(|s| (s.name.clone(), Arc::new(s)))
            .collect();
        self.store.publish(Arc::new(Snapshot {
            revision: revision.into(),
            reference: "refs/heads/main".into(),
            refreshed_at: Timestamp::now(),
            stacks,
        }));
    }

    /// A pass as a new Git snapshot wakes it.
    async fn pass(&self, name: &str) -> Result<Action, ReconcileError> {
        self.pass_for(name, Trigger::Refresh).await
    }

    /// A pass the key was queued for by `origin`.
    async fn pass_for(&self, name: &str, origin: Trigger) -> Result<Action, ReconcileError> {
        let request = Reason::request(origin, name.parse().expect("stack name"));
        self.reconciler.reconcile(&request).await
    }

    fn status(&self, name: &str) -> Option<Status> {
        self.reconciler.records.status.get(name).map(|r| r.status)
    }

    /// The runtime as the informer would show it after an apply.
    fn running(&self, name: &str, hash: &str) {
        let labels = [
            (labels::MANAGED, "true"),
            (labels::INSTANCE, "me"),
            (labels::STACK, name),
            (labels::REVISION, "r1"),
            (labels::COMPOSE_HASH, "c"),
            (labels::STACK_HASH, hash),
            (labels::SYNCED_AT, "2026-01-01T00:00:00Z"),
        ];
        self.containers
            .set_stack(name, vec![container("a", "web", "running", &labels)]);
    }

    /// The first container of `name` exited with `code` in the runtime cache
    /// (Docker's `die`); returns the stack's containers as set.
    fn exits(&self, name: &str, code: i64) -> Vec<ContainerInfo> {
        let mut exited = self.reconciler.runtime.containers(name);
        exited[0].state = crate::docker::state::ContainerState::Exited;
        exited[0].exit_code = Some(code);
        self.containers.set_stack(name, exited.clone());
        exited
    }

    /// `web`'s history ends with an apply of `r2` (h2) at the time `running`
    /// labels, whose gate failed as `failure` says, with `error`.
    async fn failed_apply_of_r2(&self, failure: GateFailure, error: &str) {
        self.open_apply_of_r2().await;
        let verdict = crate::history::GateVerdict {
            stack_hash: "h2".into(),
            gate: crate::history::GateResult::Failed,
            failure: Some(failure),
            error: Some(error.into()),
        };
        self.reconciler.records.history.settle("web", verdict).await;
    }

    /// `web`'s history ends with an apply of `r2` (h2) at the time `running`
    /// labels, whose gate was still open when docker-cd stopped.
    async fn open_apply_of_r2(&self) {
        let applied = Synced {
            revision: "r2".into(),
            compose_hash: "c".into(),
            stack_hash: "h2".into(),
            synced_at: "2026-01-01T00:00:00Z".into(),
            good_revision: None,
            rolled_back_from: None,
            held: false,
            rollback_reason: None,
        };
        let origin = (crate::history::Cause::Git, crate::history::Trigger::Refresh);
        let run =
            crate::history::Run::start(crate::history::Operation::Apply, origin, Some(&applied));
        self.reconciler
            .records
            .history
            .record("web", run.finish(None))
            .await;
    }
}

fn defaults() -> Rules {
    Rules {
        reconcile_enabled: true,
        remove_enabled: false,
        drift_policy: DriftPolicy::Revert,
        health_timeout: Duration::from_secs(120),
        rollback_enabled: false,
    }
}

/// The defaults with `RECONCILE_REMOVE_ENABLED=true`.
fn removal_on() -> Rules {
    Rules {
        remove_enabled: true,
        ..defaults()
    }
}

/// An executor whose `down` leaves a container behind.
fn leaves_a_container() -> FakeExecutor {
    FakeExecutor {
        down_left: Mutex::new(vec![container("a", "web", "running", &[])]),
        ..FakeExecutor::default()
    }
}

fn runs_web() -> FakeExecutor {
    FakeExecutor {
        up_result: Mutex::new(vec![container("a", "web", "running", &[])]),
        ..FakeExecutor::default()
    }
}

#[tokio::test]
async fn a_new_stack_is_applied_with_the_snapshot_revision_and_synced() {
    let h = harness(defaults(), runs_web());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    let action = h.pass("web").await.expect("applied");
    assert_eq!(action, Action::requeue(VERIFY_AFTER), "looked at once more");
    assert_eq!(h.reconciler.executor.calls(), ["up web r1"]);
    assert_eq!(h.status("web"), Some(Status::Synced));
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(record.synced.map(|s| s.stack_hash).as_deref(), Some("h1"));
    assert_eq!(
        record.last_result.map(|r| r.outcome),
        Some(Outcome::Success)
    );
}

/// Every transition sent so far to `feed`.
fn sent(
    feed: &mut tokio::sync::broadcast::Receiver<crate::transitions::Transition>,
) -> Vec<String> {
    std::iter::from_fn(|| feed.try_recv().ok())
        .map(|t| {
            format!(
                "{:?} {:?}->{} {}",
                t.kind,
                t.previous,
                t.status,
                t.revision.unwrap_or_default()
            )
        })
        .collect()
}

#[tokio::test]
async fn a_pass_sends_the_transitions_it_reports_and_nothing_on_a_no_op() {
    let h = harness(defaults(), runs_web());
    let mut feed = h.reconciler.records.transitions.subscribe();
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.pass("web").await.expect("applied");
    assert_eq!(
        sent(&mut feed),
        [
            "ApplyStarted { drift: false } None->syncing r1",
            "GatePassed None->synced r1",
            "StatusChanged Some(Syncing)->synced r1"
        ]
    );
    h.running("web", "h1");
    h.pass("web").await.expect("no-op");
    assert_eq!(sent(&mut feed), Vec::<String>::new(), "nothing changed");
}

/// A failed stack whose next revision fails too: its commit ends as well.
#[tokio::test]
async fn a_failed_stack_whose_next_apply_fails_sends_the_end_of_that_apply() {
    let h = harness(defaults(), FakeExecutor::default());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.pass("web").await.expect_err("nothing came up");
    assert_eq!(h.status("web"), Some(Status::Failed));
    let mut feed = h.reconciler.records.transitions.subscribe();
    h.publish("r2", vec![desired_stack("web", "h2", None)]);
    h.pass("web").await.expect_err("nothing came up again");
    let sent = sent(&mut feed);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(
        sent[0],
        "ApplyStarted { drift: false } Some(Failed)->syncing r2"
    );
    assert!(sent[1].starts_with("GateFailed"), "{sent:?}");
    assert_eq!(
        sent[2], "StatusChanged Some(Syncing)->failed r2",
        "the revision tried, not the one running"
    );
}

#[tokio::test]
async fn an_in_sync_stack_runs_nothing() {
    let h = harness(defaults(), runs_web());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.running("web", "h1");
    h.pass("web").await.expect("no-op");
    assert!(h.reconciler.executor.calls().is_empty());
    assert_eq!(h.status("web"), Some(Status::Synced));
}

/// Docker's `die` came (the cache says exited) but its list still says
/// running: a revert now would find nothing to do and cost a second one
/// later, so the pass waits for the list, counting nothing.
#[tokio::test]
async fn a_revert_waits_until_docker_s_list_says_stopped() {
    let lagging = FakeExecutor {
        list_lags: true,
        ..runs_web()
    };
    let h = harness(defaults(), lagging);
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.running("web", "h1");
    h.exits("web", 137);
    let action = h.pass("web").await.expect("waits");
    assert_eq!(action, Action::requeue(ENGINE_LAG));
    assert!(h.reconciler.executor.calls().is_empty(), "no compose run");
    let reverts = h.reconciler.memories.with("web", |m| m.reverts.len());
    assert_eq!(reverts, 0, "no revert counted");
}

#[tokio::test]
async fn an_apply_that_does_not_converge_fails_the_stack() {
    let h = harness(defaults(), FakeExecutor::default());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    let err = h.pass("web").await.expect_err("nothing came up");
    assert_eq!(err.to_string(), "health gate failed: web: no container");
    assert_eq!(h.status("web"), Some(Status::Failed));
    // Its retry reports the failed gate instead of applying the same files again.
    h.pass("web").await.expect("a report");
    assert_eq!(h.reconciler.executor.calls().len(), 1);
    assert_eq!(h.status("web"), Some(Status::Failed));
}

#[tokio::test]
async fn docker_unreachable_keeps_the_grant_for_the_retry() {
    let off = Rules {
        reconcile_enabled: false,
        ..defaults()
    };
    let h = harness(
        off,
        FakeExecutor {
            offline: true,
            ..FakeExecutor::default()
        },
    );
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.reconciler.memories.grant("web");
    let err = h.pass("web").await.expect_err("offline");
    assert!(matches!(err, ReconcileError::DockerUnavailable));
    assert!(h.reconciler.memories.with("web", |m| m.granted));
}

#[tokio::test]
async fn an_invalid_stack_is_failed_without_running_anything() {
    let h = harness(defaults(), runs_web());
    h.publish(
        "r1",
        vec![desired_stack("web", "h1", Some("compose.yaml: bad"))],
    );
    let err = h.pass("web").await.expect_err("invalid");
    assert!(matches!(err, ReconcileError::Invalid(_)));
    assert!(h.reconciler.executor.calls().is_empty());
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(record.error.as_deref(), Some("compose.yaml: bad"));
    assert_eq!(
        record.last_result.map(|r| r.outcome),
        Some(Outcome::Failure)
    );
}

#[tokio::test]
async fn a_stack_that_left_git_is_removed_when_removal_is_on() {
    let h = harness(removal_on(), FakeExecutor::default());
    h.publish("r2", vec![]);
    h.running("old", "h0");
    h.pass("old").await.expect("removed");
    assert_eq!(h.reconciler.executor.calls(), ["down old", "discard old"]);
    assert_eq!(h.status("old"), Some(Status::Missing));
}

#[tokio::test]
async fn a_removal_that_leaves_containers_keeps_the_folder_and_fails() {
    let h = harness(removal_on(), leaves_a_container());
    h.publish("r2", vec![]);
    h.running("old", "h0");
    let err = h.pass("old").await.expect_err("left");
    assert!(err.to_string().contains("1 container(s) remain"), "{err}");
    assert_eq!(h.reconciler.executor.calls(), ["down old"]);
    assert_eq!(h.status("old"), Some(Status::Failed));
}

#[tokio::test]
async fn an_api_apply_is_answered_and_runs_despite_the_policy() {
    let off = Rules {
        drift_policy: DriftPolicy::Flag,
        reconcile_enabled: false,
        ..defaults()
    };
    let h = harness(off, runs_web());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    let guard = h.reconciler.memories.try_lock("web").expect("free");
    let (reply, answer) = tokio::sync::oneshot::channel();
    h.reconciler.memories.request_apply(
        "web",
        crate::reconcile::memory::PendingApply {
            guard,
            reply,
            rollback_to: None,
        },
    );
    h.pass("web").await.expect("applied");
    assert_eq!(answer.await.expect("answered"), Ok(()));
    assert_eq!(h.reconciler.executor.calls(), ["up web r1"]);
    assert!(
        h.reconciler.memories.try_lock("web").is_some(),
        "lock released"
    );
}

#[tokio::test]
async fn a_drift_revert_keeps_the_labels_of_the_apply_it_repairs() {
    let h = harness(defaults(), runs_web());
    h.publish("r2", vec![desired_stack("web", "h1", None)]);
    h.running("web", "h1");
    // The container stopped: drift of what r1 applied.
    h.exits("web", 0);
    h.pass("web").await.expect("reverted");
    assert_eq!(
        h.reconciler.executor.calls(),
        ["up web r1"],
        "labels of r1 kept"
    );
}

#[tokio::test]
async fn a_revert_compose_left_undone_is_seen_on_the_look_after_it() {
    // The `die` event is in the cache; compose, asked too early, saw the
    // container still running, and so did the list after it.
    let h = harness(defaults(), runs_web());
    h.publish("r1", vec![desired_stack("web", "h1", None)]);
    h.running("web", "h1");
    h.exits("web", 3);
    let action = h.pass("web").await.expect("reverted");
    assert_eq!(h.status("web"), Some(Status::Synced));
    assert_eq!(action, Action::requeue(VERIFY_AFTER));
    h.pass("web").await.expect("reverted again");
    assert_eq!(h.reconciler.executor.calls(), ["up web r1", "up web r1"]);
}

#[tokio::test]
async fn a_crash_loop_given_up_before_a_restart_stays_given_up() {
    let h = harness(defaults(), runs_web());
    h.publish("r2", vec![desired_stack("web", "h2", None)]);
    h.open_apply_of_r2().await;
    let settled = crate::history::GateVerdict {
        stack_hash: "h2".into(),
        gate: crate::history::GateResult::Passed,
        failure: None,
        error: None,
    };
    h.reconciler.records.history.settle("web", settled).await;
    // Five reverts just now, before the restart.
    for _ in 0..5 {
        let mut revert = crate::history::Run::start(
            crate::history::Operation::Apply,
            (
                crate::history::Cause::Drift,
                crate::history::Trigger::DockerEvent,
            ),
            None,
        )
        .finish(None);
        revert.stack_hash = Some("h2".into());
        h.reconciler.records.history.record("web", revert).await;
    }
    h.running("web", "h2");
    h.exits("web", 1);
    h.pass("web").await.expect("a report");
    assert!(h.reconciler.executor.calls().is_empty(), "not a sixth time");
    let record = h.reconciler.records.status.get("web").expect("record");
    assert_eq!(record.status, Status::Failed);
    assert!(record.error.unwrap_or_default().contains("keeps stopping"));
}
