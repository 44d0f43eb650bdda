//! The `{name}` of `/api/stacks/{name}/…`, checked before any handler runs: a
//! name no stack can have is a 404 that never reaches a log, a lock or Docker.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use super::ApiError;
use crate::stack::StackName;

/// A stack name taken from the request path.
#[derive(Debug, Clone)]
pub struct StackPath(pub StackName);

impl<S: Send + Sync> FromRequestParts<S> for StackPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::not_found(e.body_text()))?;
        text.parse()
            .map(Self)
            .map_err(|_| ApiError::not_found("no stack has this name"))
    }
}
