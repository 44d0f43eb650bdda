//! `GET /api/stacks/{name}/history`: the stack's last applies, removals and
//! rollbacks, newest first.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::stack_path::StackPath;
use super::{ApiError, StackReads};
use crate::git::commits::CommitView;
use crate::history::{Entry, History};

/// `{"stack", "entries": [...]}`, each entry with its `commit`; 404 for a stack neither desired nor in the
/// history (a removed stack keeps its history).
pub async fn list(
    State(history): State<History>,
    State(stacks): State<StackReads>,
    StackPath(name): StackPath,
) -> Result<Json<Value>, ApiError> {
    let entries = history.list(&name).await.map_err(|e| {
        tracing::warn!(stack = %name, error = %e, "history not readable");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    })?;
    let desired = stacks
        .snapshots
        .current()
        .is_some_and(|s| s.stacks.contains_key(&name));
    if entries.is_empty() && !desired {
        return Err(ApiError::not_found(format!("no stack named '{name}'")));
    }
    let described = stacks
        .commits
        .describe(entries.iter().filter_map(|e| e.revision.as_deref()))
        .await;
    let entries: Vec<EntryView<'_>> = entries
        .iter()
        .map(|entry| EntryView {
            commit: described.view(entry.revision.as_deref()),
            entry,
        })
        .collect();
    Ok(Json(json!({ "stack": name, "entries": entries })))
}

/// A stored entry and what its revision is (read now, not stored: the mirror
/// knows it, and an entry written before this field existed gets it too).
#[derive(Serialize)]
struct EntryView<'a> {
    #[serde(flatten)]
    entry: &'a Entry,
    commit: Option<CommitView>,
}
