//! The level-triggered reconcile of one stack: read desired state (the Git
//! snapshot) and actual state (the runtime cache), compare, act, record.
//!
//! A no-op reconcile reads two in-memory caches and runs nothing. Only a
//! changed `stack_hash`, missing or stopped containers, or outdated labels lead
//! to a compose run, and every run is confirmed through the Docker API.

pub mod assess;
pub mod lock;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use controller::{Action, Reconciler};
use jiff::Timestamp;
use tracing::Instrument as _;

use self::assess::{Cause, Verdict, assess};
use self::lock::{Grants, StackGuard, StackLocks};
use crate::compose::overlay::{self, OVERRIDE_FILE, SyncLabels};
use crate::compose::runner::{self, ComposeError, ComposeRunner, Project};
use crate::config::DriftPolicy;
use crate::docker::DockerHandle;
use crate::docker::client::{self, DockerError};
use crate::docker::state::{ContainerInfo, RuntimeCache};
use crate::labels;
use crate::metrics::AppMetrics;
use crate::stack::DesiredStack;
use crate::stack::discover::COMPOSE_FILE_NAMES;
use crate::stack::snapshot::{Snapshot, SnapshotReader};
use crate::status::{LastResult, Status, StatusTable, Synced};

/// How long an applied stack may take to become ready (healthchecks passing)
/// before it is `failed`.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(180);
/// How often a settling stack is looked at again (health events usually come first).
const SETTLE_POLL: Duration = Duration::from_secs(2);
/// Retry delay while another session holds the stack's lock.
const LOCKED_RETRY: Duration = Duration::from_secs(1);
/// Retry delay while no snapshot exists (the readiness gate makes this rare).
const NOT_READY_RETRY: Duration = Duration::from_secs(5);
/// Drift reverts allowed per stack within [`DRIFT_WINDOW`]: a container that
/// keeps stopping is a crash loop, and re-running compose for it forever is the
/// redeploy loop operators of other tools complain about.
const MAX_DRIFT_REVERTS: usize = 5;
/// Window for [`MAX_DRIFT_REVERTS`].
const DRIFT_WINDOW: Duration = Duration::from_secs(300);

/// Settings the reconciler follows.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `INSTANCE_NAME`.
    pub instance: String,
    /// `RECONCILE_ENABLED`.
    pub reconcile_enabled: bool,
    /// `RECONCILE_REMOVE_ENABLED`.
    pub remove_enabled: bool,
    /// `DRIFT_POLICY`.
    pub drift_policy: DriftPolicy,
    /// Absolute `DATA_DIR`.
    pub data_dir: PathBuf,
}

/// Why a reconcile failed; the stack is `failed` with this message.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The stack cannot be deployed at this revision (bad compose file, name clash, symlink).
    #[error("{0}")]
    Invalid(String),
    /// Docker does not answer.
    #[error("Docker is unreachable")]
    DockerUnavailable,
    /// A Docker API call failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// Compose failed.
    #[error(transparent)]
    Compose(#[from] ComposeError),
    /// The working folder could not be written.
    #[error("cannot write the stack's working folder: {0}")]
    Workdir(#[from] std::io::Error),
    /// The compose project holds containers docker-cd must not touch.
    #[error("{0}")]
    Foreign(String),
    /// Compose succeeded but the runtime does not match.
    #[error("{0}")]
    NotConverged(String),
    /// No refresh has completed yet: the desired state is unknown.
    #[error("the desired state is not known yet (no refresh has completed)")]
    NotReady,
}

impl controller::ReconcileError for ReconcileError {
    fn is_terminal(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::DockerUnavailable => "docker_unavailable",
            Self::Docker(_) => "docker",
            Self::Compose(_) => "compose",
            Self::Workdir(_) => "workdir",
            Self::Foreign(_) => "foreign",
            Self::NotConverged(_) => "not_converged",
            Self::NotReady => "not_ready",
        }
    }
}

