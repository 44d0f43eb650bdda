//! One service's comparable settings, read from either side: the compose file
//! as `compose config` resolves it, or a container's inspect data.
//!
//! Both sides are normalised to the same text forms (`127.0.0.1:8080:80/tcp`,
//! `bind /src:/dst:ro`, `volume name:/dst:rw`) so a diff is plain equality.
//! A field the compose file leaves out (`command`, `entrypoint`, …) is `None`:
//! the image decides it, and it is not compared.

use std::collections::{BTreeMap, BTreeSet};

use bollard::models::{ContainerInspectResponse, RestartPolicyNameEnum};
use serde_json::Value;

use crate::labels;

/// The settings of one service that a plan compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Image reference as written (`nginx:1.27`).
    pub image: Option<String>,
    /// Command, when set.
    pub command: Option<Vec<String>>,
    /// Entrypoint, when set.
    pub entrypoint: Option<Vec<String>>,
    /// Environment (for a container: without what its image sets alike).
    pub environment: BTreeMap<String, String>,
    /// Published ports, `host_ip:published:target/protocol`, sorted.
    pub ports: Vec<String>,
    /// Mounts, `bind source:target:ro|rw` or `volume name:target:ro|rw`, sorted.
    pub volumes: Vec<String>,
    /// `mode:<network_mode>`, or the networks' short names, sorted.
    pub networks: Vec<String>,
    /// User labels (compose's and docker-cd's own are left out).
    pub labels: BTreeMap<String, String>,
    /// Restart policy (`no` when unset).
    pub restart: String,
    /// Healthcheck test, when set.
    pub healthcheck: Option<Vec<String>>,
    /// `running`, `exited`, …; `running` on the desired side.
    pub state: String,
}

/// Compose writes `$$` for a literal `$` in its `config` output.
fn unescape(text: &str) -> String {
    text.replace("$$", "$")
}

fn string_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(unescape(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A command-like field: a list, or a string compose would split with a shell's rules.
fn words(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::Array(items) => Some(items.iter().filter_map(string_of).collect()),
        Value::String(s) => Some(unescape(s).split_whitespace().map(str::to_string).collect()),
        _ => None,
    }
}

/// `environment` or `labels`: a map, or a list of `KEY=VALUE`.
fn key_values(value: Option<&Value>) -> BTreeMap<String, String> {
    match value {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), string_of(v).unwrap_or_default()))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(string_of)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (item, String::new()),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

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

/// A mount from a short (`src:dst:ro`) or long volume entry.
fn volume(value: &Value, project: &str) -> Option<String> {
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
        "volume" => Some(format!("volume {project}_{source}:{target}:{mode}")),
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
                .map(|v| v.iter().filter_map(|v| volume(v, project)).collect())
                .unwrap_or_default();
            volumes.sort();
            let networks = match service.get("network_mode").and_then(string_of) {
                Some(mode) => vec![format!("mode:{mode}")],
                None => {
                    let mut names: Vec<String> = match service.get("networks") {
                        Some(Value::Object(map)) => map.keys().cloned().collect(),
                        Some(Value::Array(items)) => items.iter().filter_map(string_of).collect(),
                        _ => vec!["default".into()],
                    };
                    names.sort();
                    names
                }
            };
            let healthcheck = service.get("healthcheck").and_then(|h| {
                if h.get("disable").and_then(Value::as_bool) == Some(true) {
                    return Some(vec!["NONE".to_string()]);
                }
                words(h.get("test"))
            });
            let spec = ServiceSpec {
                image: service.get("image").and_then(string_of),
                command: words(service.get("command")),
                entrypoint: words(service.get("entrypoint")),
                environment,
                ports,
                volumes,
                networks,
                labels: key_values(service.get("labels")),
                restart: service
                    .get("restart")
                    .and_then(string_of)
                    .unwrap_or_else(|| "no".into()),
                healthcheck,
                state: "running".into(),
            };
            (name.clone(), spec)
        })
        .collect()
}

/// Parses an env file: `KEY=VALUE` lines, `#` comments, optional quotes.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((key.trim().to_string(), unquoted.to_string()))
        })
        .collect()
}

