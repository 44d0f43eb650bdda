//! Stacks as Git describes them: discovery under `DEPLOY_DIR`, names, hashes, and
//! the snapshot of them all at one commit.

pub mod discover;
pub mod hash;
pub mod health;
pub mod model;
pub mod name;
pub mod revisions;
pub mod snapshot;

#[cfg(test)]
pub mod fixtures;

use std::sync::Arc;

use crate::git::tree::Entry;

pub use discover::discover;
pub use name::StackName;

/// One file of a stack, with its path relative to the stack folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackFile {
    /// Path relative to the stack folder, `/`-separated.
    pub path: String,
    /// The file, link or unsupported entry.
    pub entry: Entry,
}

/// What the Git snapshot says about one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredStack {
    /// Stack name: compose project name and work-queue key.
    pub name: StackName,
    /// Folder relative to `DEPLOY_DIR` (`.` for the deploy folder itself).
    pub path: String,
    /// The compose file's name inside the folder.
    pub compose_file: String,
    /// SHA-256 of the compose file's bytes.
    pub compose_hash: String,
    /// SHA-256 over all the stack's files; decides redeploys.
    pub stack_hash: String,
    /// Service names of the compose file (empty when it does not parse).
    pub services: Vec<String>,
    /// Services that `compose up` starts; only these must run for `synced`.
    pub expected_services: Vec<String>,
    /// One-shot jobs: an `exited (0)` container of these is done, not drift.
    pub oneshot_services: Vec<String>,
    /// The compose file's top-level `version`, repeated in the generated override.
    pub compose_version: Option<String>,
    /// The stack's own `HEALTH_TIMEOUT` (label `io.docker-cd.health-timeout`).
    pub health_timeout: Option<std::time::Duration>,
    /// The stack's own `ROLLBACK_ENABLED` (label `io.docker-cd.rollback`).
    pub rollback: Option<bool>,
    /// The stack's files, for materialising its working folder.
    pub files: Arc<[StackFile]>,
    /// Why this stack cannot be deployed at this revision, if it cannot.
    pub error: Option<String>,
    /// Other folders whose name is the same (each failed, like this one).
    pub clashes_with: Vec<Arc<DesiredStack>>,
    /// Values secret wherever they appear (`redact::collect`).
    pub secrets: crate::redact::Secrets,
}
