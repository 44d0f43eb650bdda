//! `POST /api/stacks/{name}/plan` and `/apply`, and `GET /api/stacks/{name}/compose`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::stack_path::StackPath;
use super::{ApiError, StackReads};
use crate::commands::{ApplyOutcome, CommandError, StackCommands};
use crate::git::tree::Entry;
use crate::plan::{Plan, PlanError};
use crate::stack::StackFile;

fn plan_status(error: &PlanError) -> StatusCode {
    match error {
        PlanError::NotFound(_) => StatusCode::NOT_FOUND,
        PlanError::Invalid(_) | PlanError::Compose(_) => StatusCode::UNPROCESSABLE_ENTITY,
        PlanError::NotReady | PlanError::DockerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        PlanError::Docker(_) | PlanError::Io(_) | PlanError::Config(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        let status = match &error {
            CommandError::Plan(plan) => plan_status(plan),
            CommandError::NotFound(_) | CommandError::NotInHistory { .. } => StatusCode::NOT_FOUND,
            CommandError::NotDrifted { .. }
            | CommandError::Locked
            | CommandError::Stale
            | CommandError::NotInGit(_)
            | CommandError::NeverPassed { .. } => StatusCode::CONFLICT,
            CommandError::ShortRevision(_) => StatusCode::BAD_REQUEST,
            CommandError::Unreadable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            CommandError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            CommandError::History(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error.to_string())
    }
}

/// `POST /api/stacks/{name}/plan`: what an apply would change, with its token.
pub async fn plan(
    State(commands): State<Arc<StackCommands>>,
    StackPath(name): StackPath,
) -> Result<Json<Plan>, ApiError> {
    Ok(Json(commands.plan(&name).await?))
}

/// Body of `apply`.
#[derive(Debug, Deserialize)]
pub struct ApplyBody {
    /// The `token` of the plan being applied.
    pub token: String,
}

/// `POST /api/stacks/{name}/apply {"token"}`: applies if nothing changed since
/// the plan; 409 when stale or when another apply or reconcile holds the stack.
pub async fn apply(
    State(commands): State<Arc<StackCommands>>,
    StackPath(name): StackPath,
    body: Result<Json<ApplyBody>, JsonRejection>,
) -> Result<Json<ApplyOutcome>, ApiError> {
    let Json(request) = body.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body must be {{\"token\": \"<plan token>\"}}: {}",
                e.body_text()
            ),
        )
    })?;
    Ok(Json(commands.apply(&name, &request.token).await?))
}

/// `GET /api/stacks/{name}/compose`: the stack's compose file at the current
/// revision, secret-looking values redacted under their key, and every known
/// secret value wherever else it appears (a URL, a command, a healthcheck).
pub async fn compose_file(
    State(reads): State<StackReads>,
    StackPath(name): StackPath,
) -> Result<Json<Value>, ApiError> {
    let snapshot = reads.snapshots.current().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no refresh has completed yet",
        )
    })?;
    let desired = snapshot
        .stacks
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("stack '{name}' is not in Git")))?;
    let secrets = reads.secrets.of_with(&name, &desired.secrets);
    let content = desired
        .files
        .iter()
        .find(|f: &&StackFile| f.path == desired.compose_file)
        .and_then(|f| match &f.entry {
            // Anyone who may read the API may read the file, not its passwords.
            Entry::File { data, .. } => {
                let by_key = crate::redact::compose_text(&String::from_utf8_lossy(data));
                Some(secrets.mask(&by_key).into_owned())
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
