//! Finding the stacks of a deploy folder and everything the desired state says about them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::hash::{compose_hash, stack_hash};
use super::name::{project_name_problem, stack_name};
use super::{DesiredStack, StackFile};
use crate::compose;
use crate::git::tree::{Entry, FileTree};

/// Compose file names, in the order that decides which one a folder uses.
pub const COMPOSE_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// How many symlinks a compose file may go through before it is refused, like the
/// kernel's `ELOOP` limit but small: stacks have no reason for long chains.
const MAX_SYMLINK_HOPS: usize = 8;

/// Every stack of `tree`, keyed by name, with its hashes, services and any
/// error that makes it undeployable. One stack's problem never affects another's.
pub fn discover(tree: &FileTree) -> BTreeMap<String, Arc<DesiredStack>> {
    let stack_dirs = find_stack_dirs(tree);
    let mut files: HashMap<&str, Vec<StackFile>> = stack_dirs
        .keys()
        .map(|d| (d.as_str(), Vec::new()))
        .collect();
    for (path, entry) in tree.iter() {
        if let Some(dir) = owner(&stack_dirs, parent(path)) {
            let relative = relative_to(dir, path).to_string();
            if let Some(list) = files.get_mut(dir) {
                list.push(StackFile {
                    path: relative,
                    entry: entry.clone(),
                });
            }
        }
    }

    let mut stacks: Vec<DesiredStack> = stack_dirs
        .iter()
        .map(|(dir, compose_file)| {
            let own_files = files.remove(dir.as_str()).unwrap_or_default();
            build_stack(tree, &stack_dirs, dir, compose_file, own_files)
        })
        .collect();

    // Two paths with one name: both fail, each naming the other.
    let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
    for stack in &stacks {
        by_name
            .entry(stack.name.clone())
            .or_default()
            .push(stack.path.clone());
    }
    let mut out = BTreeMap::new();
    for mut stack in stacks.drain(..) {
        let paths = &by_name[&stack.name];
        if paths.len() > 1 {
            let clash = format!(
                "stack name '{}' clashes: the folders {} all map to it (rename one)",
                stack.name,
                paths
                    .iter()
                    .map(|p| format!("'{p}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            push_error(&mut stack.error, clash);
            // The map has one entry per name: the first path holds the others.
            match out.get_mut(&stack.name) {
                None => {
                    out.insert(stack.name.clone(), Arc::new(stack));
                }
                Some(first) => Arc::make_mut(first).clashes_with.push(Arc::new(stack)),
            }
        } else {
            out.insert(stack.name.clone(), Arc::new(stack));
        }
    }
    out
}

/// Folder (relative to the deploy folder, `""` for itself) → its compose file name.
fn find_stack_dirs(tree: &FileTree) -> BTreeMap<String, &'static str> {
    let mut dirs: BTreeMap<String, &'static str> = BTreeMap::new();
    for (path, _) in tree.iter() {
        let (dir, file) = split(path);
        let Some(rank) = COMPOSE_FILE_NAMES.iter().position(|n| *n == file) else {
            continue;
        };
        let chosen = COMPOSE_FILE_NAMES[rank];
        dirs.entry(dir.to_string())
            .and_modify(|current| {
                let current_rank = COMPOSE_FILE_NAMES
                    .iter()
                    .position(|n| n == current)
                    .unwrap_or(usize::MAX);
                if rank < current_rank {
                    *current = chosen;
                }
            })
            .or_insert(chosen);
    }
    dirs
}

fn build_stack(
    tree: &FileTree,
    stack_dirs: &BTreeMap<String, &'static str>,
    dir: &str,
    compose_file: &'static str,
    files: Vec<StackFile>,
) -> DesiredStack {
    let path = if dir.is_empty() { "." } else { dir }.to_string();
    let name = stack_name(&path);
    let mut error = project_name_problem(&name);

    for file in &files {
        let full = join(dir, &file.path);
        match &file.entry {
            Entry::Unsupported { reason } => {
                push_error(&mut error, format!("{}: {reason}", file.path))
            }
            Entry::Symlink { target } => {
                if let Err(why) = check_symlink(stack_dirs, dir, &full, target) {
                    push_error(&mut error, why);
                }
            }
            Entry::File { .. } => {}
        }
    }

    let compose_path = join(dir, compose_file);
    let compose_bytes = resolve_file(tree, stack_dirs, dir, &compose_path);
    let (hash, parsed) = match &compose_bytes {
        Ok(bytes) => {
            let parsed = match compose::file::parse(bytes) {
                Ok(parsed) => Some(parsed),
                Err(why) => {
                    push_error(&mut error, format!("{compose_file}: {why}"));
                    None
                }
            };
            (compose_hash(bytes), parsed)
        }
        Err(why) => {
            push_error(&mut error, why.clone());
            (compose_hash(b""), None)
        }
    };
    let (services, expected_services, oneshot_services, compose_version) = parsed
        .map(|p| (p.services, p.expected, p.oneshot, p.version))
        .unwrap_or_default();
    let stack_hash = stack_hash(files.iter().map(|f| (f.path.as_str(), &f.entry)));

    DesiredStack {
        name,
        path,
        compose_file: compose_file.to_string(),
        compose_hash: hash,
        stack_hash,
        services,
        expected_services,
        oneshot_services,
        compose_version,
        files: files.into(),
        error,
        clashes_with: Vec::new(),
    }
}

/// A symlink may only point inside its own stack folder (never into a nested
/// stack, never out of the deploy folder, never to an absolute path): compose
/// runs in a materialised copy of the stack, and a link out of it would read
/// the host's files.
fn check_symlink(
    stack_dirs: &BTreeMap<String, &'static str>,
    stack_dir: &str,
    link_path: &str,
    target: &str,
) -> Result<(), String> {
    let leaves = || {
        format!(
            "symlink '{}' -> '{target}' leaves the stack folder; only links inside the stack are allowed",
            relative_to(stack_dir, link_path)
        )
    };
    let resolved = resolve_relative(parent(link_path), target).ok_or_else(leaves)?;
    if !is_within(stack_dir, &resolved) || owner(stack_dirs, &resolved) != Some(stack_dir) {
        return Err(leaves());
    }
    Ok(())
}

/// Reads a file of the stack, following symlinks that stay inside it.
fn resolve_file<'t>(
    tree: &'t FileTree,
    stack_dirs: &BTreeMap<String, &'static str>,
    stack_dir: &str,
    path: &str,
) -> Result<&'t Arc<[u8]>, String> {
    let mut current = path.to_string();
    for _ in 0..=MAX_SYMLINK_HOPS {
        match tree.get(&current) {
            Some(Entry::File { data, .. }) => return Ok(data),
            Some(Entry::Symlink { target }) => {
                check_symlink(stack_dirs, stack_dir, &current, target)?;
                current = resolve_relative(parent(&current), target)
                    .ok_or_else(|| format!("symlink '{current}' cannot be resolved"))?;
            }
            Some(Entry::Unsupported { reason }) => return Err(format!("{current}: {reason}")),
            None => {
                return Err(format!(
                    "'{}' points to '{}', which does not exist",
                    relative_to(stack_dir, path),
                    relative_to(stack_dir, &current)
                ));
            }
        }
    }
    Err(format!(
        "'{}' goes through more than {MAX_SYMLINK_HOPS} symlinks",
        relative_to(stack_dir, path)
    ))
}

