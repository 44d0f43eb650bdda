//! `POST /api/stacks/{name}/sync` and `/ack`: ask the reconciler to act on one stack now.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::ApiError;
use super::stack_path::StackPath;
use crate::commands::StackCommands;

/// `POST /api/stacks/{name}/sync`: 202, the stack is reconciled now, and applied
/// once even when `RECONCILE_ENABLED=false` or its drift is flagged.
pub async fn sync(
    State(commands): State<Arc<StackCommands>>,
    StackPath(name): StackPath,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    commands.sync(&name)?;
    Ok(queued())
}

/// `POST /api/stacks/{name}/ack`: 202 for a `drifted` stack (its next reconcile
/// reverts the drift); 409 for any other status.
pub async fn ack(
    State(commands): State<Arc<StackCommands>>,
    StackPath(name): StackPath,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    commands.ack(&name)?;
    Ok(queued())
}

fn queued() -> (StatusCode, Json<Value>) {
    (StatusCode::ACCEPTED, Json(json!({ "status": "queued" })))
}