/// The reconciler of every stack.
pub struct StackReconciler {
    settings: Settings,
    snapshots: SnapshotReader,
    runtime: RuntimeCache,
    docker: DockerHandle,
    compose: Arc<ComposeRunner>,
    status: StatusTable,
    locks: StackLocks,
    grants: Grants,
    metrics: AppMetrics,
    /// Stacks applied recently and waiting to become ready: hash applied, when.
    settling: Mutex<HashMap<String, (String, Instant)>>,
    /// Recent drift reverts per stack, for crash-loop protection.
    reverts: Mutex<HashMap<String, Reverts>>,
}

/// One stack's drift reverts: a crash loop spends the budget, and the stack stays
/// `failed` until Git changes it or a sync asks for it (never on a timer, so a
/// service that keeps exiting is not restarted forever).
#[derive(Debug, Default)]
struct Reverts {
    recent: Vec<Instant>,
    given_up: bool,
}

/// Everything the reconciler reads and writes.
pub struct Parts {
    /// Settings.
    pub settings: Settings,
    /// Desired state.
    pub snapshots: SnapshotReader,
    /// Actual state.
    pub runtime: RuntimeCache,
    /// The Docker client, when connected.
    pub docker: DockerHandle,
    /// Compose.
    pub compose: Arc<ComposeRunner>,
    /// Status records it owns.
    pub status: StatusTable,
    /// Per-stack locks shared with apply.
    pub locks: StackLocks,
    /// One-shot apply permissions (ack, manual sync).
    pub grants: Grants,
    /// Series.
    pub metrics: AppMetrics,
}

impl StackReconciler {
    /// A reconciler over `parts`.
    pub fn new(parts: Parts) -> Self {
        let Parts {
            settings,
            snapshots,
            runtime,
            docker,
            compose,
            status,
            locks,
            grants,
            metrics,
        } = parts;
        Self {
            settings,
            snapshots,
            runtime,
            docker,
            compose,
            status,
            locks,
            grants,
            metrics,
            settling: Mutex::default(),
            reverts: Mutex::default(),
        }
    }

    /// Applies `name` now for an API request that already holds its lock:
    /// `compose up` of the desired state, or removal of a stack no longer desired.
    ///
    /// # Errors
    /// As a reconcile; the stack's status records the failure.
    pub async fn apply_now(&self, name: &str, guard: StackGuard) -> Result<(), ReconcileError> {
        let snapshot = self.snapshots.current().ok_or(ReconcileError::NotReady)?;
        let containers = self.runtime.containers(name);
        let result = match snapshot.stacks.get(name) {
            Some(desired) => {
                if let Some(error) = &desired.error {
                    return Err(ReconcileError::Invalid(error.clone()));
                }
                let observed = synced_from_labels(&containers);
                let applied = self.status.get(name).and_then(|r| r.synced).or(observed);
                let cause = match assess(
                    desired,
                    &containers,
                    applied.as_ref().map(|s| s.stack_hash.as_str()),
                )
                .verdict
                {
                    Verdict::NeedsApply { cause, .. } => cause,
                    _ => Cause::Desired,
                };
                self.apply(
                    &snapshot,
                    desired,
                    cause,
                    "requested through the API",
                    applied,
                    Some(guard),
                )
                .await
            }
            None => self.reconcile_removed(name, &containers, Some(guard)).await,
        };
        if let Err(error) = &result {
            self.record_failure(name, error);
        }
        result.map(|_| ())
    }

    fn record_failure(&self, name: &str, error: &ReconcileError) {
        let message = error.to_string();
        self.status.update(name, |r| {
            r.status = Status::Failed;
            r.error = Some(message.clone());
            r.last_result = Some(LastResult {
                outcome: "failure",
                at: Timestamp::now().to_string(),
                error: Some(message),
            });
        });
    }

