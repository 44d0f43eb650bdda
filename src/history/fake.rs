//! An in-memory [`HistoryStore`] for unit tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use super::{Entry, GateVerdict, HistoryError, HistoryStore, KEEP};

/// Entries per stack, oldest first, in memory; `failing` makes every call fail.
#[derive(Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Vec<Entry>>>,
    failing: bool,
    reads: AtomicUsize,
}

impl MemoryStore {
    /// A store whose every call fails (a full or read-only disk).
    pub fn failing() -> Self {
        Self {
            failing: true,
            ..Self::default()
        }
    }

    /// How many times entries were listed.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl HistoryStore for MemoryStore {
    fn record(&self, stack: &str, entry: &Entry) -> Result<(), HistoryError> {
        if self.failing {
            return Err(HistoryError::Task("disk full".into()));
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let list = entries.entry(stack.to_string()).or_default();
        list.push(entry.clone());
        let excess = list.len().saturating_sub(KEEP);
        list.drain(..excess);
        Ok(())
    }

    fn settle(&self, stack: &str, verdict: &GateVerdict) -> Result<(), HistoryError> {
        if self.failing {
            return Err(HistoryError::Task("disk full".into()));
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(newest) = entries.get_mut(stack).and_then(|l| l.last_mut()) {
            newest.settle(verdict);
        }
        Ok(())
    }

    fn list(&self, stack: &str) -> Result<Vec<Entry>, HistoryError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.failing {
            return Err(HistoryError::Task("disk full".into()));
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(entries
            .get(stack)
            .map(|l| l.iter().rev().cloned().collect())
            .unwrap_or_default())
    }
}
