//! `POLICY`: what a commit may ask of the host. Off by default; each rule
//! refuses a stack whose compose files ask for more, naming the service and field.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde_json::Value;

mod mounts;
mod privileges;

pub use self::privileges::privileges;

/// The rules an operator turned on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `deny-privileged`: no privileged mode, host namespaces, devices or
    /// all-powerful capabilities.
    pub deny_privileged: bool,
    /// `deny-host-mounts`: no bind mount from outside the stack folder, no
    /// Docker socket, no volume that binds a host folder.
    pub deny_host_mounts: bool,
    /// `allowed-registries=<a;b>`: images only from these registries.
    pub allowed_registries: Option<Vec<String>>,
}

/// A `POLICY` value that is not a list of known rules.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown rule '{0}' (use deny-privileged, deny-host-mounts, allowed-registries=<registry;registry>)"
)]
pub struct UnknownRule(String);

impl FromStr for Policy {
    type Err = UnknownRule;

    fn from_str(text: &str) -> Result<Self, UnknownRule> {
        let mut policy = Policy::default();
        for rule in text.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            match rule.split_once('=') {
                None if rule == "deny-privileged" => policy.deny_privileged = true,
                None if rule == "deny-host-mounts" => policy.deny_host_mounts = true,
                Some(("allowed-registries", list)) => {
                    let registries: Vec<String> = list
                        .split(';')
                        .map(|r| r.trim().to_ascii_lowercase())
                        .filter(|r| !r.is_empty())
                        .collect();
                    if registries.is_empty() {
                        return Err(UnknownRule(rule.to_string()));
                    }
                    policy.allowed_registries = Some(registries);
                }
                _ => return Err(UnknownRule(rule.to_string())),
            }
        }
        Ok(policy)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rules = Vec::new();
        if self.deny_privileged {
            rules.push("deny-privileged".to_string());
        }
        if self.deny_host_mounts {
            rules.push("deny-host-mounts".to_string());
        }
        if let Some(registries) = &self.allowed_registries {
            rules.push(format!("allowed-registries={}", registries.join(";")));
        }
        f.write_str(&rules.join(","))
    }
}

impl Policy {
    /// What the resolved model `config` (compose's `config` output, its paths
    /// absolute) asks of the host beyond this policy; `workdir` is the stack's
    /// working folder, whose own files may be mounted.
    pub fn check(&self, config: &Value, workdir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, service) in services(config) {
            let mut refuse = |what: String, rule: &str| {
                problems.push(format!(
                    "service '{name}': {what} is refused by POLICY {rule}"
                ));
            };
            if self.deny_privileged {
                for what in privileges(service) {
                    refuse(what, "deny-privileged");
                }
                for network in host_networks(config, service) {
                    refuse(
                        format!("networks: {network} (the host's network)"),
                        "deny-privileged",
                    );
                }
            }
            if self.deny_host_mounts {
                for what in mounts::host_mounts(service, workdir) {
                    refuse(what, "deny-host-mounts");
                }
            }
            if let (Some(allowed), Some(image)) = (
                &self.allowed_registries,
                service.get("image").and_then(Value::as_str),
            ) {
                let registry = registry(image);
                if !allowed.contains(&registry) {
                    refuse(
                        format!("image '{image}' (registry {registry})"),
                        "allowed-registries",
                    );
                }
            }
        }
        if self.deny_host_mounts {
            // v2 prints the project's name; v1 does not, and the working
            // folder is named after the project.
            let project = config
                .get("name")
                .and_then(Value::as_str)
                .or_else(|| workdir.file_name().and_then(|n| n.to_str()));
            problems.extend(mounts::host_volumes(config, project.unwrap_or_default()));
        }
        problems
    }

    /// Under `deny-host-mounts`, why the existing volume `name` (named like one
    /// of compose project `project`'s own) may not be mounted; `None` when it may.
    pub fn existing_volume(
        &self,
        name: &str,
        driver: &str,
        labels: &std::collections::HashMap<String, String>,
        options: &std::collections::HashMap<String, String>,
        project: &str,
    ) -> Option<String> {
        let why = mounts::existing_volume(name, driver, labels, options, project)?;
        self.deny_host_mounts
            .then(|| format!("{why}, refused by POLICY deny-host-mounts"))
    }
}

