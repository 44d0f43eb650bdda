//! `POST /api/stacks/{name}/sync` and `/ack`: ask the reconciler to act on one stack now.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::status::Status;

/// `POST /api/stacks/{name}/sync`: 202, the stack is reconciled now, and applied
/// once even when `RECONCILE_ENABLED=false` or its drift is flagged.
pub async fn sync(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    known(&state, &name)?;
    state.grants.grant(&name);
    state.queue.add(name.clone());
    tracing::info!(stack = %name, "sync requested");
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "queued" }))))
}

/// `POST /api/stacks/{name}/ack`: 202 for a `drifted` stack (its next reconcile
/// reverts the drift); 409 for any other status.
pub async fn ack(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    known(&state, &name)?;
    let status = state.status.get(&name).map(|r| r.status);
    if status != Some(Status::Drifted) {
        let shown = status.map_or("unknown", Status::as_str);
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("stack '{name}' is {shown}, not drifted: nothing to acknowledge"),
        ));
    }
    state.grants.grant(&name);
    state.queue.add(name.clone());
    tracing::info!(stack = %name, "drift acknowledged; reverting");
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "queued" }))))
}

/// 404 unless the stack is desired, recorded or running.
fn known(state: &AppState, name: &str) -> Result<(), ApiError> {
    let desired = state
        .snapshots
        .current()
        .is_some_and(|s| s.stacks.contains_key(name));
    if desired || state.status.get(name).is_some() || !state.runtime.containers(name).is_empty() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no stack named '{name}'")))
    }
}
