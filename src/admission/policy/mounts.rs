//! `deny-host-mounts`: what of the host's files and devices a resolved model
//! would mount.

use std::path::Path;

use serde_json::{Map, Value};

use crate::admission::on_disk::within;
use crate::stack::model::{VolumeSource, volume_source};

/// Filesystem types a local-driver volume may mount: memory, and network
/// shares (their `device` names a server, not the host).
const HARMLESS_TYPES: [&str; 5] = ["tmpfs", "nfs", "nfs4", "cifs", "smb3"];

/// Bind mounts from outside the stack's working folder (the Docker socket
/// among them), writable binds of the folder itself, and volumes borrowed
/// from another container.
///
/// A writable bind of the folder would let a container plant a link there
/// after docker-cd looked, which a service started later follows to any host
/// path (Docker resolves a bind's source when the container starts). The
/// folder is replaced at every apply, so such a bind never kept data anyway.
pub(super) fn host_mounts(service: &Value, workdir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (source, read_only) in binds(service) {
        if !within(workdir, source) || source.trim_end_matches('/').ends_with("docker.sock") {
            found.push(format!("volume '{source}'"));
        } else if !read_only {
            found.push(format!(
                "volume '{source}' writable (a bind of the stack folder must be read-only)"
            ));
        }
    }
    let borrowed = service.get("volumes_from").and_then(Value::as_array);
    for from in borrowed.into_iter().flatten().filter_map(Value::as_str) {
        if from.starts_with("container:") {
            found.push(format!("volumes_from: {from}"));
        }
    }
    found
}

/// Every bind of a resolved service, with whether it is read-only: long
/// syntax (compose v2: `read_only`) or `source:target:mode` strings with an
/// absolute source (compose v1: `ro` among the modes).
fn binds(service: &Value) -> Vec<(&str, bool)> {
    let volumes = service.get("volumes").and_then(Value::as_array);
    volumes
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let read_only = match entry {
                Value::String(short) => short
                    .splitn(3, ':')
                    .nth(2)
                    .is_some_and(|modes| modes.split(',').any(|m| m == "ro")),
                long => long.get("read_only").and_then(Value::as_bool) == Some(true),
            };
            match volume_source(entry)? {
                VolumeSource::Short(source) => Some(source)
                    .filter(|s| s.starts_with('/'))
                    .map(|s| (s, read_only)),
                VolumeSource::Bind(source) => Some((source, read_only)),
            }
        })
        .collect()
}

/// Top-level volumes whose driver would mount a host folder or device, and
/// volumes the stack did not create (`external`, or `name`d outside its
/// project: an existing volume may bind any host folder, or hold another
/// stack's data), each worded for the stack's error. `project` is the
/// stack's compose project.
pub(super) fn host_volumes(config: &Value, project: &str) -> Vec<String> {
    let volumes = config.get("volumes").and_then(Value::as_object);
    volumes
        .into_iter()
        .flatten()
        .filter_map(|(key, volume)| {
            let why = not_own(key, volume, project).or_else(|| {
                let options = volume.get("driver_opts")?.as_object()?;
                match volume.get("driver").and_then(Value::as_str) {
                    None | Some("local") => local_mount(options),
                    Some(_) => plugin_path(options),
                }
            })?;
            Some(format!(
                "volumes.{key} {why}, refused by POLICY deny-host-mounts"
            ))
        })
        .collect()
}

/// Why the volume `key` is not one the stack creates for itself.
fn not_own(key: &str, volume: &Value, project: &str) -> Option<String> {
    let external = volume.get("external").is_some_and(|e| {
        e.as_bool() == Some(true) || e.get("name").is_some() || e.as_str() == Some("true")
    });
    if external {
        return Some("is external (a volume the stack did not create)".to_string());
    }
    let name = volume.get("name").and_then(Value::as_str)?;
    (name != format!("{project}_{key}"))
        .then(|| format!("is named '{name}' (a volume outside the stack's own)"))
}

/// Why an existing volume named like one of the stack's own (`<project>_<key>`)
/// may not be mounted: it was not created for this compose project (by hand,
/// or by a project of the same name that is gone), or it mounts the host.
/// Compose takes any volume of that name as the stack's, whatever it holds.
pub(super) fn existing_volume(
    name: &str,
    driver: &str,
    labels: &std::collections::HashMap<String, String>,
    options: &std::collections::HashMap<String, String>,
    project: &str,
) -> Option<String> {
    let owner = labels
        .get(crate::labels::COMPOSE_PROJECT)
        .map(String::as_str);
    // Another project's own volume, named for it by compose (stack `web_api`'s
    // `data` is `web_api_data`, which starts like `web`'s): not this stack's.
    if owner.is_some_and(|o| o != project && name.starts_with(&format!("{o}_"))) {
        return None;
    }
    if owner != Some(project) {
        return Some(format!(
            "volume '{name}' exists and was not created by this stack (compose project {})",
            owner.map_or_else(|| "none".to_string(), |o| format!("'{o}'"))
        ));
    }
    let options: Map<String, Value> = options
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    let why = match driver {
        "" | "local" => local_mount(&options),
        _ => plugin_path(&options),
    }?;
    Some(format!("volume '{name}' {why}"))
}

