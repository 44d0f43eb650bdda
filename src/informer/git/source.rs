//! Where the Git informer reads desired state: the deploy folder of the Git
//! source, or a fake in unit tests.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::git::repository::{Fetched, GitError, GitSource};
use crate::git::tree::FileTree;

/// Where desired state comes from. Both methods block; the informer calls them
/// on the blocking pool.
pub trait DesiredSource: Send + Sync + 'static {
    /// Why a fetch or read failed; its `Display` is shown to operators.
    type Error: fmt::Display + Send + 'static;

    /// Brings the remote's objects in and resolves the configured ref.
    fn fetch(&self, interrupt: &AtomicBool) -> Result<Fetched, Self::Error>;

    /// The deploy folder at `commit`.
    fn read_tree(&self, commit: &str) -> Result<FileTree, Self::Error>;
}

/// The Git source narrowed to the deploy folder.
#[derive(Debug)]
pub struct DeployFolder {
    /// The repository mirror.
    pub git: GitSource,
    /// `DEPLOY_DIR`, normalised (`""` for the root).
    pub deploy_dir: PathBuf,
}

impl DesiredSource for DeployFolder {
    type Error = GitError;

    fn fetch(&self, interrupt: &AtomicBool) -> Result<Fetched, GitError> {
        self.git.fetch(interrupt)
    }

    fn read_tree(&self, commit: &str) -> Result<FileTree, GitError> {
        self.git.read_tree(commit, &self.deploy_dir)
    }
}
