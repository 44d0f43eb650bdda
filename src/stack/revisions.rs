//! Where a rollback finds the stack it returns to: the deploy folder at a past
//! commit, read from the Git mirror and discovered like the current one.

use std::sync::Arc;

use super::{DesiredStack, StackName, discover};
use crate::git::tree::FileTree;

/// Reads the deploy folder at a commit (blocking: Git object reads).
pub type ReadRevision = Arc<dyn Fn(&str) -> Result<FileTree, String> + Send + Sync>;

/// Past revisions of the desired state.
#[derive(Clone, Default)]
pub struct Revisions {
    read: Option<ReadRevision>,
}

impl Revisions {
    /// Revisions read through `read`.
    pub fn new(read: ReadRevision) -> Self {
        Self { read: Some(read) }
    }

    /// Stack `name` as it was at `revision`; `None` when it cannot be read, was
    /// not there, or could not be deployed then.
    pub async fn stack_at(&self, revision: &str, name: &StackName) -> Option<Arc<DesiredStack>> {
        let read = self.read.clone()?;
        let revision = revision.to_string();
        let tree = match tokio::task::spawn_blocking(move || read(&revision)).await {
            Ok(Ok(tree)) => tree,
            Ok(Err(why)) => {
                tracing::warn!(stack = %name, error = %why, "cannot read the revision to roll back to");
                return None;
            }
            Err(_) => return None,
        };
        discover(&tree)
            .remove(name)
            .filter(|stack| stack.error.is_none())
    }
}
