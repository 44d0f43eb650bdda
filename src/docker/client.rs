//! The Docker API client: connection with version negotiation, and the few
//! calls docker-cd makes (list by label, ping, event stream).

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerSummary};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};

use super::state::{ContainerInfo, ContainerState, Health};
use crate::labels;

/// Why a Docker call failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The client could not be built (e.g. the socket file does not exist yet).
    #[error("cannot connect to Docker at {host}: {source}")]
    Connect {
        /// `DOCKER_HOST` or the default socket.
        host: String,
        /// The client's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// A call to the daemon failed.
    #[error("Docker API call failed: {0}")]
    Api(#[from] bollard::errors::Error),
}

/// Full inspect data of one container (for plans).
///
/// # Errors
/// When the container is gone or the daemon fails.
pub async fn inspect(docker: &Docker, id: &str) -> Result<ContainerInspectResponse, DockerError> {
    Ok(docker.inspect_container(id, None).await?)
}

/// An image's config: what its containers inherit (env, labels, volumes, …).
///
/// # Errors
/// When the image is unknown or the daemon fails.
pub async fn image_config(
    docker: &Docker,
    image: &str,
) -> Result<Option<bollard::models::ImageConfig>, DockerError> {
    Ok(docker.inspect_image(image).await?.config)
}

/// Default socket when `DOCKER_HOST` is unset.
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Builds a client and negotiates the API version with the daemon.
///
/// Negotiation matters even though bollard 0.21.1 sends unversioned paths
/// (bollard#736): once that is fixed, an un-negotiated client would speak a
/// version Docker 20.10 refuses.
///
/// # Errors
/// When the socket is missing or the daemon does not answer.
pub async fn connect(docker_host: Option<&str>) -> Result<Docker, DockerError> {
    let host = docker_host.unwrap_or(DEFAULT_HOST);
    let client = Docker::connect_with_host(host).map_err(|source| DockerError::Connect {
        host: host.to_string(),
        source,
    })?;
    Ok(client.negotiate_version().await?)
}

/// The label filters that select this instance's managed containers.
pub fn instance_filters(instance: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![
            format!("{}=true", labels::MANAGED),
            format!("{}={instance}", labels::INSTANCE),
        ],
    )])
}

/// Every managed container of `instance` (running or not).
///
/// # Errors
/// When the daemon does not answer.
pub async fn list_managed(
    docker: &Docker,
    instance: &str,
) -> Result<Vec<ContainerInfo>, DockerError> {
    list(docker, instance_filters(instance)).await
}

/// Managed containers of `instance` in compose project `project`.
///
/// # Errors
/// When the daemon does not answer.
pub async fn list_stack(
    docker: &Docker,
    instance: &str,
    project: &str,
) -> Result<Vec<ContainerInfo>, DockerError> {
    let mut filters = instance_filters(instance);
    if let Some(label_filters) = filters.get_mut("label") {
        label_filters.push(format!("{}={project}", labels::COMPOSE_PROJECT));
    }
    list(docker, filters).await
}

/// The volumes whose name starts with `prefix`.
///
/// # Errors
/// When the daemon does not answer.
pub async fn volumes_named(
    docker: &Docker,
    prefix: &str,
) -> Result<Vec<bollard::models::Volume>, DockerError> {
    let filters = HashMap::from([("name".to_string(), vec![prefix.to_string()])]);
    let options = bollard::query_parameters::ListVolumesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let listed = docker.list_volumes(Some(options)).await?;
    // The engine's name filter matches any part of the name.
    Ok(listed
        .volumes
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.name.starts_with(prefix))
        .collect())
}

/// Every container of compose project `project`, whoever made it.
///
/// # Errors
/// When the daemon does not answer.
pub async fn list_project(
    docker: &Docker,
    project: &str,
) -> Result<Vec<ContainerInfo>, DockerError> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{}={project}", labels::COMPOSE_PROJECT)],
    )]);
    list(docker, filters).await
}

async fn list(
    docker: &Docker,
    filters: HashMap<String, Vec<String>>,
) -> Result<Vec<ContainerInfo>, DockerError> {
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let summaries = docker.list_containers(Some(options)).await?;
    Ok(summaries.into_iter().filter_map(container_info).collect())
}

/// Removes a stack without compose (when its last applied files are gone): its
/// containers (force, volumes kept) and the networks compose made for it.
///
/// # Errors
/// When a removal fails for another reason than "already gone".
pub async fn remove_stack(
    docker: &Docker,
    project: &str,
    containers: &[ContainerInfo],
) -> Result<(), DockerError> {
    for container in containers {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(false)
            .build();
        match docker.remove_container(&container.id, Some(options)).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{}={project}", labels::COMPOSE_PROJECT)],
    )]);
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await?;
    for network in networks {
        if let Some(id) = network.id {
            match docker.remove_network(&id).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Converts a list entry; entries without an id are skipped.
fn container_info(summary: ContainerSummary) -> Option<ContainerInfo> {
    let id = summary.id?;
    let labels = summary.labels.unwrap_or_default();
    let status = summary.status.unwrap_or_default();
    Some(ContainerInfo {
        name: summary
            .names
            .and_then(|names| names.into_iter().next())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.chars().take(12).collect()),
        service: labels
            .get(labels::COMPOSE_SERVICE)
            .cloned()
            .unwrap_or_default(),
        state: ContainerState::from_docker(
            &summary.state.map(|s| s.to_string()).unwrap_or_default(),
        ),
        health: health_from_status(&status),
        exit_code: exit_code_from_status(&status),
        id,
        labels,
    })
}

/// The list API (at 1.41) has no health field; its status text carries it:
/// `Up 5 seconds (healthy)`, `(unhealthy)`, `(health: starting)`.
fn health_from_status(status: &str) -> Option<Health> {
    if status.contains("(healthy)") {
        Some(Health::Healthy)
    } else if status.contains("(unhealthy)") {
        Some(Health::Unhealthy)
    } else if status.contains("(health: starting)") {
        Some(Health::Starting)
    } else {
        None
    }
}

/// `Exited (137) 3 seconds ago` → 137.
fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    rest.split(')').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("Up 5 seconds (healthy)", Some("healthy"))]
    #[case("Up 2 minutes (unhealthy)", Some("unhealthy"))]
    #[case("Up 1 second (health: starting)", Some("starting"))]
    #[case("Up 3 hours", None)]
    #[case("Exited (0) 2 minutes ago", None)]
    fn health_is_read_from_the_status_text(#[case] status: &str, #[case] health: Option<&str>) {
        assert_eq!(health_from_status(status).map(Health::as_str), health);
    }

    #[rstest]
    #[case("Exited (0) 2 minutes ago", Some(0))]
    #[case("Exited (137) Less than a second ago", Some(137))]
    #[case("Up 3 hours", None)]
    #[case("Created", None)]
    fn exit_code_is_read_from_the_status_text(#[case] status: &str, #[case] code: Option<i64>) {
        assert_eq!(exit_code_from_status(status), code);
    }
}
