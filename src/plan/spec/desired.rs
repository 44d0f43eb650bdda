//! The desired side: a service as `compose config` resolves it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ServiceSpec;
use super::compose_value::{health_test, key_values, string_of, words};
use super::normal::{network_mode, normal_image, short_network, user_labels};
use crate::admission::policy::privileges;

/// `host_ip:published:target/protocol` from a short or long port entry.
fn port(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => {
            let target = map.get("target").and_then(string_of)?;
            let published = map.get("published").and_then(string_of).unwrap_or_default();
            let ip = map.get("host_ip").and_then(string_of).unwrap_or_default();
            let protocol = map
                .get("protocol")
                .and_then(string_of)
                .unwrap_or_else(|| "tcp".into());
            Some(format!("{ip}:{published}:{target}/{protocol}"))
        }
        other => {
            let text = string_of(other)?;
            let (spec, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
            let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
            let (ip, published, target) = match parts.as_slice() {
                [target] => ("", "", *target),
                [target, published] => ("", *published, *target),
                [target, published, ip] => (*ip, *published, *target),
                _ => return None,
            };
            Some(format!("{ip}:{published}:{target}/{protocol}"))
        }
    }
}

/// The Docker name of the compose volume `key`: its `name:`, the key itself when
/// `external`, else `<project>_<key>`.
fn volume_name(top: &Value, project: &str, key: &str) -> String {
    resource_name(top, "volumes", key).unwrap_or_else(|| format!("{project}_{key}"))
}

/// A top-level resource's own Docker name (`name:`, or the key when external).
fn resource_name(top: &Value, section: &str, key: &str) -> Option<String> {
    let def = top.get(section)?.get(key)?;
    def.get("name").and_then(string_of).or_else(|| {
        let external = def.get("external");
        let is_external = external.and_then(Value::as_bool) == Some(true)
            || external.is_some_and(Value::is_object);
        is_external.then(|| {
            external
                .and_then(|e| e.get("name"))
                .and_then(string_of)
                .unwrap_or_else(|| key.to_string())
        })
    })
}

/// A mount from a short (`src:dst:ro`) or long volume entry.
fn volume(value: &Value, top: &Value, project: &str) -> Option<String> {
    let (kind, source, target, read_only) = match value {
        Value::Object(map) => {
            let target = map.get("target").and_then(string_of)?;
            let source = map.get("source").and_then(string_of).unwrap_or_default();
            let kind = map
                .get("type")
                .and_then(string_of)
                .unwrap_or_else(|| "volume".into());
            let read_only = map
                .get("read_only")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            (kind, source, target, read_only)
        }
        other => {
            let text = string_of(other)?;
            let parts: Vec<&str> = text.split(':').collect();
            match parts.as_slice() {
                [target] => (
                    "volume".to_string(),
                    String::new(),
                    (*target).to_string(),
                    false,
                ),
                [source, target] | [source, target, _] => {
                    let read_only = parts
                        .get(2)
                        .is_some_and(|m| m.split(',').any(|o| o == "ro"));
                    let kind = if source.starts_with('/') || source.starts_with('.') {
                        "bind"
                    } else {
                        "volume"
                    };
                    (
                        kind.to_string(),
                        (*source).to_string(),
                        (*target).to_string(),
                        read_only,
                    )
                }
                _ => return None,
            }
        }
    };
    let mode = if read_only { "ro" } else { "rw" };
    match kind.as_str() {
        "bind" => Some(format!("bind {source}:{target}:{mode}")),
        // Anonymous volumes get random names: compare the target only.
        "volume" if source.is_empty() => Some(format!("volume :{target}:{mode}")),
        "volume" => Some(format!(
            "volume {}:{target}:{mode}",
            volume_name(top, project, &source)
        )),
        other => Some(format!("{other} {source}:{target}:{mode}")),
    }
}

/// The desired side of every service of a `compose config` document.
/// `env_files` gives the parsed contents of each service's `env_file`s
/// (compose v1 prints the paths, v2 merges them into `environment`).
pub fn desired_services(
    config: &Value,
    project: &str,
    env_files: &BTreeMap<String, BTreeMap<String, String>>,
) -> BTreeMap<String, ServiceSpec> {
    let Some(services) = config.get("services").and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    services
        .iter()
        .map(|(name, service)| {
            let mut environment = env_files.get(name).cloned().unwrap_or_default();
            environment.extend(key_values(service.get("environment")));
            let mut ports: Vec<String> = service
                .get("ports")
                .and_then(Value::as_array)
                .map(|p| p.iter().filter_map(port).collect())
                .unwrap_or_default();
            ports.sort();
            let mut volumes: Vec<String> = service
                .get("volumes")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(|v| volume(v, config, project))
                        .collect()
                })
                .unwrap_or_default();
            volumes.extend(file_mounts(service, config));
            volumes.sort();
            let healthcheck = service.get("healthcheck").and_then(|h| {
                if h.get("disable").and_then(Value::as_bool) == Some(true) {
                    return Some(vec!["NONE".to_string()]);
                }
                health_test(h.get("test"))
            });
            let spec = ServiceSpec {
                image: service
                    .get("image")
                    .and_then(string_of)
                    .map(|i| normal_image(&i)),
                command: words(service.get("command")),
                entrypoint: words(service.get("entrypoint")),
                environment,
                ports,
                volumes,
                networks: desired_networks(service, config, project),
                labels: user_labels(key_values(service.get("labels"))),
                restart: service
                    .get("restart")
                    .and_then(string_of)
                    .unwrap_or_else(|| "no".into()),
                healthcheck,
                state: "running".into(),
                privileges: privileges(service),
            };
            (name.clone(), spec)
        })
        .collect()
}

/// The files compose bind-mounts read-only for a service's `secrets:` (at
/// `/run/secrets/<name>`) and `configs:` (at `/<name>`), when they come from a
/// `file:`; secrets from `environment:` or `content:` are copied, not mounted.
fn file_mounts(service: &Value, top: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (section, base) in [("secrets", "/run/secrets/"), ("configs", "/")] {
        let Some(entries) = service.get(section).and_then(Value::as_array) else {
            continue;
        };
        for entry in entries {
            let (source, target) = match entry {
                Value::Object(map) => (
                    map.get("source").and_then(string_of),
                    map.get("target").and_then(string_of),
                ),
                other => (string_of(other), None),
            };
            let Some(source) = source else { continue };
            let Some(file) = top
                .get(section)
                .and_then(|d| d.get(&source))
                .and_then(|d| d.get("file"))
                .and_then(string_of)
            else {
                continue;
            };
            let target = target.unwrap_or_else(|| source.clone());
            let target = if target.starts_with('/') {
                target
            } else {
                format!("{base}{target}")
            };
            out.push(format!("bind {file}:{target}:ro"));
        }
    }
    out
}

/// `mode:<network_mode>`, or the service's networks by their Docker names
/// without the `<project>_` prefix, sorted.
fn desired_networks(service: &Value, top: &Value, project: &str) -> Vec<String> {
    if let Some(mode) = service.get("network_mode").and_then(string_of) {
        return vec![network_mode(&mode)];
    }
    let mut names: Vec<String> = match service.get("networks") {
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(string_of).collect(),
        _ => vec!["default".into()],
    };
    for name in &mut names {
        if let Some(real) = resource_name(top, "networks", name) {
            *name = short_network(project, &real);
        }
    }
    names.sort();
    names
}
