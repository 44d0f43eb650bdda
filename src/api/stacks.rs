//! `GET /api/stacks` and `GET /api/stacks/{name}`: desired, actual and status in one view.

use std::collections::{BTreeMap, BTreeSet};

use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;
use serde_json::json;

use super::stack_path::StackPath;
use super::{ApiError, StackReads};
use crate::docker::state::{ContainerInfo, ContainerState, Health};
use crate::git::commits::{CommitView, Commits};
use crate::labels::{self, Synced};
use crate::stack::DesiredStack;
use crate::stack::health::StackHealth;
use crate::stack::snapshot::Snapshot;
use crate::status::{LastResult, StackRecord, Status, UNKNOWN_WHY};

/// One container in a stack view.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerView {
    /// Full container id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Docker state (`running`, `exited`, …).
    pub state: ContainerState,
    /// Health, where a healthcheck is defined.
    pub health: Option<Health>,
}

/// One service in a stack view.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceView {
    /// Service name.
    pub name: String,
    /// Its containers (empty when none runs).
    pub containers: Vec<ContainerView>,
}

/// The contract's `Stack` object; fields that are not known are `null`.
#[derive(Debug, Clone, Serialize)]
pub struct StackView {
    /// Stack name.
    pub name: String,
    /// Folder relative to `DEPLOY_DIR`.
    pub path: Option<String>,
    /// Compose file name.
    pub compose_file: Option<String>,
    /// Whether the current snapshot has this stack.
    pub desired: bool,
    /// The last pass's status; before one, what Git and Docker say.
    pub status: Status,
    /// Desired `compose_hash`.
    pub compose_hash: Option<String>,
    /// Desired `stack_hash`.
    pub stack_hash: Option<String>,
    /// Revision the running containers were applied from.
    pub synced_revision: Option<String>,
    /// What `synced_revision` is (filled by [`describe`]).
    pub synced_commit: Option<CommitView>,
    /// `compose_hash` of the running containers.
    pub synced_compose_hash: Option<String>,
    /// `stack_hash` of the running containers.
    pub synced_stack_hash: Option<String>,
    /// When the running containers were applied.
    pub synced_at: Option<String>,
    /// The revision an operator's rollback holds (until Git changes the stack or a sync).
    pub held_revision: Option<String>,
    /// Outcome of the last apply or removal.
    pub last_result: Option<LastResult>,
    /// Why the stack is failed or drifted.
    pub error: Option<String>,
    /// Services ready out of those that should run.
    pub health: StackHealth,
    /// Services with their containers.
    pub services: Vec<ServiceView>,
}

/// The desired stack, unless a rollback or hold runs another revision in
/// its place (its containers are then counted as they are).
fn runs_in_git<'a>(
    desired: Option<&'a DesiredStack>,
    synced: Option<&Synced>,
) -> Option<&'a DesiredStack> {
    desired.filter(|d| synced.is_none_or(|s| !s.stands_in_for(&d.stack_hash)))
}

/// Builds the view of one stack from its three sources; `read` tells whether
/// a Git snapshot was read at all (without one, a stack not desired is not
/// known to be orphaned).
pub fn stack_view(
    name: &str,
    desired: Option<&DesiredStack>,
    record: Option<&StackRecord>,
    containers: &[ContainerInfo],
    read: bool,
) -> StackView {
    let status = record.map_or_else(
        || match desired {
            Some(d) if d.error.is_some() => Status::Failed,
            Some(_) => Status::Missing,
            None if read => Status::Orphaned,
            None => Status::Unknown,
        },
        |r| r.status,
    );
    let error = record
        .and_then(|r| r.error.clone())
        .or_else(|| desired.and_then(|d| d.error.clone()))
        .or_else(|| (status == Status::Unknown).then(|| UNKNOWN_WHY.to_string()));
    let synced = record.and_then(|r| r.synced.as_ref());

    let mut service_names: BTreeSet<&str> = desired
        .map(|d| d.services.iter().map(String::as_str).collect())
        .unwrap_or_default();
    service_names.extend(containers.iter().map(|c| c.service.as_str()));
    let services = service_names
        .into_iter()
        .map(|service| ServiceView {
            name: service.to_string(),
            containers: containers
                .iter()
                .filter(|c| c.service == service)
                .map(|c| ContainerView {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    state: c.state,
                    health: c.health,
                })
                .collect(),
        })
        .collect();

    StackView {
        name: name.to_string(),
        path: desired.map(|d| d.path.clone()).or_else(|| {
            containers
                .iter()
                .find_map(|c| c.label(labels::STACK).map(str::to_string))
        }),
        compose_file: desired.map(|d| d.compose_file.clone()),
        desired: desired.is_some(),
        status,
        compose_hash: desired.map(|d| d.compose_hash.clone()),
        stack_hash: desired.map(|d| d.stack_hash.clone()),
        synced_revision: synced.map(|s| s.revision.clone()),
        synced_commit: None,
        synced_compose_hash: synced.map(|s| s.compose_hash.clone()),
        synced_stack_hash: synced.map(|s| s.stack_hash.clone()),
        synced_at: synced.map(|s| s.synced_at.clone()),
        held_revision: synced.filter(|s| s.held).map(|s| s.revision.clone()),
        last_result: record.and_then(|r| r.last_result.clone()),
        error,
        health: match runs_in_git(desired, synced) {
            Some(git) => StackHealth::of(Some(git), containers),
            None => StackHealth::of_stand_in(desired, containers),
        },
        services,
    }
}