    async fn reconcile_desired(
        &self,
        snapshot: &Snapshot,
        desired: &DesiredStack,
        containers: &[ContainerInfo],
    ) -> Result<Action, ReconcileError> {
        let name = desired.name.as_str();
        let observed = synced_from_labels(containers);
        if let Some(error) = &desired.error {
            self.status.update(name, |r| {
                r.status = Status::Failed;
                r.error = Some(error.clone());
                // Found at refresh, not by an apply, yet the stack's last result
                // all the same; its time stays that of the first finding.
                let known = r
                    .last_result
                    .as_ref()
                    .is_some_and(|l| l.outcome == "failure" && l.error.as_ref() == Some(error));
                if !known {
                    r.last_result = Some(LastResult {
                        outcome: "failure",
                        at: Timestamp::now().to_string(),
                        error: Some(error.clone()),
                    });
                }
                if observed.is_some() {
                    r.synced.clone_from(&observed);
                }
            });
            return Err(ReconcileError::Invalid(error.clone()));
        }
        let record = self.status.get(name);
        let applied = record
            .as_ref()
            .and_then(|r| r.synced.clone())
            .or_else(|| observed.clone());
        let assessment = assess(
            desired,
            containers,
            applied.as_ref().map(|s| s.stack_hash.as_str()),
        );
        match assessment.verdict {
            Verdict::InSync => {
                self.forget_settling(name);
                self.status.update(name, |r| {
                    r.status = Status::Synced;
                    r.error = None;
                    r.synced.clone_from(&observed);
                });
                Ok(Action::await_change())
            }
            Verdict::Settling { detail } => {
                Ok(self.settle(name, &desired.stack_hash, &detail, observed))
            }
            Verdict::NeedsApply { cause, detail } => {
                let granted = self.grants.has(name);
                if !self.settings.reconcile_enabled && !granted {
                    self.status.update(name, |r| {
                        r.status = if containers.is_empty() {
                            Status::Missing
                        } else {
                            Status::Drifted
                        };
                        r.error = (!containers.is_empty())
                            .then(|| format!("out of sync (automatic apply is off): {detail}"));
                        if observed.is_some() {
                            r.synced.clone_from(&observed);
                        }
                    });
                    return Ok(Action::await_change());
                }
                if cause == Cause::Drift
                    && self.settings.drift_policy == DriftPolicy::Flag
                    && !granted
                {
                    tracing::info!(stack = name, %detail, "drift flagged; waiting for an acknowledgement");
                    self.status.update(name, |r| {
                        r.status = Status::Drifted;
                        r.error = Some(detail.clone());
                    });
                    return Ok(Action::await_change());
                }
                if cause == Cause::Drift && !granted && self.revert_budget_spent(name) {
                    let message = format!(
                        "{detail}: restarted {MAX_DRIFT_REVERTS} times within {}s and it keeps stopping; left alone until the stack changes in Git or a sync is requested",
                        DRIFT_WINDOW.as_secs()
                    );
                    tracing::warn!(stack = name, %message, "crash loop");
                    self.record_failure(name, &ReconcileError::NotConverged(message));
                    return Ok(Action::await_change());
                }
                self.apply(snapshot, desired, cause, &detail, applied, None)
                    .await
            }
        }
    }

    /// A stack deployed but not ready: `syncing` while an apply of ours settles
    /// (or a healthcheck is still starting), else `failed` with what is wrong.
    fn settle(
        &self,
        name: &str,
        stack_hash: &str,
        detail: &str,
        observed: Option<Synced>,
    ) -> Action {
        let since = self
            .settling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .filter(|(hash, _)| hash == stack_hash)
            .map(|(_, at)| *at);
        let starting_only = detail.split("; ").all(|part| part.ends_with("is starting"));
        match since {
            Some(at) if at.elapsed() < SETTLE_TIMEOUT => {
                self.status.update(name, |r| {
                    r.status = Status::Syncing;
                    r.error = None;
                    r.synced.clone_from(&observed);
                });
                Action::requeue(SETTLE_POLL)
            }
            None if starting_only => {
                self.status.update(name, |r| {
                    r.status = Status::Syncing;
                    r.error = None;
                    r.synced.clone_from(&observed);
                });
                Action::requeue(SETTLE_POLL)
            }
            _ => {
                let message = match since {
                    Some(_) => format!(
                        "not ready {}s after the apply: {detail}",
                        SETTLE_TIMEOUT.as_secs()
                    ),
                    None => format!("not ready: {detail}"),
                };
                tracing::warn!(stack = name, %message, "stack not ready");
                self.status.update(name, |r| {
                    r.status = Status::Failed;
                    r.error = Some(message);
                    r.synced.clone_from(&observed);
                });
                // Health events wake the stack when it recovers.
                Action::await_change()
            }
        }
    }