/// The deepest stack folder that holds `dir` (itself included).
fn owner<'d>(stack_dirs: &'d BTreeMap<String, &'static str>, dir: &str) -> Option<&'d str> {
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
fn resolve_relative(base: &str, target: &str) -> Option<String> {
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

fn is_within(dir: &str, path: &str) -> bool {
    dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn relative_to<'p>(dir: &str, path: &'p str) -> &'p str {
    if dir.is_empty() {
        path
    } else {
        path.strip_prefix(dir)
            .and_then(|p| p.strip_prefix('/'))
            .unwrap_or(path)
    }
}

fn push_error(error: &mut Option<String>, message: String) {
    match error {
        Some(existing) => {
            existing.push_str("; ");
            existing.push_str(&message);
        }
        None => *error = Some(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSE: &str = "services:\n  web:\n    image: busybox\n";

    fn tree(files: &[(&str, &str)]) -> FileTree {
        let mut tree = FileTree::new();
        for (path, data) in files {
            tree.insert_file(*path, data.as_bytes());
        }
        tree
    }

    fn link(tree: &mut FileTree, path: &str, target: &str) {
        tree.insert(
            path,
            Entry::Symlink {
                target: target.into(),
            },
        );
    }

    #[test]
    fn finds_stacks_at_any_depth_with_names_and_paths() {
        let stacks = discover(&tree(&[
            ("apps/web/compose.yaml", COMPOSE),
            ("apps/Web.v2/docker-compose.yml", COMPOSE),
            ("infra/deep/db/compose.yml", COMPOSE),
            ("README.md", "not a stack"),
        ]));
        let summary: Vec<(&str, &str, &str)> = stacks
            .values()
            .map(|s| (s.name.as_str(), s.path.as_str(), s.compose_file.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("apps-web", "apps/web", "compose.yaml"),
                ("apps-web-v2", "apps/Web.v2", "docker-compose.yml"),
                ("infra-deep-db", "infra/deep/db", "compose.yml"),
            ]
        );
        assert!(stacks.values().all(|s| s.error.is_none()));
        assert_eq!(stacks["apps-web"].services, vec!["web".to_string()]);
    }

    #[test]
    fn the_deploy_folder_itself_is_the_root_stack() {
        let stacks = discover(&tree(&[("compose.yaml", COMPOSE)]));
        assert_eq!(stacks["root"].path, ".");
    }

    #[test]
    fn compose_file_precedence_follows_the_contract() {
        let stacks = discover(&tree(&[
            ("s/docker-compose.yml", "services: {}\n"),
            ("s/compose.yml", COMPOSE),
            ("s/docker-compose.yaml", "services: {}\n"),
        ]));
        assert_eq!(stacks["s"].compose_file, "compose.yml");
        assert_eq!(stacks["s"].compose_hash, compose_hash(COMPOSE.as_bytes()));
    }

    #[test]
    fn nested_stacks_own_their_files() {
        let outer_only = discover(&tree(&[("a/compose.yaml", COMPOSE), ("a/.env", "X=1")]));
        let with_nested = discover(&tree(&[
            ("a/compose.yaml", COMPOSE),
            ("a/.env", "X=1"),
            ("a/b/compose.yaml", COMPOSE),
            ("a/b/.env", "Y=2"),
        ]));
        assert_eq!(
            outer_only["a"].stack_hash, with_nested["a"].stack_hash,
            "files of a nested stack are not part of the outer stack"
        );
        let inner: Vec<&str> = with_nested["a-b"]
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(inner, vec![".env", "compose.yaml"]);
    }

    #[test]
    fn a_change_to_env_or_config_changes_stack_hash_only() {
        let before = discover(&tree(&[
            ("s/compose.yaml", COMPOSE),
            ("s/conf/app.ini", "a"),
        ]));
        let after = discover(&tree(&[
            ("s/compose.yaml", COMPOSE),
            ("s/conf/app.ini", "b"),
        ]));
        assert_eq!(before["s"].compose_hash, after["s"].compose_hash);
        assert_ne!(before["s"].stack_hash, after["s"].stack_hash);
    }

    #[test]
    fn clashing_names_fail_both_with_the_paths() {
        let stacks = discover(&tree(&[
            ("a.b/compose.yaml", COMPOSE),
            ("a-b/compose.yaml", COMPOSE),
        ]));
        assert_eq!(stacks.len(), 1, "one name, one entry");
        let first = &stacks["a-b"];
        let other = first.clashes_with.first().expect("the other path is kept");
        assert_eq!((first.path.as_str(), other.path.as_str()), ("a-b", "a.b"));
        for stack in [first, other] {
            let error = stack.error.as_deref().expect("clash error");
            assert!(
                error.contains("'a-b'") && error.contains("'a.b'"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_broken_compose_file_fails_that_stack_alone() {
        let stacks = discover(&tree(&[
            ("good/compose.yaml", COMPOSE),
            ("bad/compose.yaml", "services:\n  web: [oops\n"),
        ]));
        assert!(stacks["good"].error.is_none());
        let error = stacks["bad"].error.as_deref().expect("error");
        assert!(error.starts_with("compose.yaml: invalid YAML"), "{error}");
    }

    #[test]
    fn symlinks_out_of_the_stack_fail_that_stack_only() {
        for target in ["/etc/passwd", "../other/secret", "../../../etc", "nested/x"] {
            let mut t = tree(&[
                ("s/compose.yaml", COMPOSE),
                ("other/secret", "x"),
                ("s/nested/compose.yaml", COMPOSE),
                ("ok/compose.yaml", COMPOSE),
            ]);
            link(&mut t, "s/link", target);
            let stacks = discover(&t);
            let error = stacks["s"].error.as_deref().unwrap_or_default();
            assert!(
                error.contains("leaves the stack folder"),
                "{target}: {error:?}"
            );
            assert!(stacks["ok"].error.is_none());
            assert!(stacks["s-nested"].error.is_none());
        }
    }

    #[test]
    fn symlinks_inside_the_stack_are_fine_and_compose_file_may_be_one() {
        let mut t = tree(&[("s/prod.yaml", COMPOSE), ("s/conf/a.ini", "x")]);
        link(&mut t, "s/compose.yaml", "prod.yaml");
        link(&mut t, "s/conf/b.ini", "./a.ini");
        let stacks = discover(&t);
        assert_eq!(stacks["s"].error, None);
        assert_eq!(stacks["s"].compose_hash, compose_hash(COMPOSE.as_bytes()));
        assert_eq!(stacks["s"].services, vec!["web".to_string()]);
    }

    #[test]
    fn symlink_loops_and_dangling_compose_links_fail_cleanly() {
        let mut t = FileTree::new();
        link(&mut t, "s/compose.yaml", "a");
        link(&mut t, "s/a", "compose.yaml");
        link(&mut t, "d/compose.yaml", "missing.yaml");
        let stacks = discover(&t);
        assert!(
            stacks["s"]
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("more than")
        );
        assert!(
            stacks["d"]
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("does not exist")
        );
    }

    #[test]
    fn unsupported_entries_fail_their_stack() {
        let mut t = tree(&[("s/compose.yaml", COMPOSE)]);
        t.insert(
            "s/vendor",
            Entry::Unsupported {
                reason: "git submodules are not supported".into(),
            },
        );
        let stacks = discover(&t);
        assert_eq!(
            stacks["s"].error.as_deref(),
            Some("vendor: git submodules are not supported")
        );
    }

    #[test]
    fn names_compose_cannot_use_fail_with_a_reason() {
        let stacks = discover(&tree(&[(".hidden/compose.yaml", COMPOSE)]));
        let error = stacks["-hidden"].error.as_deref().unwrap_or_default();
        assert!(
            error.contains("not a valid compose project name"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_tree_has_no_stacks() {
        assert!(discover(&FileTree::new()).is_empty());
    }
}
