//! Immutable snapshots of the desired state, and the store that publishes them.
//!
//! The Git informer is the store's only writer; everyone else holds a
//! [`SnapshotReader`]. A failed refresh never replaces the last good snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::watch;

use super::{DesiredStack, StackName};

/// The desired state at one commit.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Full commit id.
    pub revision: String,
    /// What `GIT_REF` resolved to (`refs/heads/main`, `refs/tags/v1`, or the commit).
    pub reference: String,
    /// When this revision was last confirmed by a successful refresh.
    pub refreshed_at: Timestamp,
    /// Stacks by name.
    pub stacks: BTreeMap<StackName, Arc<DesiredStack>>,
}

impl Snapshot {
    /// Names whose desired record differs from `previous`: new, changed or gone.
    ///
    /// Records compare by what decides an apply (hashes, path, compose file,
    /// error), not by revision: a commit that does not change a stack does not
    /// wake its reconcile.
    pub fn changed_keys(&self, previous: Option<&Snapshot>) -> Vec<StackName> {
        let Some(previous) = previous else {
            return self.stacks.keys().cloned().collect();
        };
        let mut keys: Vec<StackName> = self
            .stacks
            .iter()
            .filter(|(name, stack)| {
                previous
                    .stacks
                    .get(*name)
                    .is_none_or(|old| !same_desired(old, stack))
            })
            .map(|(name, _)| name.clone())
            .collect();
        keys.extend(
            previous
                .stacks
                .keys()
                .filter(|name| !self.stacks.contains_key(*name))
                .cloned(),
        );
        keys
    }
}

fn same_desired(a: &DesiredStack, b: &DesiredStack) -> bool {
    a.stack_hash == b.stack_hash
        && a.compose_hash == b.compose_hash
        && a.path == b.path
        && a.compose_file == b.compose_file
        && a.error == b.error
        && a.clashes_with.len() == b.clashes_with.len()
}

/// The writer side: publishes new snapshots.
#[derive(Debug)]
pub struct SnapshotStore {
    sender: watch::Sender<Option<Arc<Snapshot>>>,
}

/// A read handle: the latest snapshot, and a way to wait for the next.
#[derive(Debug, Clone)]
pub struct SnapshotReader {
    receiver: watch::Receiver<Option<Arc<Snapshot>>>,
}

impl SnapshotStore {
    /// An empty store (no refresh has completed yet) and a reader of it.
    pub fn new() -> (Self, SnapshotReader) {
        let (sender, receiver) = watch::channel(None);
        (Self { sender }, SnapshotReader { receiver })
    }

    /// The latest published snapshot.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.sender.borrow().clone()
    }

    /// Publishes `snapshot` as the current desired state.
    pub fn publish(&self, snapshot: Arc<Snapshot>) {
        self.sender.send_replace(Some(snapshot));
    }
}

impl SnapshotReader {
    /// The latest snapshot; `None` until the first refresh completes.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.receiver.borrow().clone()
    }

    /// Waits for a snapshot newer than the last this reader (or the reader it
    /// was cloned from) marked seen; `None` once the store is gone.
    pub async fn next(&mut self) -> Option<Arc<Snapshot>> {
        loop {
            self.receiver.changed().await.ok()?;
            if let Some(snapshot) = self.receiver.borrow_and_update().clone() {
                return Some(snapshot);
            }
        }
    }

    /// Waits until a snapshot exists (returns at once if one does).
    pub async fn wait_for_first(&mut self) {
        // An error means the store was dropped: nothing will ever come, stop waiting.
        let _ = self.receiver.wait_for(Option::is_some).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::tree::FileTree;
    use crate::stack::discover;

    fn snapshot(files: &[(&str, &str)], revision: &str) -> Snapshot {
        let mut tree = FileTree::new();
        for (path, data) in files {
            tree.insert_file(*path, data.as_bytes());
        }
        Snapshot {
            revision: revision.into(),
            reference: "refs/heads/main".into(),
            refreshed_at: Timestamp::now(),
            stacks: discover(&tree),
        }
    }

    const C: &str = "services:\n  a:\n    image: x\n";

    #[test]
    fn first_snapshot_wakes_every_stack() {
        let s = snapshot(&[("a/compose.yaml", C), ("b/compose.yaml", C)], "1");
        assert_eq!(s.changed_keys(None), vec!["a", "b"]);
    }

    #[test]
    fn only_changed_new_and_vanished_stacks_wake() {
        let old = snapshot(
            &[
                ("same/compose.yaml", C),
                ("edit/compose.yaml", C),
                ("gone/compose.yaml", C),
            ],
            "1",
        );
        let new = snapshot(
            &[
                ("same/compose.yaml", C),
                ("edit/compose.yaml", C),
                ("edit/.env", "X=1"),
                ("new/compose.yaml", C),
            ],
            "2",
        );
        let mut keys = new.changed_keys(Some(&old));
        keys.sort();
        assert_eq!(keys, vec!["edit", "gone", "new"]);
    }

    #[test]
    fn a_commit_that_changes_no_stack_wakes_none() {
        let old = snapshot(&[("a/compose.yaml", C), ("README", "1")], "1");
        let new = snapshot(&[("a/compose.yaml", C), ("README", "1")], "2");
        assert!(new.changed_keys(Some(&old)).is_empty());
    }

    #[tokio::test]
    async fn readers_see_the_latest_publication() {
        let (store, mut reader) = SnapshotStore::new();
        assert!(reader.current().is_none());
        store.publish(Arc::new(snapshot(&[], "1")));
        reader.wait_for_first().await;
        assert_eq!(
            reader.current().map(|s| s.revision.clone()),
            Some("1".into())
        );
        store.publish(Arc::new(snapshot(&[], "2")));
        assert_eq!(
            store.current().map(|s| s.revision.clone()),
            Some("2".into())
        );
        assert_eq!(
            reader.current().map(|s| s.revision.clone()),
            Some("2".into())
        );
    }
}
