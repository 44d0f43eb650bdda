//! Finding the stacks of a deploy folder and everything the desired state says about them.

mod links;
pub(super) mod paths;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use self::links::StackTree;
use self::paths::{join, owner, parent, relative_to, split};
use super::hash::{compose_hash, stack_hash};
use super::model::{self, Reached, StackFiles};
use super::name::{StackName, project_name_problem};
use super::{DesiredStack, StackFile};
use crate::admission::files as confine;
use crate::compose;
use crate::compose::file::ComposeFile;
use crate::git::tree::{Entry, FileTree};
use crate::redact::{Secrets, collect};

/// Compose file names, in the order that decides which one a folder uses.
pub const COMPOSE_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Every stack of `tree`, keyed by name, with its hashes, services and any
/// error that makes it undeployable. One stack's problem never affects another's.
pub fn discover(tree: &FileTree) -> BTreeMap<StackName, Arc<DesiredStack>> {
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

    let stacks: Vec<DesiredStack> = stack_dirs
        .iter()
        .map(|(dir, compose_file)| {
            let own_files = files.remove(dir.as_str()).unwrap_or_default();
            build_stack(tree, &stack_dirs, dir, compose_file, own_files)
        })
        .collect();

    keyed_by_name(stacks)
}

/// The stacks by name; two folders with one name both fail, each naming the other.
fn keyed_by_name(stacks: Vec<DesiredStack>) -> BTreeMap<StackName, Arc<DesiredStack>> {
    let mut by_name: HashMap<StackName, Vec<String>> = HashMap::new();
    for stack in &stacks {
        by_name
            .entry(stack.name.clone())
            .or_default()
            .push(stack.path.clone());
    }
    let mut out = BTreeMap::new();
    for mut stack in stacks {
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

/// One stack: its files checked, its compose file read and parsed, its hashes.
fn build_stack(
    tree: &FileTree,
    stack_dirs: &BTreeMap<String, &'static str>,
    dir: &str,
    compose_file: &'static str,
    files: Vec<StackFile>,
) -> DesiredStack {
    let path = if dir.is_empty() { "." } else { dir }.to_string();
    let name = StackName::for_path(&path);
    let mut error = project_name_problem(&name);
    let stack = StackTree {
        tree,
        stack_dirs,
        stack_dir: dir,
    };

    for file in &files {
        match &file.entry {
            Entry::Unsupported { reason } => {
                push_error(&mut error, format!("{}: {reason}", file.path))
            }
            Entry::Symlink { target } => {
                if let Err(why) = stack.check_symlink(&join(dir, &file.path), target) {
                    push_error(&mut error, why);
                }
            }
            Entry::File { .. } => {}
        }
    }

    let compose_bytes = stack.read(compose_file);
    let hash = match &compose_bytes {
        Ok(bytes) => compose_hash(bytes),
        Err(_) => compose_hash(b""),
    };
    let document = compose_bytes
        .and_then(|bytes| compose::file::parse_document(bytes))
        .map_err(|why| format!("{compose_file}: {why}"));
    let (mut secrets, dotenv) = env_secrets(&files, &stack);
    let summary =
        document.and_then(|doc| read_model(compose_file, doc, &stack, &dotenv, &mut secrets));
    let parsed = match summary {
        Ok(parsed) => Some(parsed),
        Err(why) => {
            push_error(&mut error, why);
            None
        }
    };
    let parsed = parsed.unwrap_or_default();
    let stack_hash = stack_hash(files.iter().map(|f| (f.path.as_str(), &f.entry)));
    // A parse error may quote the line it stopped at.
    let error = error.map(|e| secrets.mask(&e).into_owned());

    DesiredStack {
        name,
        path,
        compose_file: compose_file.to_string(),
        compose_hash: hash,
        stack_hash,
        services: parsed.services,
        expected_services: parsed.expected,
        oneshot_services: parsed.oneshot,
        compose_version: parsed.version,
        health_timeout: parsed.health_timeout,
        rollback: parsed.rollback,
        files: files.into(),
        error,
        clashes_with: Vec::new(),
        secrets,
    }
}

/// The secrets of the stack's env files (`.env`, `*.env`, `.env.*`: compose
/// reads them by name, and they are where passwords are kept), and its `.env`
/// parsed: the variables its compose files are interpolated with.
fn env_secrets(files: &[StackFile], stack: &dyn StackFiles) -> (Secrets, BTreeMap<String, String>) {
    let mut secrets = Secrets::default();
    let mut dotenv = BTreeMap::new();
    for file in files {
        let name = split(&file.path).1;
        if !(name.starts_with(".env") || name.ends_with(".env")) {
            continue;
        }
        let Ok(bytes) = stack.read(&file.path) else {
            continue;
        };
        let env = collect::parse_env_file(&String::from_utf8_lossy(&bytes));
        collect::env_values(&env, &mut secrets);
        if file.path == ".env" {
            dotenv = env;
        }
    }
    (secrets, dotenv)
}

/// The services of the compose file and of the files it includes, after checking
/// that every file compose reads to build the model is the stack's own.
/// Adds the secrets of every file it reads (interpolated with `dotenv`) to `secrets`.
fn read_model(
    compose_file: &str,
    document: serde_json::Value,
    files: &dyn StackFiles,
    dotenv: &BTreeMap<String, String>,
    secrets: &mut Secrets,
) -> Result<ComposeFile, String> {
    collect::from_value(&document, dotenv, secrets);
    let mut summary =
        compose::file::summarize(&document).map_err(|why| format!("{compose_file}: {why}"))?;
    let model = model::load(compose_file, document, files);
    for document in model
        .documents
        .iter()
        .filter(|d| d.reached != Reached::Main)
    {
        collect::from_value(&document.value, dotenv, secrets);
    }
    let mut problems = model.problems;
    if let Ok(dotenv) = files.read(".env") {
        problems.extend(confine::dotenv_problems(&dotenv));
    }
    for document in &model.documents {
        problems.extend(confine::check(document, files));
        let included =
            document.reached == Reached::Included && document.value.get("services").is_some();
        if included {
            match compose::file::summarize(&document.value) {
                Ok(more) => summary.absorb(more),
                Err(why) => problems.push(format!("{}: {why}", document.path)),
            }
        }
    }
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(problems.join("; "))
    }
}

/// Adds `message` to a stack's error, after any it already has.
fn push_error(error: &mut Option<String>, message: String) {
    match error {
        Some(existing) => {
            existing.push_str("; ");
            existing.push_str(&message);
        }
        None => *error = Some(message),
    }
}
