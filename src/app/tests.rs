//! The wiring's own rules.

use std::collections::BTreeMap;

use super::*;
use crate::docker::state::RuntimeStore;
use crate::docker::state::fixtures::container;
use crate::events::EventBus;
use crate::metrics::AppMetrics;
use crate::stack::fixtures::desired;
use crate::stack::snapshot::{Snapshot, SnapshotStore};
use crate::status::Status;

#[test]
fn the_resync_wakes_every_stack_the_api_lists() {
    let (snapshots, snapshot_reader) = SnapshotStore::new();
    let git = desired("in-git", &["web"], "h");
    snapshots.publish(Arc::new(Snapshot {
        revision: "r".into(),
        reference: "refs/heads/main".into(),
        refreshed_at: jiff::Timestamp::UNIX_EPOCH,
        stacks: BTreeMap::from([(git.name.clone(), Arc::new(git))]),
    }));
    let (runtime, cache) = RuntimeStore::new();
    runtime.set_stack("running", vec![container("1", "web", "running", &[])]);
    let metrics = AppMetrics::register(&prometheus::Registry::new()).expect("metrics");
    let status = StatusTable::new(EventBus::new(), metrics, SecretBook::new());
    // A removal that failed, its containers since gone: only its record is left.
    status.update("recorded", |r| r.status = Status::Failed);

    let mut resync = every_stack(snapshot_reader, status, cache);
    let woken: Vec<String> = resync().into_iter().map(|r| r.key.to_string()).collect();
    assert_eq!(woken, ["in-git", "recorded", "running"]);
}
