//! The actual side: a service as Docker reports one of its containers.

use std::collections::BTreeMap;

use bollard::models::{
    ContainerInspectResponse, MountPoint, PortMap, RestartPolicy, RestartPolicyNameEnum,
};

use super::ServiceSpec;
use super::normal::{network_mode, normal_image, short_network, split_pair, user_labels};

/// The actual side of one container, as Docker reports it (see
/// [`without_inherited`](super::without_inherited) for what its image contributed).
pub fn actual_service(inspect: &ContainerInspectResponse, project: &str) -> ServiceSpec {
    let config = inspect.config.clone().unwrap_or_default();
    let host = inspect.host_config.clone().unwrap_or_default();
    ServiceSpec {
        image: config.image.map(|i| normal_image(&i)),
        command: config.cmd,
        entrypoint: config.entrypoint,
        environment: environment(config.env.unwrap_or_default()),
        ports: ports(host.port_bindings.unwrap_or_default()),
        volumes: mounts(inspect.mounts.clone().unwrap_or_default()),
        networks: networks(inspect, &host.network_mode.unwrap_or_default(), project),
        labels: user_labels(config.labels.unwrap_or_default().into_iter().collect()),
        restart: restart(host.restart_policy),
        healthcheck: config.healthcheck.and_then(|h| h.test),
        state: inspect
            .state
            .as_ref()
            .and_then(|s| s.status)
            .map_or_else(|| "unknown".to_string(), |s| s.to_string()),
        privileges: Vec::new(),
    }
}

fn environment(pairs: Vec<String>) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|pair| split_pair(pair))
        // Compose v1 adds `affinity:container==<old id>` when it recreates a
        // container with volumes (a Swarm scheduling hint), never asked for.
        .filter(|(k, _)| !k.starts_with("affinity:"))
        .collect()
}

/// `host_ip:published:target/protocol` per binding, sorted.
fn ports(bindings: PortMap) -> Vec<String> {
    let mut ports: Vec<String> = bindings
        .into_iter()
        .flat_map(|(target, bindings)| {
            let (port, protocol) = target
                .split_once('/')
                .map_or((target.clone(), "tcp".to_string()), |(p, proto)| {
                    (p.to_string(), proto.to_string())
                });
            bindings.unwrap_or_default().into_iter().map(move |b| {
                format!(
                    "{}:{}:{port}/{protocol}",
                    b.host_ip.unwrap_or_default(),
                    b.host_port.unwrap_or_default()
                )
            })
        })
        .collect();
    ports.sort();
    ports
}

/// Every mount in the desired side's form, sorted.
fn mounts(mounts: Vec<MountPoint>) -> Vec<String> {
    let mut volumes: Vec<String> = mounts.into_iter().filter_map(mount).collect();
    volumes.sort();
    volumes
}

fn mount(m: MountPoint) -> Option<String> {
    let target = m.destination?;
    let mode = if m.rw.unwrap_or(true) { "rw" } else { "ro" };
    Some(match m.typ.as_deref() {
        Some("bind") => format!("bind {}:{target}:{mode}", m.source.unwrap_or_default()),
        Some("volume") => {
            let name = m.name.unwrap_or_default();
            // Anonymous volumes have 64-hex names: compare the target only.
            let anonymous = name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit());
            if anonymous {
                format!("volume :{target}:{mode}")
            } else {
                format!("volume {name}:{target}:{mode}")
            }
        }
        other => format!(
            "{} {}:{target}:{mode}",
            other.unwrap_or("mount"),
            m.source.unwrap_or_default()
        ),
    })
}

/// `mode:<network_mode>`, or the networks the container is attached to, sorted.
fn networks(inspect: &ContainerInspectResponse, mode: &str, project: &str) -> Vec<String> {
    match mode {
        "bridge" | "host" | "none" => vec![format!("mode:{mode}")],
        m if m.starts_with("container:") => vec![network_mode(m)],
        // A network name (`<project>_default`, an external one) or `default`.
        _ => {
            let mut names: Vec<String> = inspect
                .network_settings
                .as_ref()
                .and_then(|n| n.networks.as_ref())
                .map(|n| n.keys().map(|k| short_network(project, k)).collect())
                .unwrap_or_default();
            names.sort();
            names
        }
    }
}

/// The policy's name; `no` when there is none, as compose writes it.
fn restart(policy: Option<RestartPolicy>) -> String {
    match policy.and_then(|r| r.name) {
        None | Some(RestartPolicyNameEnum::EMPTY) => "no".to_string(),
        Some(name) => name.to_string(),
    }
}