/// The actual side of one container; `image_env` is what its image sets (those
/// variables are only shown when the container's value differs).
pub fn actual_service(
    inspect: &ContainerInspectResponse,
    project: &str,
    image_env: &BTreeSet<String>,
) -> ServiceSpec {
    let config = inspect.config.clone().unwrap_or_default();
    let host = inspect.host_config.clone().unwrap_or_default();
    let environment = config
        .env
        .unwrap_or_default()
        .into_iter()
        .filter(|pair| !image_env.contains(pair))
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (pair, String::new()),
        })
        .collect();
    let mut ports: Vec<String> = host
        .port_bindings
        .unwrap_or_default()
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
    let mut volumes: Vec<String> = inspect
        .mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            let target = m.destination?;
            let mode = if m.rw.unwrap_or(true) { "rw" } else { "ro" };
            Some(match m.typ.as_deref() {
                Some("bind") => {
                    format!("bind {}:{target}:{mode}", m.source.unwrap_or_default())
                }
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
        })
        .collect();
    volumes.sort();
    let mode = host.network_mode.unwrap_or_default();
    let networks = if ["", "default"].contains(&mode.as_str())
        || mode == format!("{project}_default")
        || mode.starts_with(&format!("{project}_"))
    {
        let mut names: Vec<String> = inspect
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .map(|n| {
                n.keys()
                    .map(|k| {
                        k.strip_prefix(&format!("{project}_"))
                            .unwrap_or(k)
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    } else {
        vec![format!("mode:{mode}")]
    };
    let labels = config
        .labels
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("com.docker.compose.") && !k.starts_with(labels::PREFIX))
        .collect();
    let restart = match host.restart_policy.and_then(|r| r.name) {
        None | Some(RestartPolicyNameEnum::EMPTY) => "no".to_string(),
        Some(name) => name.to_string(),
    };
    ServiceSpec {
        image: config.image,
        command: config.cmd,
        entrypoint: config.entrypoint,
        environment,
        ports,
        volumes,
        networks,
        labels,
        restart,
        healthcheck: config.healthcheck.and_then(|h| h.test),
        state: inspect
            .state
            .as_ref()
            .and_then(|s| s.status)
            .map_or_else(|| "unknown".to_string(), |s| s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compose_config_is_normalised() {
        let config = json!({"services": {"web": {
            "image": "nginx:1.27",
            "command": ["sh", "-c", "echo $$HOME"],
            "environment": {"A": "1", "N": 2},
            "ports": ["127.0.0.1:8080:80/tcp", "9000", {"target": 53, "published": "5353", "protocol": "udp"}],
            "volumes": ["/srv/site:/usr/share/nginx/html:ro", "data:/data:rw", {"type": "bind", "source": "/etc/x", "target": "/x", "read_only": true}],
            "networks": {"front": null, "back": {}},
            "labels": ["team=web"],
            "restart": "unless-stopped",
            "healthcheck": {"test": ["CMD", "true"]}
        }}});
        let env_files = BTreeMap::from([(
            "web".to_string(),
            BTreeMap::from([
                ("A".to_string(), "0".to_string()),
                ("B".to_string(), "x".to_string()),
            ]),
        )]);
        let spec = &desired_services(&config, "proj", &env_files)["web"];
        assert_eq!(
            spec.command.as_deref(),
            Some(&["sh".to_string(), "-c".into(), "echo $HOME".into()][..])
        );
        assert_eq!(
            spec.environment,
            BTreeMap::from([
                ("A".into(), "1".into()),
                ("B".into(), "x".into()),
                ("N".into(), "2".into())
            ]),
            "environment wins over env_file"
        );
        assert_eq!(
            spec.ports,
            ["127.0.0.1:8080:80/tcp", ":5353:53/udp", "::9000/tcp"]
        );
        assert_eq!(
            spec.volumes,
            [
                "bind /etc/x:/x:ro",
                "bind /srv/site:/usr/share/nginx/html:ro",
                "volume proj_data:/data:rw"
            ]
        );
        assert_eq!(spec.networks, ["back", "front"]);
        assert_eq!(spec.labels, BTreeMap::from([("team".into(), "web".into())]));
        assert_eq!(spec.restart, "unless-stopped");
        assert_eq!(spec.state, "running");
    }

    #[test]
    fn network_mode_and_defaults() {
        let config = json!({"services": {"a": {"image": "x", "network_mode": "bridge"}, "b": {"image": "x"}}});
        let specs = desired_services(&config, "p", &BTreeMap::new());
        assert_eq!(specs["a"].networks, ["mode:bridge"]);
        assert_eq!(specs["b"].networks, ["default"]);
        assert_eq!(specs["b"].command, None, "left to the image");
        assert_eq!(specs["b"].restart, "no");
    }

    #[test]
    fn env_files_are_read_like_compose() {
        let text = "# comment\nA=1\nexport B=\"two words\"\nC='x'\n\nD=\n";
        assert_eq!(
            parse_env_file(text),
            BTreeMap::from([
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into()),
                ("D".into(), String::new())
            ])
        );
    }
}
