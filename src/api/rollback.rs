//! `POST /api/stacks/{name}/rollback {"revision"}`: apply a revision from the
//! stack's history and hold it there.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;

use super::ApiError;
use super::stack_path::StackPath;
use crate::commands::{ApplyOutcome, StackCommands};

/// Body of `rollback`.
#[derive(Debug, Deserialize)]
pub struct RollbackRequest {
    /// A revision of the stack's history: the full commit id or at least 7 characters of it.
    pub revision: String,
}

/// Applies the revision, holds it until Git changes the stack or a sync, and
/// answers how the apply ended; 400 for fewer than 7 characters, 404 for a
/// revision not in the history, 409 for one that never passed its health
/// gate, while another apply runs or when the stack left Git, 422 when the
/// stack cannot be read at that revision.
pub async fn rollback(
    State(commands): State<Arc<StackCommands>>,
    StackPath(name): StackPath,
    body: Result<Json<RollbackRequest>, JsonRejection>,
) -> Result<Json<ApplyOutcome>, ApiError> {
    let Json(request) = body.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body must be {{\"revision\": \"<commit id from the history>\"}}: {}",
                e.body_text()
            ),
        )
    })?;
    Ok(Json(commands.rollback(&name, &request.revision).await?))
}
