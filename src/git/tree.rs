//! The files of the deploy folder at one commit, read from Git without a work tree.
//!
//! Discovery, hashing and materialisation work on this in-memory view, so they
//! are pure functions of a commit: testable and fuzzable without a repository.

use std::collections::BTreeMap;
use std::sync::Arc;

/// One entry of a [`FileTree`]. Folders are implied by the paths of their entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file.
    File {
        /// The file's bytes.
        data: Arc<[u8]>,
        /// Whether Git records it as executable (mode 100755).
        executable: bool,
    },
    /// A symbolic link; `target` as stored in Git (not resolved).
    Symlink {
        /// The link target.
        target: String,
    },
    /// Something that cannot be deployed (a submodule, a name that is not UTF-8).
    Unsupported {
        /// Why, for the stack's error.
        reason: String,
    },
}

/// Paths (relative to `DEPLOY_DIR`, `/`-separated, no leading `./`) to entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTree {
    entries: BTreeMap<String, Entry>,
}

impl FileTree {
    /// An empty tree (an empty or missing deploy folder).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the entry at `path`.
    pub fn insert(&mut self, path: impl Into<String>, entry: Entry) {
        self.entries.insert(path.into(), entry);
    }

    /// Adds a regular, non-executable file (a convenience for tests and fuzzing).
    pub fn insert_file(&mut self, path: impl Into<String>, data: impl Into<Vec<u8>>) {
        self.insert(
            path,
            Entry::File {
                data: data.into().into(),
                executable: false,
            },
        );
    }

    /// The entry at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Every entry, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter().map(|(p, e)| (p.as_str(), e))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the tree has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
