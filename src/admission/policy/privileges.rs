//! `deny-privileged`: the fields of a resolved service that give it power over
//! the host, or make compose run something on it.

use serde_json::Value;

/// Capabilities a container may add under `deny-privileged`: Docker's default
/// set and those that act only inside the container's own namespaces. Any
/// other (`SYS_ADMIN`, `DAC_READ_SEARCH` whose `open_by_handle_at` reads host
/// files, `SYS_TIME` that sets the host's clock, `BPF`, …) is refused.
const HARMLESS_CAPABILITIES: [&str; 25] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
    "NET_ADMIN",
    "NET_BROADCAST",
    "SYS_NICE",
    "SYS_RESOURCE",
    "IPC_LOCK",
    "IPC_OWNER",
    "LEASE",
    "AUDIT_READ",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
];

/// The fields of a resolved service that give it power over the host, as
/// `field: value`. Also what a `+` plan lists for a new service.
pub fn privileges(service: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(provider) = service.get("provider") {
        // Compose runs the provider's program on the host, as docker-cd's user.
        let program = provider.get("type").and_then(Value::as_str).unwrap_or("");
        found.push(format!("provider: {program}"));
    }
    if let Some(models) = service.get("models").filter(|m| !is_empty(m)) {
        // Models are started by a Docker CLI plugin on the host.
        found.push(format!("models: {}", names(models)));
    }
    if service.get("privileged").is_some_and(truthy) {
        found.push("privileged: true".to_string());
    }
    for field in ["network_mode", "pid", "ipc", "userns_mode", "uts", "cgroup"] {
        let Some(mode) = service.get(field).and_then(Value::as_str) else {
            continue;
        };
        // `container:<name>` joins any container of the host: another
        // instance's, another stack's, docker-cd's own.
        if mode == "host" || mode.starts_with("container:") {
            found.push(format!("{field}: {mode}"));
        }
    }
    for cap in texts(service.get("cap_add")) {
        let bare = cap.trim().to_ascii_uppercase();
        let bare = bare.strip_prefix("CAP_").unwrap_or(&bare);
        if !HARMLESS_CAPABILITIES.contains(&bare) {
            found.push(format!("cap_add: {cap}"));
        }
    }
    for device in service
        .get("devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let shown = device
            .as_str()
            .or_else(|| device.get("source").and_then(Value::as_str))
            .map_or_else(|| device.to_string(), str::to_string);
        found.push(format!("devices: {shown}"));
    }
    for rule in texts(service.get("device_cgroup_rules")) {
        found.push(format!("device_cgroup_rules: {rule}"));
    }
    if service.get("gpus").is_some_and(|g| !is_empty(g)) {
        found.push("gpus: requested".to_string());
    }
    let reserved = service.pointer("/deploy/resources/reservations/devices");
    if reserved.is_some_and(|d| !is_empty(d)) {
        found.push("deploy.resources.reservations.devices: requested".to_string());
    }
    for option in texts(service.get("security_opt")) {
        if !harmless_security_opt(option) {
            found.push(format!("security_opt: {option}"));
        }
    }
    found.extend(build_privileges(service.get("build")));
    for hook in ["post_start", "pre_stop"] {
        let entries = service.get(hook).and_then(Value::as_array);
        // A privileged hook is an exec with every capability and no seccomp.
        if entries
            .into_iter()
            .flatten()
            .any(|h| h.get("privileged").is_some_and(truthy))
        {
            found.push(format!("{hook}: privileged"));
        }
    }
    found
}

/// A build that runs privileged or on the host's network.
fn build_privileges(build: Option<&Value>) -> Vec<String> {
    let Some(build) = build.filter(|b| b.is_object()) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if build.get("privileged").is_some_and(truthy) {
        found.push("build.privileged: true".to_string());
    }
    let network = build.get("network").and_then(Value::as_str);
    if network.is_some_and(|n| n.eq_ignore_ascii_case("host")) {
        found.push("build.network: host".to_string());
    }
    for entitlement in texts(build.get("entitlements")) {
        found.push(format!("build.entitlements: {entitlement}"));
    }
    found
}

