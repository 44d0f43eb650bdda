//! Per-stack locks shared by the reconciler and plan/apply: one apply of a stack
//! at a time, and a second one is refused at once rather than queued.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

/// The set of stacks being applied.
#[derive(Debug, Clone, Default)]
pub struct StackLocks {
    held: Arc<Mutex<HashSet<String>>>,
}

/// Holds one stack's lock until dropped.
#[derive(Debug)]
pub struct StackGuard {
    locks: StackLocks,
    name: String,
}

impl StackLocks {
    /// No stack locked.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the lock of `name`, or `None` when someone holds it.
    pub fn try_lock(&self, name: &str) -> Option<StackGuard> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.insert(name.to_string()).then(|| StackGuard {
            locks: self.clone(),
            name: name.to_string(),
        })
    }
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        self.locks
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.name);
    }
}

/// One-shot permissions to apply a stack that would otherwise be left alone:
/// `POST /ack` (revert flagged drift) and `POST /sync` (apply even with
/// `RECONCILE_ENABLED=false`).
#[derive(Debug, Clone, Default)]
pub struct Grants {
    granted: Arc<Mutex<HashSet<String>>>,
}

impl Grants {
    /// No grants.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows one apply of `name`.
    pub fn grant(&self, name: &str) {
        self.granted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string());
    }

    /// Whether `name` has a grant (without using it).
    pub fn has(&self, name: &str) -> bool {
        self.granted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(name)
    }

    /// Uses up the grant of `name`; true when there was one.
    pub fn take(&self, name: &str) -> bool {
        self.granted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_refuses_a_second_taker_until_dropped() {
        let locks = StackLocks::new();
        let first = locks.try_lock("web");
        assert!(first.is_some());
        assert!(locks.try_lock("web").is_none());
        assert!(locks.try_lock("db").is_some(), "locks are per stack");
        drop(first);
        assert!(locks.try_lock("web").is_some());
    }

    #[test]
    fn a_grant_is_used_once() {
        let grants = Grants::new();
        grants.grant("web");
        assert!(grants.has("web"));
        assert!(grants.take("web"));
        assert!(!grants.take("web"));
    }
}
