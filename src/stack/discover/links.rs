//! Symlinks in a stack: resolved as the kernel resolves them in the stack's
//! working folder, allowed only when they land inside it.
//!
//! Resolution is never done on the path as text: `d -> .` then `e -> d/..` reads
//! `e` as the stack folder on paper, but the kernel follows `d` first and its
//! `..` climbs out. So every component is looked up, a link's target takes its
//! place, and only then is a `..` after it taken. The stack folder is the root:
//! a step above it is refused even when a later one comes back, because the
//! working folder's parent holds other stacks, not the stack's Git neighbours.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::paths::{join, owner, parent, relative_to};
use crate::git::tree::{Entry, FileTree};
use crate::stack::model::StackFiles;

/// How many symlinks one path may go through before it is refused, like the
/// kernel's `ELOOP` limit but small: stacks have no reason for long chains.
const MAX_SYMLINK_HOPS: usize = 8;

/// Why a path of the stack cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unfollowable {
    /// A step leaves the stack folder, or a link on the way is absolute.
    Leaves,
    /// More than [`MAX_SYMLINK_HOPS`] links on the way.
    TooManyLinks,
}

/// The stack folder `stack_dir` of `tree` as the kernel sees it once written out.
#[derive(Clone, Copy)]
pub(super) struct StackTree<'t> {
    pub tree: &'t FileTree,
    pub stack_dirs: &'t BTreeMap<String, &'static str>,
    pub stack_dir: &'t str,
}

impl<'t> StackTree<'t> {
    /// Where `path`, written in the stack's folder `from` (both relative to the
    /// stack folder), lands: each component looked up, links followed before
    /// the `..` after them. Components that do not exist are taken as written.
    pub fn follow(&self, from: &str, path: &str) -> Result<String, Unfollowable> {
        let mut at: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
        let mut rest: VecDeque<&str> = path.split('/').collect();
        if path.starts_with('/') {
            return Err(Unfollowable::Leaves);
        }
        let mut hops = 0;
        while let Some(part) = rest.pop_front() {
            match part {
                "" | "." => {}
                ".." => {
                    at.pop().ok_or(Unfollowable::Leaves)?;
                }
                name => {
                    at.push(name);
                    let full = join(self.stack_dir, &at.join("/"));
                    if let Some(Entry::Symlink { target }) = self.tree.get(&full) {
                        hops += 1;
                        if hops > MAX_SYMLINK_HOPS {
                            return Err(Unfollowable::TooManyLinks);
                        }
                        if target.starts_with('/') {
                            return Err(Unfollowable::Leaves);
                        }
                        at.pop();
                        for step in target.split('/').rev() {
                            rest.push_front(step);
                        }
                    }
                }
            }
        }
        Ok(at.join("/"))
    }

    /// Where `path`, written in the stack's folder `from`, lands when that is in
    /// the stack's own part of the folder: not outside it, not in a stack
    /// nested in it (whose files its working folder does not have).
    fn land(&self, from: &str, path: &str) -> Result<String, Unfollowable> {
        let at = self.follow(from, path)?;
        if owner(self.stack_dirs, &join(self.stack_dir, &at)) == Some(self.stack_dir) {
            Ok(at)
        } else {
            Err(Unfollowable::Leaves)
        }
    }

    /// Whether `path` (relative to the stack folder) lands inside the stack.
    pub fn lands_inside(&self, path: &str) -> bool {
        self.land("", path).is_ok()
    }

    /// A symlink of the stack (`link_path` relative to the deploy folder) may
    /// only land inside the stack's own folder: compose runs in a written-out
    /// copy of the stack, and a link out of it would read the host's files.
    pub fn check_symlink(&self, link_path: &str, target: &str) -> Result<(), String> {
        let link = relative_to(self.stack_dir, link_path);
        self.land(parent(link), target)
            .map(drop)
            .map_err(|why| format!("symlink '{link}' -> '{target}' {}", why.worded()))
    }

    /// Reads a file of the stack (`path` relative to the stack folder), following
    /// links that stay inside it.
    pub fn read(&self, path: &str) -> Result<&'t Arc<[u8]>, String> {
        let at = self
            .land("", path)
            .map_err(|why| format!("'{path}' {}", why.worded()))?;
        match self.tree.get(&join(self.stack_dir, &at)) {
            Some(Entry::File { data, .. }) => Ok(data),
            Some(Entry::Unsupported { reason }) => Err(format!("{at}: {reason}")),
            // `follow` replaced every link on the way, the last one included.
            Some(Entry::Symlink { .. }) | None if at == path => {
                Err(format!("'{path}' does not exist"))
            }
            Some(Entry::Symlink { .. }) | None => {
                Err(format!("'{path}' points to '{at}', which does not exist"))
            }
        }
    }
}

impl StackFiles for StackTree<'_> {
    fn read(&self, path: &str) -> Result<Arc<[u8]>, String> {
        StackTree::read(self, path).cloned()
    }

    fn lands_inside(&self, path: &str) -> bool {
        StackTree::lands_inside(self, path)
    }
}

impl Unfollowable {
    /// The reason, as the end of a sentence about a path.
    fn worded(&self) -> String {
        match self {
            Self::Leaves => {
                "leaves the stack folder; only links inside the stack are allowed".into()
            }
            Self::TooManyLinks => format!("goes through more than {MAX_SYMLINK_HOPS} symlinks"),
        }
    }
}
