//! Terraform-style plans: what an apply of one stack would change, per service.
//!
//! The desired side is the compose file as compose itself resolves it
//! (`compose config` over the stack's files, materialized in a scratch folder);
//! the actual side is container inspect data. A plan is never stored: its
//! token is a digest of the desired revision and `stack_hash` and of the
//! stack's containers (ids, states, labels), and an apply whose token no longer
//! matches is refused as stale.

pub mod diff;
pub mod spec;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use self::diff::{Actual, Change, Effect};
use self::spec::{
    ImageDefaults, ServiceSpec, actual_service, desired_services, parse_env_file, without_inherited,
};
use crate::compose::runner::ComposeError;
use crate::compose::workspace::{WorkspaceError, Workspaces};
use crate::docker::DockerHandle;
use crate::docker::client::{self, DockerError};
use crate::docker::state::ContainerInfo;
use crate::labels;
use crate::redact::{SecretBook, Secrets, collect};
use crate::stack::revisions::Revisions;
use crate::stack::snapshot::SnapshotReader;
use crate::stack::{DesiredStack, StackName};

/// A plan, as `POST /api/stacks/{name}/plan` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Stack name.
    pub stack: String,
    /// Staleness token for `apply`.
    pub token: String,
    /// The commit the desired side comes from (`null` before any refresh).
    pub desired_revision: Option<String>,
    /// One entry per service that would change.
    pub changes: Vec<Change>,
    /// Counts per action.
    pub summary: Summary,
}

