//! The compose documents a stack's compose file reaches through `include` and
//! `extends.file`, read from the stack's own files only.
//!
//! Compose would follow these to any path on the host; docker-cd follows them
//! within the stack folder and reports every other path as a problem, so nothing
//! outside the repository is ever read.

use std::sync::Arc;

use serde_json::Value;

use super::discover::paths::{parent, resolve_relative};
use crate::compose::file::parse_document;
use crate::compose::interpolate::Variables;

/// At most this many files per stack: a bound on include chains.
const MAX_DOCUMENTS: usize = 32;

/// How a document was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The stack's compose file.
    Main,
    /// Through `include`: its services are the stack's services.
    Included,
    /// Through `extends.file`: its services are templates.
    Extended,
}

/// One compose file of the stack.
#[derive(Debug)]
pub struct Document {
    /// Path relative to the stack folder.
    pub path: String,
    /// How it was reached.
    pub reached: Reached,
    /// Its parsed content.
    pub value: Value,
}

impl Document {
    /// The folder its relative paths start from, relative to the stack folder.
    pub fn base(&self) -> &str {
        parent(&self.path)
    }

    /// Its services, by name.
    pub fn services(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.value
            .get("services")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
    }

    /// A problem found in this file, worded for the stack's error.
    pub fn problem(&self, service: Option<&str>, what: impl std::fmt::Display) -> String {
        match service {
            Some(service) => format!("{}: service '{service}': {what}", self.path),
            None => format!("{}: {what}", self.path),
        }
    }
}

/// Every document the compose file reaches, and the problems found on the way.
#[derive(Debug, Default)]
pub struct Model {
    /// The compose file first, then what it reaches.
    pub documents: Vec<Document>,
    /// Why a reference could not be followed.
    pub problems: Vec<String>,
}

/// Reads a file of the stack by its path relative to the stack folder.
pub type ReadFile<'a> = dyn Fn(&str) -> Result<Arc<[u8]>, String> + 'a;

/// Follows `include` and `extends.file` from the compose file `main` (already
/// parsed, named `path`), reading only through `read`.
pub fn load(path: &str, main: Value, read: &ReadFile<'_>, vars: &Variables) -> Model {
    let mut model = Model::default();
    let mut pending = vec![Document {
        path: path.to_string(),
        reached: Reached::Main,
        value: main,
    }];
    while let Some(document) = pending.pop() {
        for (reached, target) in references(&document, vars, &mut model.problems) {
            let known = model
                .documents
                .iter()
                .chain(&pending)
                .any(|d| d.path == target)
                || document.path == target;
            if known {
                continue;
            }
            if model.documents.len() + pending.len() >= MAX_DOCUMENTS {
                model.problems.push(document.problem(
                    None,
                    format!("more than {MAX_DOCUMENTS} compose files are included"),
                ));
                break;
            }
            match read(&target).and_then(|bytes| parse_document(&bytes)) {
                Ok(value) => pending.push(Document {
                    path: target,
                    reached,
                    value,
                }),
                Err(why) => model
                    .problems
                    .push(document.problem(None, format!("'{target}': {why}"))),
            }
        }
        model.documents.push(document);
    }
    model
}

/// The files `document` includes or extends, as paths inside the stack folder;
/// a path outside it is a problem, never read.
fn references(
    document: &Document,
    vars: &Variables,
    problems: &mut Vec<String>,
) -> Vec<(Reached, String)> {
    let mut found = Vec::new();
    let mut check = |service: Option<&str>, field: &str, raw: &str| {
        confined(document.base(), raw, vars)
            .map_err(|why| problems.push(document.problem(service, format!("{field} {why}"))))
            .ok()
    };
    for entry in document
        .value
        .get("include")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let paths = entry.get("path").unwrap_or(entry);
        for raw in strings(paths) {
            found.extend(check(None, "include", raw).map(|p| (Reached::Included, p)));
        }
        for field in ["env_file", "project_directory"] {
            for raw in entry.get(field).map(strings).unwrap_or_default() {
                check(None, &format!("include {field}"), raw);
            }
        }
    }
    for (name, service) in document.services() {
        if let Some(file) = service.pointer("/extends/file").and_then(Value::as_str) {
            let path = check(Some(name), "extends.file", file);
            found.extend(path.map(|p| (Reached::Extended, p)));
        }
    }
    found
}