/// Fills each view's `synced_commit`, and answers `extra` (one mirror read for all).
async fn describe(
    commits: &Commits,
    views: &mut [StackView],
    extra: Option<&str>,
) -> Option<CommitView> {
    let revisions = views.iter().filter_map(|v| v.synced_revision.as_deref());
    let described = commits.describe(revisions.chain(extra)).await;
    for view in views {
        view.synced_commit = described.view(view.synced_revision.as_deref());
    }
    described.view(extra)
}

/// How many stacks have each status; every status is there, `0` when none has it.
fn summary(views: &[StackView]) -> BTreeMap<&'static str, usize> {
    let mut counts: BTreeMap<&'static str, usize> =
        Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for view in views {
        *counts.entry(view.status.as_str()).or_default() += 1;
    }
    counts
}

/// Every stack known from Git, the status table or the runtime, by name.
fn all_views(state: &StackReads) -> Vec<StackView> {
    let snapshot = state.snapshots.current();
    let records = state.status.all();
    let names = state.known(snapshot.as_deref()).names();
    let mut views = Vec::with_capacity(names.len());
    for name in names {
        let desired = snapshot.as_ref().and_then(|s| s.stacks.get(name.as_str()));
        let record = records.get(&name);
        let containers = state.runtime.containers(&name);
        views.push(stack_view(
            &name,
            desired.map(AsRef::as_ref),
            record,
            &containers,
            snapshot.is_some(),
        ));
        // Folders whose name clashes are shown too, each failed.
        for other in desired
            .map(|d| d.clashes_with.as_slice())
            .unwrap_or_default()
        {
            views.push(stack_view(&name, Some(other), None, &[], true));
        }
    }
    views
}

/// `GET /api/stacks`.
///
/// The body is cached until the snapshot, the status table or the runtime
/// cache changes: dashboards and monitors poll this, and nothing changes
/// between most polls.
pub async fn list(State(state): State<StackReads>) -> Response {
    let snapshot = state.snapshots.current();
    let key = ListKey {
        snapshot: snapshot.clone(),
        status: state.status.version(),
        runtime: state.runtime.version(),
    };
    if let Some(body) = state.list_cache.get(&key) {
        return json_response(body);
    }
    let revision = snapshot.as_ref().map(|s| s.revision.clone());
    let mut stacks = all_views(&state);
    // Before caching: a commit's first read is the slow part, later ones are cached.
    let commit = describe(&state.commits, &mut stacks, revision.as_deref()).await;
    let body: Bytes = serde_json::to_vec(&json!({
        "revision": revision,
        "commit": commit,
        "refreshed_at": snapshot.as_ref().map(|s| s.refreshed_at.to_string()),
        "summary": summary(&stacks),
        "stacks": stacks,
    }))
    .unwrap_or_default()
    .into();
    state.list_cache.put(key, body.clone());
    json_response(body)
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// What the cached list was built from (versions read before building, so a
/// change during the build only costs one more rebuild).
#[derive(Clone)]
pub struct ListKey {
    snapshot: Option<Arc<Snapshot>>,
    status: u64,
    runtime: u64,
}

impl PartialEq for ListKey {
    fn eq(&self, other: &Self) -> bool {
        let same_snapshot = match (&self.snapshot, &other.snapshot) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        same_snapshot && self.status == other.status && self.runtime == other.runtime
    }
}

/// The last `GET /api/stacks` body and what it was built from.
#[derive(Clone, Default)]
pub struct ListCache {
    entry: Arc<Mutex<Option<(ListKey, Bytes)>>>,
}

impl ListCache {
    fn get(&self, key: &ListKey) -> Option<Bytes> {
        let entry = self.entry.lock().unwrap_or_else(PoisonError::into_inner);
        entry
            .as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, b)| b.clone())
    }

    fn put(&self, key: ListKey, body: Bytes) {
        *self.entry.lock().unwrap_or_else(PoisonError::into_inner) = Some((key, body));
    }
}

