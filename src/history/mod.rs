//! Per-stack history: every apply, removal and rollback, newest first, the last
//! [`KEEP`] of each stack, in `DATA_DIR/history.redb`.
//!
//! The reconciler records through [`History`], which never fails a reconcile: a
//! store error is logged and counted, the reconcile goes on. The API reads it
//! for `GET /api/stacks/{name}/history`.

mod entry;
#[cfg(test)]
pub mod fake;
mod recorder;
mod redb_store;
mod store;

pub use entry::{Cause, Entry, GateFailure, GateResult, GateVerdict, Operation, Run, Trigger};
pub use recorder::History;
pub use redb_store::RedbStore;
pub use store::{HistoryError, HistoryStore, KEEP};

/// The store's file name inside `DATA_DIR`.
pub const FILE_NAME: &str = "history.redb";
