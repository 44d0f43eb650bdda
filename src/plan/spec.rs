//! One service's comparable settings, read from either side: the compose file
//! as `compose config` resolves it, or a container's inspect data.
//!
//! Both sides are normalised to the same text forms (`127.0.0.1:8080:80/tcp`,
//! `bind /src:/dst:ro`, `volume name:/dst:rw`) so a diff is plain equality.
//! A field the compose file leaves out (`command`, `entrypoint`, …) is `None`:
//! the image decides it, and it is not compared.

use std::collections::{BTreeMap, BTreeSet};

use bollard::models::{ContainerInspectResponse, ImageConfig, RestartPolicyNameEnum};
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

/// A command-like field: a list, or a string compose splits with a shell's
/// quoting rules (`sh -c "trap 'exit 0' TERM; …"` is three words). A string
/// the shell rules reject is kept whole, as compose would refuse it anyway.
fn words(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::Array(items) => Some(items.iter().filter_map(string_of).collect()),
        Value::String(s) => {
            let text = unescape(s);
            Some(shlex::split(&text).unwrap_or_else(|| vec![text]))
        }
        _ => None,
    }
}

/// A healthcheck `test`: a string is run by the shell (`CMD-SHELL`), as compose does.
fn health_test(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(vec!["CMD-SHELL".into(), unescape(s)]),
        other => words(Some(other)),
    }
}

/// `nginx`, `library/nginx:latest` and `docker.io/library/nginx:latest` are one
/// image: the form Docker records on a container depends on the compose version.
fn normal_image(reference: &str) -> String {
    let short = reference
        .strip_prefix("docker.io/")
        .or_else(|| reference.strip_prefix("index.docker.io/"))
        .unwrap_or(reference);
    let short = short.strip_prefix("library/").unwrap_or(short);
    let last = short.rsplit('/').next().unwrap_or(short);
    if last.contains(':') || last.contains('@') {
        short.to_string()
    } else {
        format!("{short}:latest")
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
            };
            (name.clone(), spec)
        })
        .collect()
}

/// Labels a user set: compose's own and docker-cd's (including the
/// `io.docker-cd.oneshot` a user writes) are compared elsewhere or not at all.
fn user_labels(labels: BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .into_iter()
        .filter(|(k, _)| !k.starts_with("com.docker.compose.") && !k.starts_with(labels::PREFIX))
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

/// A network's name as a plan shows it: without the project prefix compose adds.
fn short_network(project: &str, name: &str) -> String {
    name.strip_prefix(project)
        .and_then(|rest| rest.strip_prefix('_'))
        .unwrap_or(name)
        .to_string()
}

/// `service:db` (compose) and `container:<id>` (Docker) are one mode.
fn network_mode(mode: &str) -> String {
    if mode.starts_with("service:") || mode.starts_with("container:") {
        "mode:container".into()
    } else {
        format!("mode:{mode}")
    }
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

/// What a container inherits from its image unless the service sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    /// `ENV`.
    pub env: BTreeMap<String, String>,
    /// `LABEL`s.
    pub labels: BTreeMap<String, String>,
    /// `VOLUME` targets: each gets an anonymous volume.
    pub volumes: BTreeSet<String>,
}

impl ImageDefaults {
    /// Reads an image's config (from image inspect).
    pub fn from_config(config: Option<&ImageConfig>) -> Self {
        let Some(config) = config else {
            return Self::default();
        };
        Self {
            env: config
                .env
                .iter()
                .flatten()
                .map(|pair| split_pair(pair))
                .collect(),
            labels: config
                .labels
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            volumes: config.volumes.iter().flatten().cloned().collect(),
        }
    }
}

fn split_pair(pair: &str) -> (String, String) {
    match pair.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (pair.to_string(), String::new()),
    }
}

/// Removes from `actual` what its container has only because the image sets it:
/// variables and labels equal to the image's, and the anonymous volumes of the
/// image's `VOLUME`s, each unless the service sets the same itself.
pub fn without_inherited(
    actual: &mut ServiceSpec,
    desired: Option<&ServiceSpec>,
    image: &ImageDefaults,
) {
    let set_by_service = |map: fn(&ServiceSpec) -> &BTreeMap<String, String>, key: &str| {
        desired.is_some_and(|d| map(d).contains_key(key))
    };
    actual
        .environment
        .retain(|k, v| set_by_service(|d| &d.environment, k) || image.env.get(k) != Some(v));
    actual
        .labels
        .retain(|k, v| set_by_service(|d| &d.labels, k) || image.labels.get(k) != Some(v));
    actual.volumes.retain(|mount| {
        desired.is_some_and(|d| d.volumes.contains(mount))
            || !image
                .volumes
                .iter()
                .any(|target| *mount == format!("volume :{target}:rw"))
    });
}

