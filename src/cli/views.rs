//! What the client reads of the API's answers. Every field is optional or
//! defaulted: a server of another version that adds or drops a field still
//! prints, and `--output json` passes the answer on untouched anyway.

use serde::Deserialize;
use serde_json::Value;

/// `GET /api/stacks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StackList {
    /// The revision of the current Git snapshot.
    pub revision: Option<String>,
    /// Every known stack.
    pub stacks: Vec<StackRow>,
}

/// The fields of a `Stack` that `status` shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StackRow {
    /// Stack name.
    pub name: String,
    /// Whether Git has it.
    pub desired: bool,
    /// `synced`, `failed`, …
    pub status: String,
    /// Services ready out of those that should run.
    pub health: Option<Health>,
    /// Revision the running containers were applied from.
    pub synced_revision: Option<String>,
    /// When they were applied.
    pub synced_at: Option<String>,
    /// Why it is failed or drifted.
    pub error: Option<String>,
}

/// `{"ready", "total"}`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct Health {
    /// Services ready.
    pub ready: u64,
    /// Services that should run.
    pub total: u64,
}

/// A plan (`POST /api/stacks/{name}/plan`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Plan {
    /// Stack name.
    pub stack: String,
    /// Staleness token for the apply.
    pub token: String,
    /// The commit the desired side comes from.
    pub desired_revision: Option<String>,
    /// One entry per service that would change.
    pub changes: Vec<Change>,
}

/// One service a plan would change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Change {
    /// `+`, `~` or `-`.
    pub action: String,
    /// Service name.
    pub service: String,
    /// `git` or `runtime`.
    pub source: String,
    /// What differs.
    pub fields: Vec<FieldChange>,
}

/// One field of a changed service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FieldChange {
    /// `image`, `environment.FOO`, …
    pub field: String,
    /// Running value (`null` when absent).
    pub old: Value,
    /// Desired value (`null` when it goes away).
    pub new: Value,
}

/// The answer of an apply or a rollback.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Applied {
    /// Stack name.
    pub stack: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Status after the apply.
    pub status: Option<String>,
    /// Revision its containers run.
    pub revision: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

impl Applied {
    /// Whether the apply succeeded.
    pub fn succeeded(&self) -> bool {
        self.outcome == "success"
    }
}

/// `GET /api/stacks/{name}/history`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct History {
    /// Stack name.
    pub stack: String,
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
}

/// One apply, removal or rollback.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HistoryEntry {
    /// Commit applied.
    pub revision: Option<String>,
    /// `git`, `drift`, `manual`, `rollback`.
    pub cause: String,
    /// What woke the pass.
    pub trigger: String,
    /// `apply`, `remove`, `rollback`.
    pub action: String,
    /// RFC 3339 start.
    pub started_at: String,
    /// How long it took.
    pub duration_ms: u64,
    /// `success` or `failure`.
    pub outcome: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The health gate's verdict.
    pub gate: Option<String>,
}

/// `GET /api/refresh`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RefreshState {
    /// `idle` or `refreshing`.
    pub state: String,
    /// Whether another refresh waits.
    pub queued: bool,
    /// The revision read last.
    pub revision: Option<String>,
    /// The last refresh that finished.
    pub last: Option<LastRefresh>,
}

/// The last finished refresh.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct LastRefresh {
    /// `completed` or `failed`.
    pub outcome: String,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Why it failed.
    pub error: Option<String>,
}
