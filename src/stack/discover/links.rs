//! Symlinks in a stack: allowed only inside its own folder, followed when
//! reading its compose file.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::paths::{is_within, owner, parent, relative_to, resolve_relative};
use crate::git::tree::{Entry, FileTree};

/// How many symlinks a compose file may go through before it is refused, like the
/// kernel's `ELOOP` limit but small: stacks have no reason for long chains.
const MAX_SYMLINK_HOPS: usize = 8;

/// A symlink may only point inside its own stack folder (never into a nested
/// stack, never out of the deploy folder, never to an absolute path): compose
/// runs in a materialised copy of the stack, and a link out of it would read
/// the host's files.
pub(super) fn check_symlink(
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
pub(super) fn resolve_file<'t>(
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
