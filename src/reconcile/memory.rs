//! What the reconciler remembers about each stack between passes, under one lock:
//! the apply it waits on, its crash-loop budget, an operator's one-time grant,
//! the lock that keeps two applies of a stack apart, and an API apply waiting
//! for the worker.
//!
//! A pass takes a copy of the memory once ([`Memories::checkout`]), decides
//! and acts on that copy, and puts it back once ([`Memories::commit`]); the
//! only writers meanwhile are operators asking for a sync or an ack, and their
//! asks survive the commit.
//!
//! Everything else is read fresh each pass (level-triggered): Git from the
//! snapshot, the runtime from the informer's cache, what was applied from labels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

use super::gate::HealthGate;

/// The plain part of a stack's memory: what [`super::decide`] reads and changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// The health gate of the last apply of ours: open, passed or failed.
    pub gate: HealthGate,
    /// When recent drift reverts started (the crash-loop budget).
    pub reverts: Vec<Instant>,
    /// The budget is spent: left alone until Git changes the stack or a sync.
    pub given_up: bool,
    /// An operator asked for one apply (sync, ack) whatever the settings say.
    pub granted: bool,
    /// A sync asked for the revision in Git over one a rollback (or an
    /// operator's hold) runs in its place; an ack only repairs what runs.
    pub released: bool,
    /// The `stack_hash` whose gate was last looked for in the history (after a
    /// restart): looked for once, not on every pass.
    pub recalled: Option<String>,
    /// The last `compose up` failed: tried again with backoff, and what it
    /// left (containers created, never started) is not drift.
    pub failed_up: Option<FailedUp>,
}

/// A `compose up` that failed, and when it is tried again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedUp {
    /// The `stack_hash` compose was asked to bring up.
    pub stack_hash: String,
    /// Compose's error, kept as the stack's error until a try succeeds.
    pub error: String,
    /// How many tries failed in a row.
    pub tries: u32,
    /// When the next try is due.
    pub retry_at: Instant,
}

/// What an API apply hands to the worker: its lock, and where the result goes.
#[derive(Debug)]
pub struct PendingApply {
    /// Held from the staleness check on, so no other apply slips in between.
    pub guard: StackGuard,
    /// Receives the apply's result.
    pub reply: oneshot::Sender<Result<(), String>>,
    /// An operator's rollback: apply the stack as it was at this commit, and
    /// hold it; `None` applies the current revision.
    pub rollback_to: Option<String>,
}

#[derive(Debug, Default)]
struct Entry {
    memory: Memory,
    /// Counts operators' asks (sync, ack), so a commit keeps one made meanwhile.
    asks: u64,
    locked: bool,
    request: Option<PendingApply>,
}

impl Entry {
    fn is_empty(&self) -> bool {
        self.memory == Memory::default() && !self.locked && self.request.is_none()
    }
}