/// `GET /api/stacks/{name}`.
pub async fn get_one(
    State(state): State<StackReads>,
    StackPath(name): StackPath,
) -> Result<Json<StackView>, ApiError> {
    let snapshot = state.snapshots.current();
    if !state.known(snapshot.as_deref()).contains(&name) {
        return Err(ApiError::not_found(format!("no stack named '{name}'")));
    }
    let desired = snapshot.as_ref().and_then(|s| s.stacks.get(&name));
    let record = state.status.get(&name);
    let containers = state.runtime.containers(&name);
    let mut view = stack_view(
        &name,
        desired.map(AsRef::as_ref),
        record.as_ref(),
        &containers,
        snapshot.is_some(),
    );
    describe(&state.commits, std::slice::from_mut(&mut view), None).await;
    Ok(Json(view))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::state::fixtures::container;
    use crate::stack::fixtures::desired;

    fn with_health(mut c: ContainerInfo, health: Health) -> ContainerInfo {
        c.health = Some(health);
        c
    }

    #[test]
    fn health_counts_desired_services_whose_containers_all_run() {
        let mut d = desired("web", &["web", "db", "cache", "job", "absent"], "h");
        d.expected_services.retain(|s| s != "absent");
        d.oneshot_services = vec!["job".into()];
        let mut finished = container("4", "job", "exited", &[]);
        finished.exit_code = Some(0);
        let containers = [
            container("1", "web", "running", &[]),
            container("2", "web", "exited", &[]),
            with_health(container("3", "db", "running", &[]), Health::Healthy),
            with_health(container("5", "cache", "running", &[]), Health::Starting),
            finished,
            container("6", "stray", "running", &[]),
        ];
        // db and the finished job; web has a stopped replica, cache is starting,
        // a stray service does not count, and `absent` is not started by compose.
        assert_eq!(
            StackHealth::of(Some(&d), &containers),
            StackHealth { ready: 2, total: 4 }
        );
    }

    #[test]
    fn without_a_desired_stack_its_containers_are_counted() {
        let containers = [
            container("1", "web", "running", &[]),
            container("2", "db", "exited", &[]),
        ];
        assert_eq!(
            StackHealth::of(None, &containers),
            StackHealth { ready: 1, total: 2 }
        );
    }

    #[test]
    fn a_rolled_back_stack_is_counted_by_what_runs_not_by_git() {
        let d = desired("web", &["web", "added"], "h2");
        let mut record = StackRecord::new(Status::RolledBack);
        record.synced = Some(Synced {
            revision: "r0".into(),
            compose_hash: "c".into(),
            stack_hash: "h0".into(),
            synced_at: "2026-01-01T00:00:00Z".into(),
            good_revision: None,
            rolled_back_from: Some("h2".into()),
            held: false,
            rollback_reason: None,
        });
        let running = [container("1", "web", "running", &[])];
        let view = stack_view("web", Some(&d), Some(&record), &running, true);
        assert_eq!(view.health, StackHealth { ready: 1, total: 1 });
        let view = stack_view("web", Some(&d), None, &running, true);
        assert_eq!(view.health, StackHealth { ready: 1, total: 2 }, "in Git");
    }

    #[test]
    fn the_summary_names_every_status() {
        let d = desired("web", &["web"], "h");
        let views = [
            stack_view("a", Some(&d), None, &[], true),
            stack_view("b", Some(&d), None, &[], true),
            stack_view(
                "c",
                None,
                None,
                &[container("1", "web", "running", &[])],
                true,
            ),
        ];
        let counts = summary(&views);
        assert_eq!(counts.get("missing"), Some(&2));
        assert_eq!(counts.get("orphaned"), Some(&1));
        assert_eq!(counts.get("synced"), Some(&0));
        assert_eq!(counts.len(), Status::ALL.len());
    }
}