/// The services of a compose model, by name.
pub fn services(config: &Value) -> impl Iterator<Item = (&String, &Value)> {
    config
        .get("services")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// The networks of `service` that are the host's own network stack: an
/// external network named `host` is `network_mode: host` under another name.
fn host_networks<'c>(config: &'c Value, service: &'c Value) -> Vec<&'c str> {
    let joined: Vec<&str> = match service.get("networks") {
        Some(Value::Object(map)) => map.keys().map(String::as_str).collect(),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    joined
        .into_iter()
        .filter(|key| {
            let network = config.get("networks").and_then(|n| n.get(*key));
            let name = network
                .and_then(|n| n.get("name"))
                .and_then(Value::as_str)
                .unwrap_or(key);
            name == "host"
        })
        .collect()
}

/// The registry an image reference pulls from (`docker.io` when it names none).
pub fn registry(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            first.to_ascii_lowercase()
        }
        _ => "docker.io".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::compose::file::parse_document;

    const WORKDIR: &str = "/data/stacks/agent";

    fn problems(policy: &str, yaml: &str) -> Vec<String> {
        let policy: Policy = policy.parse().expect("test policy parses");
        let config = parse_document(yaml.as_bytes()).expect("test yaml parses");
        policy.check(&config, Path::new(WORKDIR))
    }

    /// As `compose config` prints it: values interpolated, paths absolute.
    const POWERFUL: &str = r#"
services:
  agent:
    image: ghcr.io/acme/agent:1
    privileged: true
    pid: host
    network_mode: host
    cap_add: [NET_ADMIN, CAP_SYS_ADMIN]
    devices: [{source: /dev/sda, target: /dev/sda, permissions: rwm}]
    volumes:
      - {type: bind, source: /, target: /host, read_only: true}
      - {type: bind, source: /var/run/docker.sock, target: /var/run/docker.sock}
      - {type: bind, source: /data/stacks/agent/conf, target: /conf, read_only: true}
      - {type: bind, source: /data/stacks/agent/cache, target: /cache}
      - {type: bind, source: /data/stacks/agent/../other, target: /other}
      - {type: volume, source: cache, target: /cache}
    volumes_from: ["container:db", "sidecar"]
volumes:
  hostdir:
    driver_opts: {type: none, o: rbind, device: /srv/data}
"#;

    #[test]
    fn no_policy_refuses_nothing() {
        assert_eq!(problems("", POWERFUL), Vec::<String>::new());
    }

    #[test]
    fn deny_privileged_names_each_field() {
        assert_eq!(
            problems("deny-privileged", POWERFUL),
            vec![
                "service 'agent': privileged: true is refused by POLICY deny-privileged",
                "service 'agent': network_mode: host is refused by POLICY deny-privileged",
                "service 'agent': pid: host is refused by POLICY deny-privileged",
                "service 'agent': cap_add: CAP_SYS_ADMIN is refused by POLICY deny-privileged",
                "service 'agent': devices: /dev/sda is refused by POLICY deny-privileged",
            ]
        );
    }

    #[test]
    fn deny_host_mounts_names_host_paths_the_socket_and_borrowed_volumes() {
        assert_eq!(
            problems("deny-host-mounts", POWERFUL),
            vec![
                "service 'agent': volume '/' is refused by POLICY deny-host-mounts",
                "service 'agent': volume '/var/run/docker.sock' is refused by POLICY deny-host-mounts",
                "service 'agent': volume '/data/stacks/agent/cache' writable (a bind of the stack folder must be read-only) is refused by POLICY deny-host-mounts",
                "service 'agent': volume '/data/stacks/agent/../other' is refused by POLICY deny-host-mounts",
                "service 'agent': volumes_from: container:db is refused by POLICY deny-host-mounts",
                "volumes.hostdir binds '/srv/data', refused by POLICY deny-host-mounts",
            ]
        );
    }

    #[test]
    fn compose_v1_short_syntax_and_string_booleans_count_too() {
        let v1 =
            "services:\n  a:\n    privileged: 'yes'\n    volumes: ['/etc:/e:rw', 'cache:/c:rw']\n";
        assert_eq!(problems("deny-privileged,deny-host-mounts", v1).len(), 2);
    }

    #[test]
    fn an_external_network_named_host_is_the_hosts_network() {
        let yaml = "services:\n  a: {networks: [outside, plain]}\n  b: {networks: {host: null}}\nnetworks:\n  outside: {external: true, name: host}\n  plain: {}\n  host: {external: true}\n";
        assert_eq!(
            problems("deny-privileged", yaml),
            vec![
                "service 'a': networks: outside (the host's network) is refused by POLICY deny-privileged",
                "service 'b': networks: host (the host's network) is refused by POLICY deny-privileged",
            ]
        );
    }

    #[rstest]
    #[case("nginx:1.27", "docker.io")]
    #[case("library/nginx", "docker.io")]
    #[case("ghcr.io/acme/agent:1", "ghcr.io")]
    #[case("localhost/x", "localhost")]
    #[case("registry:5000/x", "registry:5000")]
    fn registry_of_an_image(#[case] image: &str, #[case] expected: &str) {
        assert_eq!(registry(image), expected);
    }

    #[test]
    fn allowed_registries_refuses_others() {
        assert_eq!(
            problems("allowed-registries=ghcr.io;docker.io", POWERFUL),
            Vec::<String>::new()
        );
        assert_eq!(
            problems("allowed-registries=registry.example.com", POWERFUL),
            vec![
                "service 'agent': image 'ghcr.io/acme/agent:1' (registry ghcr.io) is refused by POLICY allowed-registries"
            ]
        );
    }

    #[rstest]
    #[case("deny-privileged,deny-host-mounts,allowed-registries=a.io;b.io")]
    #[case("")]
    fn parses_and_prints_the_same(#[case] text: &str) {
        let policy: Policy = text.parse().expect("valid policy");
        assert_eq!(policy.to_string(), text);
    }

    #[rstest]
    #[case("deny-everything")]
    #[case("allowed-registries=")]
    #[case("deny-privileged=yes")]
    fn refuses_unknown_rules(#[case] text: &str) {
        assert!(text.parse::<Policy>().is_err(), "{text}");
    }
}