/// Counts of a plan's changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// `+` entries.
    pub add: usize,
    /// `~` entries.
    pub change: usize,
    /// `-` entries.
    pub remove: usize,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Neither desired nor running.
    #[error("no stack named '{0}'")]
    NotFound(String),
    /// The stack cannot be deployed at this revision.
    #[error("{0}")]
    Invalid(String),
    /// No refresh has completed yet.
    #[error("the desired state is not known yet (no refresh has completed)")]
    NotReady,
    /// Docker does not answer.
    #[error("Docker is unreachable")]
    DockerUnavailable,
    /// A Docker API call failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// `compose config` rejected the stack.
    #[error(transparent)]
    Compose(#[from] ComposeError),
    /// The scratch folder could not be written.
    #[error("cannot prepare the stack's files: {0}")]
    Io(#[from] std::io::Error),
    /// `compose config` printed something unreadable.
    #[error("cannot read the output of compose config: {0}")]
    Config(String),
}

impl From<WorkspaceError> for PlanError {
    fn from(error: WorkspaceError) -> Self {
        match error {
            WorkspaceError::Compose(e) => Self::Compose(e),
            WorkspaceError::Io(e) => Self::Io(e),
            WorkspaceError::Unreadable(e) => Self::Config(e),
            WorkspaceError::Refused(why) => Self::Invalid(why),
        }
    }
}

/// The state of a container that exited 0: what a one-shot job is meant to reach.
const COMPLETED: &str = "completed";

/// Makes plans and staleness tokens.
pub struct Planner {
    instance: String,
    workspaces: Workspaces,
    snapshots: SnapshotReader,
    docker: DockerHandle,
    /// Learns the secret values it meets (old ones from the containers) and
    /// masks the plan with them.
    secrets: SecretBook,
    /// The revisions the containers run, for their own secret values.
    revisions: Revisions,
}

impl Planner {
    /// A planner over the shared desired state, Docker client and workspaces;
    /// plans are masked with (and teach) `secrets`.
    pub fn new(
        instance: String,
        workspaces: Workspaces,
        snapshots: SnapshotReader,
        docker: DockerHandle,
        secrets: SecretBook,
        revisions: Revisions,
    ) -> Self {
        Self {
            instance,
            workspaces,
            snapshots,
            docker,
            secrets,
            revisions,
        }
    }

    /// The plan of stack `name`.
    ///
    /// # Errors
    /// When the stack is unknown or invalid, or Docker or compose fail.
    pub async fn plan(&self, name: &str) -> Result<Plan, PlanError> {
        let snapshot = self.snapshots.current().ok_or(PlanError::NotReady)?;
        let docker = self.docker.current().ok_or(PlanError::DockerUnavailable)?;
        let containers = client::list_stack(&docker, &self.instance, name).await?;
        let desired = snapshot.stacks.get(name);
        if desired.is_none() && containers.is_empty() {
            return Err(PlanError::NotFound(name.to_string()));
        }
        if let Some(error) = desired.and_then(|d| d.error.as_ref()) {
            return Err(PlanError::Invalid(error.clone()));
        }
        let token = token(
            Some(&snapshot.revision),
            desired.map(|d| d.stack_hash.as_str()),
            &containers,
        );
        let mut secrets = match desired {
            Some(d) => self.secrets.of_with(name, &d.secrets),
            None => self.secrets.of(name),
        };
        let (specs, required) = match desired {
            Some(d) => {
                let mut specs = self.desired_specs(d, &mut secrets).await?;
                for job in &d.oneshot_services {
                    if let Some(spec) = specs.get_mut(job) {
                        spec.state = COMPLETED.into();
                    }
                }
                (specs, d.expected_services.iter().cloned().collect())
            }
            None => (BTreeMap::new(), BTreeSet::new()),
        };
        self.running_secrets(name, &containers, &mut secrets).await;
        let actual = self
            .actual_specs(&docker, name, &containers, &specs, &mut secrets)
            .await?;
        let desired_hash = desired.map_or("", |d| d.stack_hash.as_str());
        let mut changes = diff::diff(&specs, &required, desired_hash, &actual);
        // Old and new values alike: a password in a URL, a command line, a
        // healthcheck shows in fields no key names as secret.
        self.secrets.learn(name, &secrets);
        for field in changes.iter_mut().flat_map(|c| &mut c.fields) {
            secrets.mask_json(&mut field.old);
            secrets.mask_json(&mut field.new);
        }
        let summary = Summary {
            add: diff::count(&changes, Effect::Add),
            change: diff::count(&changes, Effect::Change),
            remove: diff::count(&changes, Effect::Remove),
        };
        Ok(Plan {
            stack: name.to_string(),
            token,
            desired_revision: Some(snapshot.revision.clone()),
            changes,
            summary,
        })
    }

    /// The token a plan of `name` would carry now (cheap: no compose run).
    ///
    /// # Errors
    /// When Docker cannot be asked.
    pub async fn current_token(&self, name: &str) -> Result<String, PlanError> {
        let snapshot = self.snapshots.current().ok_or(PlanError::NotReady)?;
        let docker = self.docker.current().ok_or(PlanError::DockerUnavailable)?;
        let containers = client::list_stack(&docker, &self.instance, name).await?;
        let hash = snapshot.stacks.get(name).map(|d| d.stack_hash.as_str());
        Ok(token(Some(&snapshot.revision), hash, &containers))
    }

    /// Adds the secret values of the revisions `containers` were applied
    /// from: what they took from that revision's `.env` through a secret-named
    /// variable shows under another name in their config.
    async fn running_secrets(
        &self,
        name: &str,
        containers: &[ContainerInfo],
        secrets: &mut Secrets,
    ) {
        let Ok(stack) = name.parse::<StackName>() else {
            return;
        };
        let revisions: BTreeSet<&str> = containers
            .iter()
            .filter_map(|c| c.label(labels::REVISION))
            .collect();
        for revision in revisions {
            if let Some(past) = self.revisions.stack_at(revision, &stack).await {
                secrets.extend(&past.secrets);
            }
        }
    }

    /// Runs `compose config` over the stack's files in a scratch folder; adds
    /// the secret values of the model compose resolved to `secrets`.
    async fn desired_specs(
        &self,
        desired: &DesiredStack,
        secrets: &mut Secrets,
    ) -> Result<BTreeMap<String, ServiceSpec>, PlanError> {
        let resolved = self.workspaces.resolve(desired).await?;
        let config = &resolved.config;
        collect::from_value(config, &BTreeMap::new(), secrets);
        let env_files = read_env_files(config, &resolved.scratch_dir, &resolved.workdir);
        Ok(desired_services(config, &desired.name, &env_files))
    }

    async fn actual_specs(
        &self,
        docker: &bollard::Docker,
        project: &str,
        containers: &[ContainerInfo],
        desired: &BTreeMap<String, ServiceSpec>,
        secrets: &mut Secrets,
    ) -> Result<BTreeMap<String, Actual>, PlanError> {
        let mut images: HashMap<String, ImageDefaults> = HashMap::new();
        let mut out: BTreeMap<String, Actual> = BTreeMap::new();
        for container in containers {
            let inspect = client::inspect(docker, &container.id).await?;
            // The old values: what the containers were given (env, labels).
            if let Ok(config) = serde_json::to_value(&inspect.config) {
                collect::from_value(&config, &BTreeMap::new(), secrets);
            }
            let image = inspect.image.clone().unwrap_or_default();
            if !images.contains_key(&image) {
                // An image removed since (pruned) contributes nothing we can subtract.
                let config = client::image_config(docker, &image).await.ok().flatten();
                images.insert(image.clone(), ImageDefaults::from_config(config.as_ref()));
            }
            let mut spec = actual_service(&inspect, project);
            let job = desired
                .get(&container.service)
                .is_some_and(|d| d.state == COMPLETED);
            if container.is_finished_job(job) {
                spec.state = COMPLETED.into();
            }
            without_inherited(&mut spec, desired.get(&container.service), &images[&image]);
            let stack_hash = container.label(labels::STACK_HASH).map(str::to_string);
            match out.get_mut(&container.service) {
                // Several replicas: one stopped replica is a stopped service.
                Some(seen) if spec.state != "running" => seen.spec.state = spec.state,
                Some(_) => {}
                None => {
                    out.insert(container.service.clone(), Actual { spec, stack_hash });
                }
            }
        }
        Ok(out)
    }
}

/// Parsed `env_file`s per service of a `compose config` document (v1 prints
/// their paths; v2 has already merged them and prints none). The document's
/// paths point into `workdir`; the files are read from the scratch copy `dir`.
fn read_env_files(
    config: &Value,
    dir: &Path,
    workdir: &Path,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(services) = config.get("services").and_then(Value::as_object) else {
        return out;
    };
    for (name, service) in services {
        let paths: Vec<String> = match service.get("env_file") {
            Some(Value::String(p)) => vec![p.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| match i {
                    Value::String(p) => Some(p.clone()),
                    Value::Object(m) => m.get("path").and_then(Value::as_str).map(str::to_string),
                    _ => None,
                })
                .collect(),
            _ => continue,
        };
        let mut merged = BTreeMap::new();
        let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        for path in paths {
            // Only files inside the scratch folder: a plan never reads elsewhere.
            let path = Path::new(&path);
            let inside = dir
                .join(path.strip_prefix(workdir).unwrap_or(path))
                .canonicalize()
                .ok()
                .filter(|full| full.starts_with(&root));
            if let Some(text) = inside.and_then(|full| std::fs::read_to_string(full).ok()) {
                merged.extend(parse_env_file(&text));
            }
        }
        out.insert(name.clone(), merged);
    }
    out
}

/// The staleness token: desired revision and `stack_hash`, and every
/// container's id, state and labels.
pub fn token(
    revision: Option<&str>,
    stack_hash: Option<&str>,
    containers: &[ContainerInfo],
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(revision.unwrap_or("-").as_bytes());
    hasher.update([0]);
    hasher.update(stack_hash.unwrap_or("-").as_bytes());
    let mut sorted: Vec<&ContainerInfo> = containers.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for c in sorted {
        hasher.update([1]);
        hasher.update(c.id.as_bytes());
        hasher.update([0]);
        hasher.update(c.state.as_str().as_bytes());
        let labels: BTreeMap<&String, &String> = c.labels.iter().collect();
        for (k, v) in labels {
            hasher.update([2]);
            hasher.update(k.as_bytes());
            hasher.update([0]);
            hasher.update(v.as_bytes());
        }
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str, state: &str) -> ContainerInfo {
        crate::docker::state::fixtures::container(id, "web", state, &[(labels::STACK_HASH, "h")])
    }

    #[test]
    fn the_token_changes_with_desired_and_runtime_but_not_with_order() {
        let a = container("a", "running");
        let b = container("b", "running");
        let base = token(Some("rev1"), Some("h"), &[a.clone(), b.clone()]);
        assert_eq!(
            base,
            token(Some("rev1"), Some("h"), &[b.clone(), a.clone()])
        );
        assert_ne!(
            base,
            token(Some("rev2"), Some("h"), &[a.clone(), b.clone()])
        );
        assert_ne!(
            base,
            token(Some("rev1"), Some("h2"), &[a.clone(), b.clone()])
        );
        assert_ne!(
            base,
            token(Some("rev1"), Some("h"), std::slice::from_ref(&a))
        );
        assert_ne!(
            base,
            token(Some("rev1"), Some("h"), &[a, container("b", "exited")])
        );
    }

    #[test]
    fn env_files_are_read_inside_the_stack_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.env"), "A=1\n").unwrap();
        let config = serde_json::json!({"services": {
            "web": {"env_file": ["app.env"]},
            "printed": {"env_file": ["/var/lib/docker-cd/stacks/web/app.env"]},
            "evil": {"env_file": "../../../etc/passwd"},
        }});
        let files = read_env_files(
            &config,
            dir.path(),
            Path::new("/var/lib/docker-cd/stacks/web"),
        );
        assert_eq!(
            files["web"],
            BTreeMap::from([("A".to_string(), "1".to_string())])
        );
        assert_eq!(
            files["printed"], files["web"],
            "v1 prints working-folder paths"
        );
        assert!(files["evil"].is_empty());
    }
}
