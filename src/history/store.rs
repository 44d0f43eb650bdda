//! What a history store does, whatever keeps it.

use super::{Entry, GateVerdict};

/// Entries kept per stack; older ones are dropped when a new one is recorded.
pub const KEEP: usize = 100;

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The store file could not be opened or created.
    // The source is not in the message: the start error prints the chain.
    #[error("cannot open the history store {path}")]
    Open {
        /// The file.
        path: String,
        /// What the store said.
        #[source]
        source: redb::Error,
    },
    /// A read or write transaction failed.
    #[error("history store: {0}")]
    Store(#[from] redb::Error),
    /// An entry could not be encoded.
    #[error("history entry: {0}")]
    Encode(#[from] serde_json::Error),
    /// `history_errors_total` could not be registered.
    #[error("history metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The blocking task that ran the store call died.
    #[error("history task: {0}")]
    Task(String),
}

/// A per-stack list of entries. Calls block (file I/O): async callers go
/// through [`super::History`], which runs them on the blocking pool.
pub trait HistoryStore: Send + Sync + 'static {
    /// Appends `entry` to `stack`'s history and drops all but the newest [`KEEP`].
    ///
    /// # Errors
    /// When the store cannot be written.
    fn record(&self, stack: &str, entry: &Entry) -> Result<(), HistoryError>;

    /// `stack`'s entries, newest first (empty when it has none).
    ///
    /// # Errors
    /// When the store cannot be read.
    fn list(&self, stack: &str) -> Result<Vec<Entry>, HistoryError>;

    /// Gives `stack`'s newest entry its gate's `verdict`, when the entry is
    /// the apply it is about (see [`Entry::settle`]); else changes nothing.
    ///
    /// # Errors
    /// When the store cannot be written.
    fn settle(&self, stack: &str, verdict: &GateVerdict) -> Result<(), HistoryError>;
}
