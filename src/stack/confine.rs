//! Files compose reads or mounts on a stack's behalf must be the stack's own:
//! `env_file`, `label_file`, build contexts and Dockerfiles, relative bind
//! sources, and the files of `secrets` and `configs`.
//!
//! Absolute bind sources are host mounts, not reads by docker-cd; `POLICY`
//! decides about those (see `policy.rs`).

use std::borrow::Cow;

use serde_json::Value;

use super::model::{Document, confined, inside, strings};
use crate::compose::interpolate::Variables;

/// Every path of `document` that leaves the stack folder, worded for the stack's error.
pub fn check(document: &Document, vars: &Variables) -> Vec<String> {
    let mut problems = Vec::new();
    let base = document.base();
    let leaves = |service: Option<&str>, field: &str, raw: &str| {
        let why = confined(base, raw, vars).err()?;
        Some(document.problem(service, format!("{field} {why}")))
    };
    for (name, service) in document.services() {
        let name = Some(name.as_str());
        for field in ["env_file", "label_file"] {
            for raw in service.get(field).map(strings).unwrap_or_default() {
                problems.extend(leaves(name, field, raw));
            }
        }
        for (field, raw) in build_paths(service.get("build")) {
            problems.extend(leaves(name, field, &raw));
        }
        for source in bind_sources(service, vars) {
            let relative = match source {
                Ok(source) if source.starts_with(['/', '~']) => continue,
                Ok(source) => inside(base, &source).ok_or(source),
                Err(why) => Err(why),
            };
            if let Err(why) = relative {
                problems.push(
                    document.problem(name, format!("volume '{why}' is outside the stack folder")),
                );
            }
        }
    }
    for section in ["secrets", "configs"] {
        let entries = document.value.get(section).and_then(Value::as_object);
        for (name, entry) in entries.into_iter().flatten() {
            if let Some(raw) = entry.get("file").and_then(Value::as_str) {
                problems.extend(leaves(None, &format!("{section}.{name}.file"), raw));
            }
        }
    }
    problems
}

/// The local paths of a `build` section: its context, its Dockerfile, and
/// additional contexts that are folders. Remote contexts (Git or HTTP URLs) and
/// image references are not paths.
fn build_paths(build: Option<&Value>) -> Vec<(&'static str, Cow<'_, str>)> {
    let remote = |s: &str| s.contains("://") || s.starts_with("git@");
    let mut paths = Vec::new();
    match build {
        Some(Value::String(context)) if !remote(context) => {
            paths.push(("build", Cow::Borrowed(context.as_str())));
        }
        Some(Value::Object(build)) => {
            let context = build.get("context").and_then(Value::as_str).unwrap_or(".");
            if !remote(context) {
                paths.push(("build.context", Cow::Borrowed(context)));
                if let Some(file) = build.get("dockerfile").and_then(Value::as_str) {
                    // A relative Dockerfile is found from its context.
                    let file = if file.starts_with(['/', '~']) {
                        Cow::Borrowed(file)
                    } else {
                        Cow::Owned(format!("{context}/{file}"))
                    };
                    paths.push(("build.dockerfile", file));
                }
            }
            let extra = build.get("additional_contexts").and_then(Value::as_object);
            for value in extra.into_iter().flatten().filter_map(|(_, v)| v.as_str()) {
                if !(value.starts_with("service:") || remote(value)) {
                    paths.push(("build.additional_contexts", Cow::Borrowed(value)));
                }
            }
        }
        _ => {}
    }
    paths
}

/// Every bind source of a service's `volumes`, interpolated (`Err` when its
/// variables fail). Short syntax is interpolated whole before it is split, as
/// `${DIR:-.}/data:/data` holds colons of its own.
pub fn bind_sources(service: &Value, vars: &Variables) -> Vec<Result<String, String>> {
    let volumes = service.get("volumes").and_then(Value::as_array);
    volumes
        .into_iter()
        .flatten()
        .filter_map(|volume| match volume {
            Value::String(short) => match vars.interpolate(short) {
                Ok(short) => {
                    let (source, _) = short.split_once(':')?;
                    let path = source.starts_with(['.', '/', '~']);
                    path.then(|| Ok(source.to_string()))
                }
                Err(why) => Some(Err(why)),
            },
            Value::Object(long) => {
                let bind = long.get("type").and_then(Value::as_str) == Some("bind");
                let source = long.get("source").and_then(Value::as_str);
                bind.then(|| source.map(|s| vars.interpolate(s))).flatten()
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::file::parse_document;
    use crate::stack::model::Reached;

    fn problems(path: &str, yaml: &str) -> Vec<String> {
        let document = Document {
            path: path.into(),
            reached: Reached::Main,
            value: parse_document(yaml.as_bytes()).expect("test yaml parses"),
        };
        check(
            &document,
            &Variables::only_dotenv(b"OUT=../../tmp\nIN=conf\n"),
        )
    }

    #[test]
    fn paths_inside_the_stack_folder_pass() {
        let yaml = r#"
services:
  web:
    env_file: [.env, {path: conf/web.env, required: false}]
    label_file: ./labels
    build: {context: ./app, dockerfile: Dockerfile.prod, additional_contexts: {base: "docker-image://alpine", src: ./src}}
    volumes: ["./data:/data", "${IN}/x:/x:ro", "${UNSET:-.}/dags:/dags", "${UNSET:-/media}:/m", "named:/n", "/srv/host:/h", {type: bind, source: ./c, target: /c}]
  remote:
    build: https://github.com/example/app.git#main
secrets:
  s: {file: ./secret.txt}
  e: {environment: TOKEN}
configs:
  c: {file: conf/app.conf}
"#;
        assert_eq!(problems("compose.yaml", yaml), Vec::<String>::new());
    }

    #[test]
    fn every_path_leaving_the_folder_is_named() {
        let yaml = r#"
services:
  web:
    env_file: ../../../../../../../../tmp/outside/host.env
    build: {context: ., dockerfile: /etc/Dockerfile}
    volumes: ["${OUT}/x:/x", {type: bind, source: ../up, target: /u}]
  worker:
    build: ../outside
secrets:
  s: {file: /run/host-secret}
configs:
  c: {file: ../c.conf}
"#;
        assert_eq!(
            problems("compose.yaml", yaml),
            vec![
                "compose.yaml: service 'web': env_file '../../../../../../../../tmp/outside/host.env' is outside the stack folder",
                "compose.yaml: service 'web': build.dockerfile '/etc/Dockerfile' is outside the stack folder",
                "compose.yaml: service 'web': volume '../../tmp/x' is outside the stack folder",
                "compose.yaml: service 'web': volume '../up' is outside the stack folder",
                "compose.yaml: service 'worker': build '../outside' is outside the stack folder",
                "compose.yaml: secrets.s.file '/run/host-secret' is outside the stack folder",
                "compose.yaml: configs.c.file '../c.conf' is outside the stack folder",
            ]
        );
    }

    #[test]
    fn a_file_in_a_sub_folder_starts_from_its_folder() {
        let yaml = "services:\n  inc:\n    env_file: ../top.env\n    volumes: ['../../x:/x']\n";
        assert_eq!(
            problems("sub/compose.yaml", yaml),
            vec!["sub/compose.yaml: service 'inc': volume '../../x' is outside the stack folder"]
        );
    }
}
