//! Where a rollback finds the stack it returns to: the deploy folder at a past
//! commit, read from the Git mirror and discovered like the current one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::{DesiredStack, StackName, discover};
use crate::git::tree::FileTree;

/// Reads the deploy folder at a commit (blocking: Git object reads).
pub type ReadRevision = Arc<dyn Fn(&str) -> Result<FileTree, String> + Send + Sync>;

/// How many past stacks are kept: a rolled-back or held stack is read on
/// every pass, and a commit's files never change.
const CACHED: usize = 64;

/// Stacks already read, by revision and name.
type Cache = HashMap<(String, StackName), Arc<DesiredStack>>;

/// Past revisions of the desired state.
#[derive(Clone, Default)]
pub struct Revisions {
    read: Option<ReadRevision>,
    cache: Arc<Mutex<Cache>>,
}

impl Revisions {
    /// Revisions read through `read`.
    pub fn new(read: ReadRevision) -> Self {
        Self {
            read: Some(read),
            cache: Arc::default(),
        }
    }

    /// Stack `name` as it was at `revision`; `None` when it cannot be read, was
    /// not there, or could not be deployed then.
    pub async fn stack_at(&self, revision: &str, name: &StackName) -> Option<Arc<DesiredStack>> {
        let key = (revision.to_string(), name.clone());
        if let Some(stack) = self.cache().get(&key) {
            return Some(Arc::clone(stack));
        }
        let stack = self.read_stack(revision, name).await?;
        let mut cache = self.cache();
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&stack));
        Some(stack)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn read_stack(&self, revision: &str, name: &StackName) -> Option<Arc<DesiredStack>> {
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_past_stack_is_read_once_and_a_missing_one_each_time() {
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&reads);
        let revisions = Revisions::new(Arc::new(move |revision: &str| {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut tree = FileTree::new();
            if revision == "good" {
                tree.insert_file("web/compose.yaml", "services:\n  web:\n    image: app\n");
            }
            Ok(tree)
        }));
        let web = StackName::for_path("web");
        for _ in 0..3 {
            let stack = revisions.stack_at("good", &web).await.expect("web at good");
            assert_eq!(stack.path, "web");
        }
        assert_eq!(
            reads.load(Ordering::SeqCst),
            1,
            "a commit's files never change"
        );
        assert!(revisions.stack_at("empty", &web).await.is_none());
        assert!(revisions.stack_at("empty", &web).await.is_none());
        assert_eq!(reads.load(Ordering::SeqCst), 3, "absence is not cached");
    }
}
