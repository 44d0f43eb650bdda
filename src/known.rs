//! Which stacks docker-cd knows: those Git has, those with containers of this
//! instance, and those with a status record (a removal that failed, a stack
//! seen before the first snapshot). The API lists and answers for these,
//! commands accept them, and the resync wakes them, so that a record left
//! behind is looked at again and forgotten.

use std::collections::BTreeSet;

use crate::docker::state::RuntimeCache;
use crate::stack::snapshot::Snapshot;
use crate::status::StatusTable;

/// The three owners a stack can be known from.
pub struct Known<'a> {
    /// The Git snapshot, once one was read.
    pub snapshot: Option<&'a Snapshot>,
    /// The status table.
    pub status: &'a StatusTable,
    /// This instance's containers.
    pub runtime: &'a RuntimeCache,
}

impl Known<'_> {
    /// Every known stack's name, sorted.
    pub fn names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self.status.all().into_keys().collect();
        names.extend(self.runtime.stack_names());
        if let Some(snapshot) = self.snapshot {
            names.extend(snapshot.stacks.keys().map(ToString::to_string));
        }
        names
    }

    /// Whether stack `name` is one of [`Self::names`].
    pub fn contains(&self, name: &str) -> bool {
        self.snapshot.is_some_and(|s| s.stacks.contains_key(name))
            || self.status.get(name).is_some()
            || !self.runtime.containers(name).is_empty()
    }
}
