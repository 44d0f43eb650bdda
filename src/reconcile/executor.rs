//! The reconciler's effects, behind a trait: the real one runs compose in the
//! stack's workspace and asks Docker; unit tests use a fake.

use std::future::Future;
use std::path::Path;

use super::ReconcileError;
use crate::compose::workspace::Workspaces;
use crate::docker::DockerHandle;
use crate::docker::client;
use crate::docker::state::{ContainerInfo, ContainerState};
use crate::labels::{self, StackLabels};
use crate::stack::DesiredStack;

/// What the reconciler does to the host.
pub trait Executor: Send + Sync + 'static {
    /// Fails with [`ReconcileError::DockerUnavailable`] while Docker does not answer.
    fn connected(&self) -> Result<(), ReconcileError>;

    /// Runs `compose up` for `desired` with `labels`, then lists the stack's
    /// containers fresh from Docker.
    fn up(
        &self,
        desired: &DesiredStack,
        labels: &StackLabels,
    ) -> impl Future<Output = Result<Vec<ContainerInfo>, ReconcileError>> + Send;

    /// Removes the stack `name` (whose containers are `containers`), then lists
    /// what is left of it.
    fn down(
        &self,
        name: &str,
        containers: &[ContainerInfo],
    ) -> impl Future<Output = Result<Vec<ContainerInfo>, ReconcileError>> + Send;

    /// Forgets the stack's working files after a complete removal.
    fn discard(&self, name: &str) -> impl Future<Output = ()> + Send;

    /// Whether the engine's own list agrees that the containers of `seen`
    /// that stopped are stopped. Docker sends `die` before its list says so
    /// (the runtime cache believes the event), and compose acts on the list:
    /// a revert started in between finds nothing to do, and the stop is seen
    /// again later, costing a second revert.
    fn stops_listed(
        &self,
        name: &str,
        seen: &[ContainerInfo],
    ) -> impl Future<Output = Result<bool, ReconcileError>> + Send;
}

/// The real effects: compose in the workspace, the Docker API for lists.
pub struct DockerExecutor {
    /// `INSTANCE_NAME`.
    pub instance: String,
    /// The Docker client, when connected.
    pub docker: DockerHandle,
    /// Where compose runs.
    pub workspaces: Workspaces,
}

impl DockerExecutor {
    fn client(&self) -> Result<bollard::Docker, ReconcileError> {
        self.docker
            .current()
            .ok_or(ReconcileError::DockerUnavailable)
    }

    /// Refuses a project holding containers docker-cd must not touch.
    async fn check_project(
        &self,
        docker: &bollard::Docker,
        name: &str,
    ) -> Result<(), ReconcileError> {
        let project = client::list_project(docker, name).await?;
        check_foreign(name, &project, &self.instance, &self.workspaces.dir(name))
    }

    /// Under `deny-host-mounts`, refuses existing volumes named like the
    /// stack's own that it did not create or that mount the host: compose
    /// mounts whatever volume has the name it would have given.
    async fn check_volumes(
        &self,
        docker: &bollard::Docker,
        name: &str,
    ) -> Result<(), ReconcileError> {
        let policy = self.workspaces.policy();
        if !policy.deny_host_mounts {
            return Ok(());
        }
        let volumes = client::volumes_named(docker, &format!("{name}_")).await?;
        let problems: Vec<String> = volumes
            .iter()
            .filter_map(|v| policy.existing_volume(&v.name, &v.driver, &v.labels, &v.options, name))
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ReconcileError::Foreign(problems.join("; ")))
        }
    }
}

impl Executor for DockerExecutor {
    fn connected(&self) -> Result<(), ReconcileError> {
        self.client().map(|_| ())
    }

    async fn up(
        &self,
        desired: &DesiredStack,
        labels: &StackLabels,
    ) -> Result<Vec<ContainerInfo>, ReconcileError> {
        let docker = self.client()?;
        self.check_project(&docker, &desired.name).await?;
        self.check_volumes(&docker, &desired.name).await?;
        let run = self.workspaces.up(desired, labels).await?;
        tracing::info!(
            stack = %desired.name,
            elapsed_ms = run.elapsed.as_millis() as u64,
            "compose up finished"
        );
        Ok(client::list_stack(&docker, &self.instance, &desired.name).await?)
    }

    async fn down(
        &self,
        name: &str,
        containers: &[ContainerInfo],
    ) -> Result<Vec<ContainerInfo>, ReconcileError> {
        let docker = self.client()?;
        self.check_project(&docker, name).await?;
        if self.workspaces.down(name).await?.is_none() {
            // The last applied files are gone (DATA_DIR wiped): remove through the API.
            client::remove_stack(&docker, name, containers).await?;
        }
        Ok(client::list_stack(&docker, &self.instance, name).await?)
    }

    async fn discard(&self, name: &str) {
        self.workspaces.discard(name).await;
    }

    async fn stops_listed(
        &self,
        name: &str,
        seen: &[ContainerInfo],
    ) -> Result<bool, ReconcileError> {
        let stopped: Vec<&str> = seen
            .iter()
            .filter(|c| matches!(c.state, ContainerState::Exited | ContainerState::Dead))
            .map(|c| c.id.as_str())
            .collect();
        if stopped.is_empty() {
            return Ok(true);
        }
        let docker = self.client()?;
        let listed = client::list_stack(&docker, &self.instance, name).await?;
        Ok(!listed
            .iter()
            .any(|c| c.state == ContainerState::Running && stopped.contains(&c.id.as_str())))
    }
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
            None if container.label(labels::COMPOSE_WORKING_DIR) == Some(ours.as_ref()) => {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::state::fixtures::container;

    #[test]
    fn containers_of_others_are_never_touched() {
        let workdir = Path::new("/data/stacks/web");
        let ours = container("a", "web", "running", &[(labels::INSTANCE, "me")]);
        let by_hand = container(
            "b",
            "web",
            "running",
            &[(labels::COMPOSE_WORKING_DIR, "/data/stacks/web")],
        );
        assert!(check_foreign("web", &[ours.clone(), by_hand], "me", workdir).is_ok());

        let stranger = container(
            "c",
            "web",
            "running",
            &[(labels::COMPOSE_WORKING_DIR, "/home/me/web")],
        );
        let err =
            check_foreign("web", &[ours.clone(), stranger], "me", workdir).expect_err("foreign");
        assert!(err.to_string().contains("did not create (c-1)"), "{err}");

        let other_instance = container("d", "web", "running", &[(labels::INSTANCE, "staging")]);
        let err = check_foreign("web", &[ours, other_instance], "me", workdir)
            .expect_err("other instance");
        assert!(err.to_string().contains("instance 'staging'"), "{err}");
    }
}