/// The actual side of one container, as Docker reports it (see
/// [`without_inherited`] for what its image contributed).
pub fn actual_service(inspect: &ContainerInspectResponse, project: &str) -> ServiceSpec {
    let config = inspect.config.clone().unwrap_or_default();
    let host = inspect.host_config.clone().unwrap_or_default();
    let environment = config
        .env
        .unwrap_or_default()
        .iter()
        .map(|pair| split_pair(pair))
        // Compose v1 adds `affinity:container==<old id>` when it recreates a
        // container with volumes (a Swarm scheduling hint), never asked for.
        .filter(|(k, _)| !k.starts_with("affinity:"))
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
    let networks = match mode.as_str() {
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
    };
    let restart = match host.restart_policy.and_then(|r| r.name) {
        None | Some(RestartPolicyNameEnum::EMPTY) => "no".to_string(),
        Some(name) => name.to_string(),
    };
    ServiceSpec {
        image: config.image.map(|i| normal_image(&i)),
        command: config.cmd,
        entrypoint: config.entrypoint,
        environment,
        ports,
        volumes,
        networks,
        labels: user_labels(config.labels.unwrap_or_default().into_iter().collect()),
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

    #[test]
    fn strings_are_split_like_a_shell_and_health_strings_run_in_one() {
        // What compose v1 prints for `command: sh -c "trap 'exit 0' TERM; sleep 1"`.
        let config = json!({"services": {"a": {
            "image": "x",
            "command": "sh -c \"trap 'exit 0' TERM; sleep 1\"",
            "healthcheck": {"test": "wget -q -O- http://localhost/ || exit 1"}
        }}});
        let spec = &desired_services(&config, "p", &BTreeMap::new())["a"];
        assert_eq!(
            spec.command.as_deref(),
            Some(
                &[
                    "sh".to_string(),
                    "-c".into(),
                    "trap 'exit 0' TERM; sleep 1".into()
                ][..]
            )
        );
        assert_eq!(
            spec.healthcheck.as_deref(),
            Some(
                &[
                    "CMD-SHELL".to_string(),
                    "wget -q -O- http://localhost/ || exit 1".into()
                ][..]
            )
        );
    }

    #[rstest::rstest]
    #[case("nginx", "nginx:latest")]
    #[case("docker.io/library/nginx:1.27", "nginx:1.27")]
    #[case("library/redis", "redis:latest")]
    #[case(
        "ghcr.io/immich-app/immich-server:v1",
        "ghcr.io/immich-app/immich-server:v1"
    )]
    #[case("localhost:5000/app", "localhost:5000/app:latest")]
    #[case("postgres@sha256:abc", "postgres@sha256:abc")]
    fn image_references_are_compared_in_one_form(#[case] written: &str, #[case] normal: &str) {
        assert_eq!(normal_image(written), normal);
    }

    #[test]
    fn named_resources_secrets_and_configs_resolve_like_compose() {
        // As compose v2 prints it: absolute file paths, names of every resource.
        let config = json!({
            "services": {"web": {
                "image": "x",
                "volumes": [{"type": "volume", "source": "data", "target": "/data"},
                            {"type": "volume", "source": "shared", "target": "/shared"}],
                "networks": {"default": null, "proxy": null},
                "secrets": ["db_password", {"source": "api", "target": "api.key"}],
                "configs": [{"source": "site", "target": "/etc/site.conf"}, "plain"]
            }},
            "volumes": {"data": {"name": "p_data"}, "shared": {"external": true}},
            "networks": {"default": {"name": "p_default"}, "proxy": {"name": "traefik_proxy", "external": true}},
            "secrets": {"db_password": {"file": "/w/db.txt"}, "api": {"file": "/w/api.txt"}},
            "configs": {"site": {"file": "/w/site.conf"}, "plain": {"content": "x"}}
        });
        let spec = &desired_services(&config, "p", &BTreeMap::new())["web"];
        assert_eq!(
            spec.volumes,
            [
                "bind /w/api.txt:/run/secrets/api.key:ro",
                "bind /w/db.txt:/run/secrets/db_password:ro",
                "bind /w/site.conf:/etc/site.conf:ro",
                "volume p_data:/data:rw",
                "volume shared:/shared:rw",
            ]
        );
        assert_eq!(spec.networks, ["default", "traefik_proxy"]);
    }

    #[test]
    fn what_the_image_sets_is_not_a_difference_unless_the_service_sets_it() {
        let image = ImageDefaults {
            env: BTreeMap::from([("PATH".into(), "/bin".into()), ("PORT".into(), "80".into())]),
            labels: BTreeMap::from([("org.opencontainers.image.title".into(), "t".into())]),
            volumes: BTreeSet::from(["/data".to_string()]),
        };
        let mut actual = ServiceSpec {
            environment: BTreeMap::from([
                ("PATH".into(), "/bin".into()),
                ("PORT".into(), "80".into()),
                ("MODE".into(), "prod".into()),
            ]),
            labels: BTreeMap::from([("org.opencontainers.image.title".into(), "t".into())]),
            volumes: vec!["volume :/data:rw".into(), "volume :/cache:rw".into()],
            ..ServiceSpec::default()
        };
        let desired = ServiceSpec {
            environment: BTreeMap::from([
                ("PORT".into(), "80".into()),
                ("MODE".into(), "prod".into()),
            ]),
            ..ServiceSpec::default()
        };
        without_inherited(&mut actual, Some(&desired), &image);
        assert_eq!(
            actual.environment, desired.environment,
            "PATH came from the image; PORT is set by the service too"
        );
        assert!(actual.labels.is_empty());
        assert_eq!(
            actual.volumes,
            ["volume :/cache:rw"],
            "only the image's VOLUME is inherited"
        );
    }
}
