//! The compose documents a stack's compose file reaches through `include` and
//! `extends.file`, read from the stack's own files only.
//!
//! Compose would follow these to any path on the host, and reads them (and
//! `env_file`s) while it builds the model, before docker-cd could look at its
//! result. So these paths are checked here, on the files as written: they must
//! be literal (no variables: docker-cd cannot know compose's values for them)
//! and stay in the stack folder. Everything compose resolves itself is checked
//! on its resolved model before an apply (`admission::resolved`).

use std::sync::Arc;

use serde_json::Value;

use super::discover::paths::{parent, resolve_relative};
use crate::compose::file::parse_document;

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
    /// The folder its relative paths start from, relative to the stack folder:
    /// its own folder, or for an included file the include's
    /// `project_directory` (by default the folder of its first `path`).
    pub base: String,
    /// How it was reached.
    pub reached: Reached,
    /// Its parsed content.
    pub value: Value,
}

impl Document {
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

/// A stack's own files, as compose will find them in its working folder.
pub trait StackFiles {
    /// A file's bytes, `path` relative to the stack folder, links followed.
    ///
    /// # Errors
    /// Why it cannot be read: missing, or not the stack's own.
    fn read(&self, path: &str) -> Result<Arc<[u8]>, String>;

    /// Whether `path` (relative to the stack folder, as written: links and
    /// `..` in it) lands inside the stack once the kernel follows its links.
    fn lands_inside(&self, path: &str) -> bool;
}

/// Follows `include` and `extends.file` from the compose file `main` (already
/// parsed, named `path`), reading only through `files`.
pub fn load(path: &str, main: Value, files: &dyn StackFiles) -> Model {
    let mut model = Model::default();
    let mut pending = vec![Document {
        path: path.to_string(),
        base: parent(path).to_string(),
        reached: Reached::Main,
        value: main,
    }];
    while let Some(document) = pending.pop() {
        for Reference {
            reached,
            path: target,
            base,
        } in references(&document, files, &mut model.problems)
        {
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
            match files.read(&target).and_then(|bytes| parse_document(&bytes)) {
                Ok(value) => pending.push(Document {
                    path: target,
                    base,
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

/// A file a document includes or extends.
struct Reference {
    reached: Reached,
    /// The file, relative to the stack folder.
    path: String,
    /// Where its relative paths start.
    base: String,
}

/// The files `document` includes or extends, as paths inside the stack folder;
/// a path outside it (or one with variables) is a problem, never read.
fn references(
    document: &Document,
    files: &dyn StackFiles,
    problems: &mut Vec<String>,
) -> Vec<Reference> {
    let mut found = Vec::new();
    let mut check = |service: Option<&str>, field: &str, raw: &str| {
        confined(files, &document.base, raw)
            .map_err(|why| problems.push(document.problem(service, format!("{field} {why}"))))
            .ok()
    };
    // Compose follows `include` in included files, not in extended ones.
    let includes = match document.reached {
        Reached::Main | Reached::Included => {
            document.value.get("include").and_then(Value::as_array)
        }
        Reached::Extended => None,
    };
    for entry in includes.into_iter().flatten() {
        let paths: Vec<String> = strings(entry.get("path").unwrap_or(entry))
            .into_iter()
            .filter_map(|raw| check(None, "include", raw))
            .collect();
        for raw in entry.get("env_file").map(strings).unwrap_or_default() {
            check(None, "include env_file", raw);
        }
        let project_directory = match entry.get("project_directory").and_then(Value::as_str) {
            Some(raw) => check(None, "include project_directory", raw),
            None => paths.first().map(|first| parent(first).to_string()),
        };
        let Some(base) = project_directory else {
            continue;
        };
        found.extend(paths.into_iter().map(|path| Reference {
            reached: Reached::Included,
            path,
            base: base.clone(),
        }));
    }
    for (name, service) in document.services() {
        let Some(file) = service.pointer("/extends/file").and_then(Value::as_str) else {
            continue;
        };
        if let Some(path) = check(Some(name), "extends.file", file) {
            found.push(Reference {
                reached: Reached::Extended,
                base: parent(&path).to_string(),
                path,
            });
        }
    }
    found
}

/// `raw` (a path written in a file whose paths start at `base`) relative to the
/// stack folder. It must stay inside both as text and on disk: compose may
/// clean the path as text before the kernel follows its links, or not, so
/// the cleaned path and the path as written must both land inside.
///
/// # Errors
/// Why it cannot be used: it holds variables, or it leaves the stack folder.
pub fn confined(files: &dyn StackFiles, base: &str, raw: &str) -> Result<String, String> {
    if raw.contains('$') {
        return Err(format!(
            "'{raw}' uses variables: docker-cd checks this file before compose reads it, so write the path literally"
        ));
    }
    let as_written = if base.is_empty() {
        raw.to_string()
    } else {
        format!("{base}/{raw}")
    };
    inside(base, raw)
        .filter(|cleaned| files.lands_inside(cleaned) && files.lands_inside(&as_written))
        .ok_or_else(|| format!("'{raw}' is outside the stack folder"))
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

/// The source of one entry of a service's `volumes`, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeSource<'a> {
    /// Short syntax `source:target[:mode]`: a path or a volume name.
    Short(&'a str),
    /// Long syntax with `type: bind`: always a path.
    Bind(&'a str),
}

/// The sources of a service's `volumes` (short syntax, and long syntax binds):
/// the one reading of that field both the files rule and `POLICY` filter.
pub fn volume_sources(service: &Value) -> Vec<VolumeSource<'_>> {
    let volumes = service.get("volumes").and_then(Value::as_array);
    volumes
        .into_iter()
        .flatten()
        .filter_map(volume_source)
        .collect()
}

/// The source of one entry of a service's `volumes`, if it has one.
pub fn volume_source(volume: &Value) -> Option<VolumeSource<'_>> {
    match volume {
        Value::String(short) => short
            .split_once(':')
            .map(|(source, _)| VolumeSource::Short(source)),
        Value::Object(long) => {
            let bind = long.get("type").and_then(Value::as_str) == Some("bind");
            let source = long.get("source").and_then(Value::as_str);
            source.filter(|_| bind).map(VolumeSource::Bind)
        }
        _ => None,
    }
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
    use rstest::rstest;

    use super::*;
    use crate::stack::fixtures::PlainFiles;

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

    fn load_from(list: &[(&str, &str)]) -> Model {
        let files = PlainFiles::of(list);
        let main = parse_document(&files.read("compose.yaml").expect("a compose file"))
            .expect("test compose parses");
        load("compose.yaml", main, &files)
    }

    #[test]
    fn an_included_file_starts_from_its_project_directory() {
        let model = load_from(&[
            (
                "compose.yaml",
                "include:\n  - path: a/b/inc.yaml\n    project_directory: .\n  - [c/one.yaml, d/two.yaml]\n",
            ),
            ("a/b/inc.yaml", "services: {}\n"),
            ("c/one.yaml", "services: {}\n"),
            ("d/two.yaml", "services: {}\n"),
        ]);
        let bases: Vec<(&str, &str)> = model
            .documents
            .iter()
            .map(|d| (d.path.as_str(), d.base.as_str()))
            .collect();
        assert!(bases.contains(&("a/b/inc.yaml", "")), "{bases:?}");
        // Several paths in one entry share the first one's folder.
        assert!(bases.contains(&("d/two.yaml", "c")), "{bases:?}");
    }

    #[test]
    fn includes_of_an_extended_file_are_not_followed() {
        let model = load_from(&[
            (
                "compose.yaml",
                "services:\n  web:\n    extends: {file: base.yaml, service: b}\n",
            ),
            (
                "base.yaml",
                "include: [more.yaml]\nservices:\n  b: {image: x}\n",
            ),
            ("more.yaml", "services:\n  extra: {image: x}\n"),
        ]);
        let paths: Vec<&str> = model.documents.iter().map(|d| d.path.as_str()).collect();
        assert!(!paths.contains(&"more.yaml"), "{paths:?}");
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
                "compose.yaml: include env_file '${UP}/host.env' uses variables: docker-cd checks this file before compose reads it, so write the path literally",
                "compose.yaml: service 'web': extends.file '../../../../tmp/outside/compose.yaml' is outside the stack folder",
                "compose.yaml: 'ok.yaml': no such file in the stack",
            ]
        );
    }
}
