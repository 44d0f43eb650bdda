//! Paths of the deploy folder as `/`-separated text relative to it (`""` is
//! the deploy folder itself), and which stack folder owns one.

use std::collections::BTreeMap;

/// The deepest stack folder that holds `dir` (itself included).
pub(super) fn owner<'d>(
    stack_dirs: &'d BTreeMap<String, &'static str>,
    dir: &str,
) -> Option<&'d str> {
    let mut current = dir;
    loop {
        if let Some((found, _)) = stack_dirs.get_key_value(current) {
            return Some(found.as_str());
        }
        if current.is_empty() {
            return None;
        }
        current = parent(current);
    }
}

/// Normalises `target` relative to folder `base`; `None` when it climbs above
/// the deploy folder or is absolute.
pub(in crate::stack) fn resolve_relative(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// The folder holding `path`.
pub(in crate::stack) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Folder and file name of `path`.
pub(super) fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// `name` inside folder `dir`.
pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// `path` relative to `dir` (unchanged when it is not below it).
pub(super) fn relative_to<'p>(dir: &str, path: &'p str) -> &'p str {
    if dir.is_empty() {
        path
    } else {
        path.strip_prefix(dir)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(path)
    }
}