/// `security_opt` entries that confine no less than Docker's defaults: a
/// named AppArmor profile the host loaded, SELinux user/role/level,
/// no-new-privileges.
fn harmless_security_opt(option: &str) -> bool {
    let (key, value) = option
        .split_once(['=', ':'])
        .map_or((option, ""), |(k, v)| (k, v));
    match key.trim().to_ascii_lowercase().as_str() {
        "no-new-privileges" => true,
        // Any value, `default` too, names a profile file compose reads from
        // the stack folder (only `unconfined` is special), and a profile
        // file can allow every syscall: Docker's own profile needs no option.
        "seccomp" => false,
        "apparmor" => value != "unconfined",
        "label" => ["user:", "role:", "level:"]
            .iter()
            .any(|kind| value.starts_with(kind)),
        _ => false,
    }
}

/// A YAML 1.1 boolean that is true (compose v1 keeps them as strings).
fn truthy(value: &Value) -> bool {
    value.as_bool() == Some(true)
        || value
            .as_str()
            .is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"))
}

/// The strings of a list field.
fn texts(value: Option<&Value>) -> impl Iterator<Item = &str> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// The names of a list or map field, comma-separated.
fn names(value: &Value) -> String {
    match value {
        Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(","),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::compose::file::parse_document;

    fn of(yaml: &str) -> Vec<String> {
        privileges(&parse_document(yaml.as_bytes()).expect("test yaml parses"))
    }

    #[rstest]
    #[case("provider: {type: ./evil.sh, options: {x: y}}", "provider: ./evil.sh")]
    #[case("models: {llm: null}", "models: llm")]
    #[case("pid: 'container:docker-cd'", "pid: container:docker-cd")]
    #[case("ipc: 'container:db'", "ipc: container:db")]
    #[case("network_mode: 'container:other'", "network_mode: container:other")]
    #[case("cap_add: [DAC_READ_SEARCH]", "cap_add: DAC_READ_SEARCH")]
    #[case("cap_add: [cap_sys_time]", "cap_add: cap_sys_time")]
    #[case("device_cgroup_rules: ['c 1:3 mr']", "device_cgroup_rules: c 1:3 mr")]
    #[case("gpus: [{count: -1}]", "gpus: requested")]
    #[case(
        "deploy: {resources: {reservations: {devices: [{capabilities: [gpu]}]}}}",
        "deploy.resources.reservations.devices: requested"
    )]
    #[case(
        "security_opt: ['seccomp=./allow-all.json']",
        "security_opt: seccomp=./allow-all.json"
    )]
    #[case(
        "security_opt: ['seccomp:unconfined']",
        "security_opt: seccomp:unconfined"
    )]
    #[case("security_opt: ['label=disable']", "security_opt: label=disable")]
    #[case("security_opt: ['label:type:spc_t']", "security_opt: label:type:spc_t")]
    #[case(
        "security_opt: ['apparmor=unconfined']",
        "security_opt: apparmor=unconfined"
    )]
    #[case(
        "security_opt: ['systempaths=unconfined']",
        "security_opt: systempaths=unconfined"
    )]
    #[case("build: {context: ., privileged: true}", "build.privileged: true")]
    #[case("build: {context: ., network: host}", "build.network: host")]
    #[case(
        "build: {context: ., entitlements: [security.insecure]}",
        "build.entitlements: security.insecure"
    )]
    fn each_way_to_the_host_is_named(#[case] yaml: &str, #[case] expected: &str) {
        assert_eq!(of(yaml), vec![expected.to_string()]);
    }

    #[rstest]
    #[case("cap_add: [NET_ADMIN, CAP_NET_BIND_SERVICE, SYS_NICE]")]
    #[case("pid: 'service:web'")]
    #[case("network_mode: bridge")]
    #[case(
        "security_opt: ['no-new-privileges:true', 'apparmor=docker-default', 'label=level:s0:c100']"
    )]
    #[case("post_start: [{command: [sh]}]")]
    #[case("build: {context: ., network: default}")]
    #[case("models: {}")]
    fn what_stays_in_the_container_passes(#[case] yaml: &str) {
        assert_eq!(of(yaml), Vec::<String>::new());
    }
}