/// Every stack's memory.
#[derive(Debug, Clone, Default)]
pub struct Memories {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl Memories {
    /// No memories.
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` on the memory of `name` (tests set up and read memories so).
    #[cfg(test)]
    pub fn with<T>(&self, name: &str, change: impl FnOnce(&mut Memory) -> T) -> T {
        let mut pass = self.checkout(name);
        let out = change(&mut pass.memory);
        self.commit(name, pass);
        out
    }

    /// A copy of the memory of `name` for one pass, to [`Self::commit`] after.
    pub fn checkout(&self, name: &str) -> Checkout {
        let entries = self.entries();
        let entry = entries.get(name);
        Checkout {
            memory: entry.map(|e| e.memory.clone()).unwrap_or_default(),
            asks: entry.map_or(0, |e| e.asks),
        }
    }

    /// Puts back the memory a pass checked out and changed. A sync or ack
    /// asked for since the checkout is kept: the pass did not see it.
    pub fn commit(&self, name: &str, checkout: Checkout) {
        let mut entries = self.entries();
        let entry = entries.entry(name.to_string()).or_default();
        let Checkout { mut memory, asks } = checkout;
        if entry.asks != asks {
            memory.granted |= entry.memory.granted;
            memory.released |= entry.memory.released;
        }
        entry.memory = memory;
        if entry.is_empty() {
            entries.remove(name);
        }
    }

    /// Grants `name` one apply whatever the settings (an acknowledgement).
    pub fn grant(&self, name: &str) {
        self.ask(name, false);
    }

    /// Grants `name` one apply of the revision in Git, also over a rollback's (a sync).
    pub fn release(&self, name: &str) {
        self.ask(name, true);
    }

    fn ask(&self, name: &str, release: bool) {
        let mut entries = self.entries();
        let entry = entries.entry(name.to_string()).or_default();
        entry.asks += 1;
        entry.memory.granted = true;
        entry.memory.released |= release;
    }

    /// Takes the lock of `name`, unless an apply holds it (a second apply is
    /// refused at once rather than queued).
    pub fn try_lock(&self, name: &str) -> Option<StackGuard> {
        let mut entries = self.entries();
        let entry = entries.entry(name.to_string()).or_default();
        if entry.locked {
            return None;
        }
        entry.locked = true;
        Some(StackGuard {
            memories: self.clone(),
            name: name.to_string(),
        })
    }

    /// Leaves an API apply for the worker; a request left before is answered
    /// as superseded (cannot happen while the lock is held, kept for safety).
    pub fn request_apply(&self, name: &str, request: PendingApply) {
        let previous = self
            .entries()
            .entry(name.to_string())
            .or_default()
            .request
            .replace(request);
        if let Some(previous) = previous {
            let _ = previous
                .reply
                .send(Err("superseded by another apply".into()));
        }
    }

    /// Takes the API apply waiting for `name`, if any.
    pub fn take_request(&self, name: &str) -> Option<PendingApply> {
        self.entries().get_mut(name).and_then(|e| e.request.take())
    }
}

/// A stack's memory taken for one pass (see [`Memories::checkout`]).
#[derive(Debug)]
pub struct Checkout {
    /// The copy the pass reads and changes.
    pub memory: Memory,
    asks: u64,
}

/// One stack's lock; released on drop.
#[derive(Debug)]
pub struct StackGuard {
    memories: Memories,
    name: String,
}

impl Drop for StackGuard {
    fn drop(&mut self) {
        let mut entries = self.memories.entries();
        if let Some(entry) = entries.get_mut(&self.name) {
            entry.locked = false;
            if entry.is_empty() {
                entries.remove(&self.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_refuses_a_second_taker_until_dropped() {
        let memories = Memories::new();
        let first = memories.try_lock("web");
        assert!(first.is_some());
        assert!(memories.try_lock("web").is_none());
        assert!(memories.try_lock("db").is_some(), "locks are per stack");
        drop(first);
        assert!(memories.try_lock("web").is_some());
    }

    #[test]
    fn a_grant_is_remembered_until_taken_and_empty_memories_are_dropped() {
        let memories = Memories::new();
        memories.grant("web");
        let mut pass = memories.checkout("web");
        assert!(std::mem::take(&mut pass.memory.granted));
        memories.commit("web", pass);
        assert!(!memories.checkout("web").memory.granted);
        assert!(memories.entries().is_empty());
    }

    #[test]
    fn a_sync_asked_for_during_a_pass_survives_its_commit() {
        let memories = Memories::new();
        memories.grant("web");
        let mut pass = memories.checkout("web");
        pass.memory.granted = false;
        memories.release("web");
        memories.commit("web", pass);
        let after = memories.checkout("web").memory;
        assert!(after.granted && after.released, "{after:?}");
    }

    #[test]
    fn an_apply_request_is_taken_once() {
        let memories = Memories::new();
        let guard = memories.try_lock("web").expect("free");
        let (reply, _rx) = oneshot::channel();
        memories.request_apply(
            "web",
            PendingApply {
                guard,
                reply,
                rollback_to: None,
            },
        );
        assert!(memories.take_request("web").is_some());
        assert!(memories.take_request("web").is_none());
        assert!(
            memories.entries().is_empty(),
            "the guard dropped with the request"
        );
    }
}