/// `raw` (a path written in a file of the folder `base`), interpolated and made
/// relative to the stack folder.
///
/// # Errors
/// Why it cannot be used: it leaves the stack folder, or its variables fail.
pub fn confined(base: &str, raw: &str, vars: &Variables) -> Result<String, String> {
    let path = vars.interpolate(raw)?;
    inside(base, &path).ok_or_else(|| format!("'{path}' is outside the stack folder"))
}

/// `path`, written in the folder `base`, relative to the stack folder; `None`
/// when it is absolute, starts at a home folder, or climbs out with `..`.
pub fn inside(base: &str, path: &str) -> Option<String> {
    let drive = path.as_bytes().get(1) == Some(&b':') && path.as_bytes()[0].is_ascii_alphabetic();
    if drive || path.starts_with(['\\', '~']) {
        return None;
    }
    resolve_relative(base, path)
}

/// A string, or the strings of a list (plain or `{path: …}` entries): the forms
/// of `env_file`, `include` and `label_file`.
pub fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str().or_else(|| item.get("path")?.as_str()))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("", "./data", Some("data"))]
    #[case("", "data/../conf", Some("conf"))]
    #[case("sub", "../x.env", Some("x.env"))]
    #[case("", "../x.env", None)]
    #[case("sub", "../../x", None)]
    #[case("", "/etc/passwd", None)]
    #[case("", "~/.ssh/id_rsa", None)]
    #[case("", "C:/Windows", None)]
    #[case("", ".", Some(""))]
    fn inside_is_lexical_and_strict(
        #[case] base: &str,
        #[case] path: &str,
        #[case] expected: Option<&str>,
    ) {
        assert_eq!(inside(base, path).as_deref(), expected);
    }

    fn files(list: &[(&str, &str)]) -> HashMap<String, Arc<[u8]>> {
        list.iter()
            .map(|(p, d)| (p.to_string(), Arc::from(d.as_bytes())))
            .collect()
    }

    fn load_from(list: &[(&str, &str)]) -> Model {
        let files = files(list);
        let read = |path: &str| {
            files
                .get(path)
                .cloned()
                .ok_or_else(|| "no such file in the stack".to_string())
        };
        let main = parse_document(&files["compose.yaml"]).expect("test compose parses");
        load(
            "compose.yaml",
            main,
            &read,
            &Variables::only_dotenv(b"UP=..\n"),
        )
    }

    #[test]
    fn follows_includes_and_extends_inside_the_folder() {
        let model = load_from(&[
            (
                "compose.yaml",
                "include:\n  - sub/inc.yaml\n  - path: [sub/inc.yaml]\nservices:\n  web:\n    extends: {file: base.yaml, service: b}\n",
            ),
            (
                "sub/inc.yaml",
                "include: [../base.yaml]\nservices:\n  inc: {image: x}\n",
            ),
            ("base.yaml", "services:\n  b: {image: x}\n"),
        ]);
        assert_eq!(model.problems, Vec::<String>::new());
        let reached: Vec<_> = model
            .documents
            .iter()
            .map(|d| (d.path.as_str(), d.reached))
            .collect();
        assert_eq!(reached.len(), 3, "{reached:?}");
        assert!(reached.contains(&("sub/inc.yaml", Reached::Included)));
        assert!(reached.contains(&("compose.yaml", Reached::Main)));
    }

    #[test]
    fn refuses_every_reference_outside_the_folder_without_reading_it() {
        let model = load_from(&[(
            "compose.yaml",
            "include:\n  - /tmp/outside/compose.yaml\n  - path: ok.yaml\n    env_file: ${UP}/host.env\nservices:\n  web:\n    extends:\n      file: ../../../../tmp/outside/compose.yaml\n      service: x\n",
        )]);
        assert_eq!(
            model.problems,
            vec![
                "compose.yaml: include '/tmp/outside/compose.yaml' is outside the stack folder",
                "compose.yaml: include env_file '../host.env' is outside the stack folder",
                "compose.yaml: service 'web': extends.file '../../../../tmp/outside/compose.yaml' is outside the stack folder",
                "compose.yaml: 'ok.yaml': no such file in the stack",
            ]
        );
    }
}
