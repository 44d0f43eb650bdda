//! `GET /api/refresh` (status) and `POST /api/refresh` (ask for one).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::informer::git::{RefreshHandle, RefreshStatus, Requested, Trigger};

/// `GET /api/refresh`.
pub async fn status(State(refresh): State<RefreshHandle>) -> Json<RefreshStatus> {
    Json(refresh.status())
}

/// `POST /api/refresh`: 202 `{"status": "refreshing" | "queued"}`.
pub async fn request(State(refresh): State<RefreshHandle>) -> (StatusCode, Json<Value>) {
    let requested = refresh.request(Trigger::Manual);
    tracing::info!(status = ?requested, "manual refresh requested");
    accepted(requested)
}

/// The 202 answer shared by manual refreshes and webhooks.
pub fn accepted(requested: Requested) -> (StatusCode, Json<Value>) {
    let status = match requested {
        Requested::Refreshing => "refreshing",
        Requested::Queued => "queued",
    };
    (StatusCode::ACCEPTED, Json(json!({ "status": status })))
}