/// What the local driver's `mount(2)` would take from the host: a bind, a
/// device or folder as `device`, a filesystem type that mounts one (`ext4`,
/// `overlay`, …), or a host path among the mount options (`lowerdir=/etc`).
fn local_mount(options: &Map<String, Value>) -> Option<String> {
    let text = |key: &str| options.get(key).and_then(Value::as_str).unwrap_or("");
    let (kind, device) = (text("type").to_ascii_lowercase(), text("device"));
    let flags: Vec<&str> = text("o").split(',').map(str::trim).collect();
    if flags.iter().any(|flag| matches!(*flag, "bind" | "rbind")) {
        return Some(format!("binds '{device}'"));
    }
    if !kind.is_empty() && !HARMLESS_TYPES.contains(&kind.as_str()) {
        return Some(format!("mounts '{device}' as {kind}"));
    }
    if kind != "tmpfs" && host_path(device) {
        return Some(format!("mounts '{device}'"));
    }
    let named = flags.iter().find(|flag| {
        flag.split_once('=')
            .is_some_and(|(_, value)| value.split(':').any(host_path))
    });
    named.map(|flag| format!("names the host path in '{flag}'"))
}

/// A volume plugin's option that names a host path (`mountpoint: /`).
fn plugin_path(options: &Map<String, Value>) -> Option<String> {
    options.iter().find_map(|(key, value)| {
        let value = value.as_str()?;
        host_path(value).then(|| format!("names the host path '{value}' in driver_opts.{key}"))
    })
}

/// An absolute path of the host; `//server/share` names a network share.
fn host_path(text: &str) -> bool {
    text.starts_with('/') && !text.starts_with("//")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::compose::file::parse_document;

    fn refused(volume: &str) -> Vec<String> {
        let yaml = format!("volumes:\n  v: {volume}\n");
        host_volumes(
            &parse_document(yaml.as_bytes()).expect("test yaml parses"),
            "web",
        )
    }

    #[rstest]
    #[case(
        "{driver_opts: {type: ext4, device: /dev/vda}}",
        "volumes.v mounts '/dev/vda' as ext4"
    )]
    #[case(
        "{driver: local, driver_opts: {type: overlay, device: overlay, o: 'lowerdir=/etc,upperdir=/u,workdir=/w'}}",
        "volumes.v mounts 'overlay' as overlay"
    )]
    #[case(
        "{driver_opts: {type: none, o: bind, device: /srv}}",
        "volumes.v binds '/srv'"
    )]
    #[case("{driver_opts: {device: /dev/sda1}}", "volumes.v mounts '/dev/sda1'")]
    #[case(
        "{driver_opts: {type: nfs, o: 'addr=10.0.0.1,lowerdir=/etc', device: ':/x'}}",
        "volumes.v names the host path in 'lowerdir=/etc'"
    )]
    #[case(
        "{driver: local-persist, driver_opts: {mountpoint: /}}",
        "volumes.v names the host path '/' in driver_opts.mountpoint"
    )]
    #[case(
        "{external: true}",
        "volumes.v is external (a volume the stack did not create)"
    )]
    #[case(
        "{external: true, name: other}",
        "volumes.v is external (a volume the stack did not create)"
    )]
    #[case(
        "{name: other_data}",
        "volumes.v is named 'other_data' (a volume outside the stack's own)"
    )]
    fn host_devices_and_folders_are_refused(#[case] volume: &str, #[case] expected: &str) {
        assert_eq!(
            refused(volume),
            vec![format!("{expected}, refused by POLICY deny-host-mounts")]
        );
    }

    #[test]
    fn an_existing_volume_of_the_stack_s_name_must_be_its_own_and_harmless() {
        use std::collections::HashMap;
        let labels = |project: &str| {
            HashMap::from([(
                "com.docker.compose.project".to_string(),
                project.to_string(),
            )])
        };
        let bind = HashMap::from([
            ("type".to_string(), "none".to_string()),
            ("o".to_string(), "bind".to_string()),
            ("device".to_string(), "/root".to_string()),
        ]);
        let none = HashMap::new();
        assert_eq!(
            existing_volume("web_data", "local", &labels("web"), &none, "web"),
            None
        );
        assert_eq!(
            existing_volume("web_data", "local", &HashMap::new(), &none, "web").as_deref(),
            Some(
                "volume 'web_data' exists and was not created by this stack (compose project none)"
            )
        );
        assert_eq!(
            existing_volume("web_data", "local", &labels("other"), &none, "web").as_deref(),
            Some(
                "volume 'web_data' exists and was not created by this stack (compose project 'other')"
            )
        );
        // Stack `web_api`'s own volume only starts like `web`'s.
        assert_eq!(
            existing_volume("web_api_data", "local", &labels("web_api"), &bind, "web"),
            None
        );
        assert_eq!(
            existing_volume("web_data", "local", &labels("web"), &bind, "web").as_deref(),
            Some("volume 'web_data' binds '/root'")
        );
    }

    #[rstest]
    #[case("{driver_opts: {type: tmpfs, device: tmpfs, o: 'size=100m,uid=1000'}}")]
    #[case("{driver_opts: {type: nfs, o: 'addr=10.0.0.1,rw', device: ':/export/data'}}")]
    #[case("{driver_opts: {type: cifs, o: 'username=u', device: '//server/share'}}")]
    #[case("{driver: local}")]
    #[case("{name: web_v}")]
    fn memory_and_network_shares_pass(#[case] volume: &str) {
        assert_eq!(refused(volume), Vec::<String>::new());
    }
}