    fn forget_settling(&self, name: &str) {
        self.settling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    fn revert_budget_spent(&self, name: &str) -> bool {
        let mut reverts = self.reverts.lock().unwrap_or_else(PoisonError::into_inner);
        let stack = reverts.entry(name.to_string()).or_default();
        stack.recent.retain(|at| at.elapsed() < DRIFT_WINDOW);
        stack.given_up |= stack.recent.len() >= MAX_DRIFT_REVERTS;
        stack.given_up
    }

    fn note_revert(&self, name: &str) {
        self.reverts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_string())
            .or_default()
            .recent
            .push(Instant::now());
    }

    async fn apply(
        &self,
        snapshot: &Snapshot,
        desired: &DesiredStack,
        cause: Cause,
        detail: &str,
        applied: Option<Synced>,
        held: Option<StackGuard>,
    ) -> Result<Action, ReconcileError> {
        let name = desired.name.as_str();
        let Some(_guard) = held.or_else(|| self.locks.try_lock(name)) else {
            tracing::debug!(
                stack = name,
                "stack is being applied by another session; retrying"
            );
            return Ok(Action::requeue(LOCKED_RETRY));
        };
        let docker = self
            .docker
            .current()
            .ok_or(ReconcileError::DockerUnavailable)?;
        if self.grants.take(name) || cause == Cause::Desired {
            // A new desired state or an explicit sync: a fresh revert budget.
            self.reverts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(name);
        }
        if cause == Cause::Drift {
            // Every attempt counts, also one whose container exits before
            // compose returns (it ends as an error, not as a revert).
            self.note_revert(name);
        }
        tracing::info!(stack = name, cause = ?cause, %detail, "applying stack");
        self.status.update(name, |r| {
            r.status = Status::Syncing;
            r.error = None;
        });
        let workdir = runner::workdir(&self.settings.data_dir, name);
        check_foreign(
            name,
            &client::list_project(&docker, name).await?,
            &self.settings.instance,
            &workdir,
        )?;

        // Re-applying what already runs (drift) keeps the labels of that apply:
        // compose recreates every container whose labels change.
        let sync_labels = match applied.filter(|a| a.stack_hash == desired.stack_hash) {
            Some(a) if cause == Cause::Drift => SyncLabels {
                instance: self.settings.instance.clone(),
                stack_path: desired.path.clone(),
                revision: a.revision,
                compose_hash: desired.compose_hash.clone(),
                stack_hash: desired.stack_hash.clone(),
                synced_at: a.synced_at,
            },
            _ => SyncLabels {
                instance: self.settings.instance.clone(),
                stack_path: desired.path.clone(),
                revision: snapshot.revision.clone(),
                compose_hash: desired.compose_hash.clone(),
                stack_hash: desired.stack_hash.clone(),
                synced_at: Timestamp::now().to_string(),
            },
        };
        let override_bytes = overlay::render(
            &desired.services,
            desired.compose_version.as_deref(),
            &sync_labels,
        );
        let files = desired.files.clone();
        let dir = workdir.clone();
        tokio::task::spawn_blocking(move || {
            crate::stack::workdir::materialize(&dir, &files, (OVERRIDE_FILE, &override_bytes))
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;

        let compose_files = [desired.compose_file.as_str(), OVERRIDE_FILE];
        let run = self
            .compose
            .up(&Project {
                name,
                workdir: &workdir,
                files: &compose_files,
            })
            .await?;

        let fresh = client::list_stack(&docker, &self.settings.instance, name).await?;
        let observed = synced_from_labels(&fresh);
        match assess(desired, &fresh, Some(&desired.stack_hash)).verdict {
            Verdict::InSync => {
                if cause == Cause::Drift {
                    self.metrics.drift_corrections.inc();
                }
                tracing::info!(
                    stack = name,
                    elapsed_ms = run.elapsed.as_millis() as u64,
                    "stack synced"
                );
                self.forget_settling(name);
                self.status.update(name, |r| {
                    r.status = Status::Synced;
                    r.error = None;
                    r.synced.clone_from(&observed);
                    r.last_result = Some(LastResult {
                        outcome: "success",
                        at: Timestamp::now().to_string(),
                        error: None,
                    });
                });
                Ok(Action::await_change())
            }
            Verdict::Settling { detail } => {
                if cause == Cause::Drift {
                    self.metrics.drift_corrections.inc();
                }
                self.settling
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        name.to_string(),
                        (desired.stack_hash.clone(), Instant::now()),
                    );
                tracing::info!(stack = name, %detail, "stack applied; waiting for it to become ready");
                self.status.update(name, |r| {
                    r.status = Status::Syncing;
                    r.synced.clone_from(&observed);
                    r.last_result = Some(LastResult {
                        outcome: "success",
                        at: Timestamp::now().to_string(),
                        error: None,
                    });
                });
                Ok(Action::requeue(SETTLE_POLL))
            }
            Verdict::NeedsApply { detail, .. } => Err(ReconcileError::NotConverged(format!(
                "compose up finished but the stack does not match: {detail}"
            ))),
        }
    }

    async fn reconcile_removed(
        &self,
        name: &str,
        containers: &[ContainerInfo],
        held: Option<StackGuard>,
    ) -> Result<Action, ReconcileError> {
        self.forget_settling(name);
        if containers.is_empty() {
            // Neither desired nor running: the stack is gone, and so is its record.
            self.status.remove(name);
            return Ok(Action::await_change());
        }
        // An apply through the API removes what its plan showed as `-`; a sync
        // grant only stands in for RECONCILE_ENABLED, never for removal.
        let granted = self.grants.has(name);
        let requested = held.is_some();
        if !requested
            && (!self.settings.remove_enabled || (!self.settings.reconcile_enabled && !granted))
        {
            self.status.update(name, |r| {
                r.status = Status::Orphaned;
                r.error = None;
                r.synced = synced_from_labels(containers);
            });
            return Ok(Action::await_change());
        }
        let Some(_guard) = held.or_else(|| self.locks.try_lock(name)) else {
            return Ok(Action::requeue(LOCKED_RETRY));
        };
        let docker = self
            .docker
            .current()
            .ok_or(ReconcileError::DockerUnavailable)?;
        self.grants.take(name);
        tracing::info!(stack = name, "removing stack that left the desired state");
        self.status.update(name, |r| {
            r.status = Status::Deleting;
            r.error = None;
        });
        let workdir = runner::workdir(&self.settings.data_dir, name);
        check_foreign(
            name,
            &client::list_project(&docker, name).await?,
            &self.settings.instance,
            &workdir,
        )?;
        match last_compose_file(&workdir) {
            Some(compose_file) => {
                let files = [compose_file.as_str(), OVERRIDE_FILE];
                self.compose
                    .down(&Project {
                        name,
                        workdir: &workdir,
                        files: &files,
                    })
                    .await?;
            }
            // The last applied files are gone (DATA_DIR wiped): remove through the API.
            None => client::remove_stack(&docker, name, containers).await?,
        }
        let left = client::list_stack(&docker, &self.settings.instance, name).await?;
        if !left.is_empty() {
            return Err(ReconcileError::NotConverged(format!(
                "compose down finished but {} container(s) remain",
                left.len()
            )));
        }
        let dir = workdir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        tracing::info!(stack = name, "stack removed");
        self.status.update(name, |r| {
            r.status = Status::Missing;
            r.error = None;
            r.synced = None;
            r.last_result = Some(LastResult {
                outcome: "success",
                at: Timestamp::now().to_string(),
                error: None,
            });
        });
        Ok(Action::await_change())
    }
}

impl Reconciler<String> for StackReconciler {
    type Error = ReconcileError;

