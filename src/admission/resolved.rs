//! The last look before an apply: the stack's model as compose resolved it
//! (`compose config`: variables interpolated from the environment and `.env`,
//! includes and extends merged, paths absolute) is checked for what compose
//! would take from the host. docker-cd's labels are added to the admitted
//! model afterwards, on every service it holds (`compose::overlay`).

use std::path::Path;

use serde_json::Value;

use super::on_disk::within;
use super::policy::{Policy, services};

/// Why the resolved model of a stack may not be applied, worded for its error;
/// `Ok` when it may. `workdir` is the stack's working folder (compose's paths
/// point into it).
///
/// # Errors
/// Every problem found, joined with `; `.
pub fn admit(config: &Value, workdir: &Path, policy: &Policy) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut must_stay = |service: Option<&str>, field: &str, path: &str| {
        if !within(workdir, path) {
            let what = format!("{field} '{path}' is outside the stack folder");
            problems.push(match service {
                Some(service) => format!("service '{service}': {what}"),
                None => what,
            });
        }
    };
    for (name, service) in services(config) {
        for (field, path) in build_paths(service.get("build")) {
            must_stay(Some(name), field, &path);
        }
    }
    for section in ["secrets", "configs"] {
        let entries = config.get(section).and_then(Value::as_object);
        for (name, entry) in entries.into_iter().flatten() {
            if let Some(path) = entry.get("file").and_then(Value::as_str) {
                must_stay(None, &format!("{section}.{name}.file"), path);
            }
        }
    }
    problems.extend(policy.check(config, workdir));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The local paths of a resolved `build`: its context, its Dockerfile, and
/// additional contexts that are folders. Remote contexts (Git or HTTP URLs)
/// and image or service references are not paths.
fn build_paths(build: Option<&Value>) -> Vec<(&'static str, String)> {
    let remote = |s: &str| s.contains("://") || s.starts_with("git@");
    let (context, dockerfile, extra, ssh) = match build {
        Some(Value::String(context)) => (context.as_str(), None, None, None),
        Some(Value::Object(build)) => (
            build.get("context").and_then(Value::as_str).unwrap_or("."),
            build.get("dockerfile").and_then(Value::as_str),
            build.get("additional_contexts").and_then(Value::as_object),
            build.get("ssh").and_then(Value::as_array),
        ),
        _ => return Vec::new(),
    };
    let mut paths = Vec::new();
    // `id: /path/to/key` (as compose prints `id=path`): a key file compose
    // reads to hand to the build; `default` is the agent, not a file.
    for key in ssh.into_iter().flatten().filter_map(Value::as_str) {
        if let Some((_, path)) = key.split_once([':', '=']) {
            paths.push(("build ssh", path.trim().to_string()));
        }
    }
    if !remote(context) {
        paths.push(("build context", context.to_string()));
        if let Some(file) = dockerfile {
            // A relative Dockerfile is found from its context.
            let file = if file.starts_with('/') {
                file.to_string()
            } else {
                format!("{context}/{file}")
            };
            paths.push(("build dockerfile", file));
        }
    }
    for value in extra.into_iter().flatten().filter_map(|(_, v)| v.as_str()) {
        if !(value.starts_with("service:") || remote(value)) {
            paths.push(("build additional_contexts", value.to_string()));
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::file::parse_document;

    const WORKDIR: &str = "/data/stacks/web";

    fn admitted(yaml: &str) -> Result<(), String> {
        let config = parse_document(yaml.as_bytes()).expect("test yaml parses");
        admit(&config, Path::new(WORKDIR), &Policy::default())
    }

    #[test]
    fn the_stacks_own_files_and_remote_contexts_pass() {
        let yaml = r#"
services:
  web:
    build: {context: /data/stacks/web/app, dockerfile: Dockerfile, additional_contexts: {base: "docker-image://alpine", src: /data/stacks/web/src}}
    labels: {io.docker-cd.managed: "true", io.docker-cd.instance: me}
  remote:
    build: {context: "https://github.com/example/app.git#main"}
    labels: {io.docker-cd.managed: "true", io.docker-cd.instance: me}
secrets:
  s: {file: /data/stacks/web/secret.txt}
"#;
        assert_eq!(admitted(yaml), Ok(()));
    }

    #[test]
    fn what_compose_resolved_outside_the_folder_is_named() {
        let yaml = r#"
services:
  web:
    build: {context: /data/stacks/web, dockerfile: ../../../etc/Dockerfile, ssh: ["k: /root/.ssh/id_rsa", default, "in: /data/stacks/web/key"]}
  job:
    build: /tmp/outside
secrets:
  s: {file: /run/host-secret}
configs:
  c: {file: /data/stacks/web/../c.conf}
"#;
        assert_eq!(
            admitted(yaml),
            Err([
                "service 'job': build context '/tmp/outside' is outside the stack folder",
                "service 'web': build ssh '/root/.ssh/id_rsa' is outside the stack folder",
                "service 'web': build dockerfile '/data/stacks/web/../../../etc/Dockerfile' is outside the stack folder",
                "secrets.s.file '/run/host-secret' is outside the stack folder",
                "configs.c.file '/data/stacks/web/../c.conf' is outside the stack folder",
            ]
            .join("; "))
        );
    }
}
