//! `POST /api/stacks/{name}/plan` and `/apply`, and `GET /api/stacks/{name}/compose`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::git::tree::Entry;
use crate::plan::{Plan, PlanError};
use crate::stack::StackFile;

/// The 409 texts of the contract.
const LOCKED: &str = "Stack is being applied by another session";
const STALE: &str = "plan is stale";

impl From<PlanError> for ApiError {
    fn from(error: PlanError) -> Self {
        let status = match &error {
            PlanError::NotFound(_) => StatusCode::NOT_FOUND,
            PlanError::Invalid(_) | PlanError::Compose(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PlanError::NotReady | PlanError::DockerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            PlanError::Docker(_) | PlanError::Io(_) | PlanError::Config(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, error.to_string())
    }
}

/// `POST /api/stacks/{name}/plan`: what an apply would change, with its token.
pub async fn plan(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Plan>, ApiError> {
    let plan = state.planner.plan(&name).await?;
    tracing::info!(
        stack = %name,
        add = plan.summary.add,
        change = plan.summary.change,
        remove = plan.summary.remove,
        "plan made"
    );
    Ok(Json(plan))
}

/// Body of `apply`.
#[derive(Debug, Deserialize)]
pub struct ApplyRequest {
    /// The `token` of the plan being applied.
    pub token: String,
}

/// `POST /api/stacks/{name}/apply {"token"}`: applies if nothing changed since
/// the plan; 409 when stale or when another apply or reconcile holds the stack.
pub async fn apply(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<ApplyRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(request) = body.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body must be {{\"token\": \"<plan token>\"}}: {}",
                e.body_text()
            ),
        )
    })?;
    // Never queued: a second apply is refused at once.
    let Some(guard) = state.locks.try_lock(&name) else {
        return Err(ApiError::new(StatusCode::CONFLICT, LOCKED));
    };
    let current = state.planner.current_token(&name).await?;
    if current != request.token {
        tracing::info!(stack = %name, "apply refused: the plan is stale");
        return Err(ApiError::new(StatusCode::CONFLICT, STALE));
    }
    tracing::info!(stack = %name, "applying a plan");
    let result = state.reconciler.apply_now(&name, guard).await;
    // The reconciler takes over: it waits for health and sets the final status.
    state.queue.add(name.clone());
    let record = state.status.get(&name);
    let status = record.as_ref().map(|r| r.status.as_str());
    let revision = record
        .as_ref()
        .and_then(|r| r.synced.as_ref())
        .map(|s| s.revision.clone());
    Ok(Json(match result {
        Ok(()) => json!({
            "stack": name, "outcome": "success", "status": status,
            "revision": revision, "error": null,
        }),
        Err(error) => json!({
            "stack": name, "outcome": "failure", "status": status,
            "revision": revision, "error": error.to_string(),
        }),
    }))
}

/// `GET /api/stacks/{name}/compose`: the compose file at the desired revision.
pub async fn compose_file(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshots.current().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no refresh has completed yet",
        )
    })?;
    let desired = snapshot
        .stacks
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("stack '{name}' is not in Git")))?;
    let content = desired
        .files
        .iter()
        .find(|f: &&StackFile| f.path == desired.compose_file)
        .and_then(|f| match &f.entry {
            // Anyone who may read the API may read the file, not its passwords.
            Entry::File { data, .. } => {
                Some(crate::redact::compose_text(&String::from_utf8_lossy(data)))
            }
            _ => None,
        });
    Ok(Json(json!({
        "stack": name,
        "revision": snapshot.revision,
        "file": desired.compose_file,
        "content": content,
    })))
}