    async fn reconcile(&self, name: &String) -> Result<Action, ReconcileError> {
        let Some(snapshot) = self.snapshots.current() else {
            return Ok(Action::requeue(NOT_READY_RETRY));
        };
        let containers = self.runtime.containers(name);
        let span = tracing::info_span!("stack", stack = %name, revision = %snapshot.revision);
        let result = match snapshot.stacks.get(name) {
            Some(desired) => {
                self.reconcile_desired(&snapshot, desired, &containers)
                    .instrument(span)
                    .await
            }
            None => {
                self.reconcile_removed(name, &containers, None)
                    .instrument(span)
                    .await
            }
        };
        if let Err(error) = &result
            && !matches!(error, ReconcileError::Invalid(_))
        {
            tracing::warn!(stack = %name, error = %error, "reconcile failed");
            self.record_failure(name, error);
        }
        result
    }
}

/// What the labels say was last applied (the newest apply among the containers).
pub fn synced_from_labels(containers: &[ContainerInfo]) -> Option<Synced> {
    containers
        .iter()
        .filter_map(|c| {
            Some(Synced {
                revision: c.label(labels::REVISION)?.to_string(),
                compose_hash: c.label(labels::COMPOSE_HASH)?.to_string(),
                stack_hash: c.label(labels::STACK_HASH)?.to_string(),
                synced_at: c.label(labels::SYNCED_AT)?.to_string(),
            })
        })
        .max_by(|a, b| a.synced_at.cmp(&b.synced_at))
}

/// Refuses to run compose for a project that holds containers docker-cd must
/// not touch: another instance's, or ones it did not create. A container
/// without our labels that compose ran from our own working folder is ours
/// (recreated by hand from our files) and may be replaced.
fn check_foreign(
    name: &str,
    project: &[ContainerInfo],
    instance: &str,
    workdir: &Path,
) -> Result<(), ReconcileError> {
    let ours = workdir.to_string_lossy();
    let mut foreign = Vec::new();
    for container in project {
        match container.label(labels::INSTANCE) {
            Some(i) if i == instance => {}
            Some(other) => {
                return Err(ReconcileError::Foreign(format!(
                    "compose project '{name}' is managed by docker-cd instance '{other}' (container {}); not touching it",
                    container.name
                )));
            }
            None if container.label("com.docker.compose.project.working_dir")
                == Some(ours.as_ref()) => {}
            None => foreign.push(container.name.clone()),
        }
    }
    if foreign.is_empty() {
        Ok(())
    } else {
        Err(ReconcileError::Foreign(format!(
            "compose project '{name}' has containers docker-cd did not create ({}); remove them or rename the stack folder",
            foreign.join(", ")
        )))
    }
}

/// The compose file of the last apply in `workdir`, if the folder is there.
fn last_compose_file(workdir: &Path) -> Option<String> {
    if !workdir.join(OVERRIDE_FILE).is_file() {
        return None;
    }
    COMPOSE_FILE_NAMES
        .iter()
        .find(|f| workdir.join(f).exists())
        .map(|f| (*f).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, labels: &[(&str, &str)]) -> ContainerInfo {
        ContainerInfo {
            id: name.into(),
            name: name.into(),
            service: "web".into(),
            state: "running".into(),
            health: None,
            exit_code: None,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }

    #[test]
    fn containers_of_others_are_never_touched() {
        let workdir = Path::new("/data/stacks/web");
        let ours = container("a", &[(labels::INSTANCE, "me")]);
        let by_hand = container(
            "b",
            &[("com.docker.compose.project.working_dir", "/data/stacks/web")],
        );
        assert!(check_foreign("web", &[ours.clone(), by_hand], "me", workdir).is_ok());

        let stranger = container(
            "c",
            &[("com.docker.compose.project.working_dir", "/home/me/web")],
        );
        let err =
            check_foreign("web", &[ours.clone(), stranger], "me", workdir).expect_err("foreign");
        assert!(err.to_string().contains("did not create (c)"), "{err}");

        let other_instance = container("d", &[(labels::INSTANCE, "staging")]);
        let err = check_foreign("web", &[ours, other_instance], "me", workdir)
            .expect_err("other instance");
        assert!(err.to_string().contains("instance 'staging'"), "{err}");
    }

    #[test]
    fn synced_info_comes_from_the_newest_complete_label_set() {
        let full = |at: &str, rev: &str| {
            container(
                rev,
                &[
                    (labels::REVISION, rev),
                    (labels::COMPOSE_HASH, "c"),
                    (labels::STACK_HASH, "s"),
                    (labels::SYNCED_AT, at),
                ],
            )
        };
        let partial = container("p", &[(labels::REVISION, "zzz")]);
        let synced = synced_from_labels(&[
            full("2026-01-01T00:00:00Z", "old"),
            partial,
            full("2026-02-01T00:00:00Z", "new"),
        ]);
        assert_eq!(synced.map(|s| s.revision), Some("new".into()));
        assert_eq!(synced_from_labels(&[]), None);
    }
}
