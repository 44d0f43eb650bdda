//! The level-triggered reconcile of one stack: desired state (the Git snapshot)
//! against actual state (the runtime cache), a pure decision, effects through an
//! executor, the result recorded in labels and the status table.

pub mod args;
pub mod assess;
pub mod decide;
pub mod executor;
pub mod gate;
pub mod memory;
mod origin;
pub mod reason;
pub mod reconciler;
pub mod series;

pub use executor::DockerExecutor;
pub use reconciler::StackReconciler;

use crate::compose::runner::ComposeError;
use crate::compose::workspace::WorkspaceError;
use crate::docker::client::DockerError;

/// Why a reconcile failed; the stack is `failed` with this message.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The stack cannot be deployed at this revision (bad compose file, name clash, symlink).
    #[error("{0}")]
    Invalid(String),
    /// Docker does not answer.
    #[error("Docker is unreachable")]
    DockerUnavailable,
    /// A Docker API call failed.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// Compose failed.
    #[error(transparent)]
    Compose(#[from] ComposeError),
    /// The working folder could not be written.
    #[error("cannot write the stack's working folder: {0}")]
    Workdir(#[from] std::io::Error),
    /// The compose project holds containers docker-cd must not touch.
    #[error("{0}")]
    Foreign(String),
    /// `compose config` printed something that is not a compose model.
    #[error("cannot read the output of compose config: {0}")]
    ComposeOutput(String),
    /// Compose succeeded but the runtime does not match.
    #[error("{0}")]
    NotConverged(String),
    /// No refresh has completed yet: the desired state is unknown.
    #[error("the desired state is not known yet (no refresh has completed)")]
    NotReady,
}

impl From<WorkspaceError> for ReconcileError {
    fn from(error: WorkspaceError) -> Self {
        match error {
            WorkspaceError::Compose(e) => Self::Compose(e),
            WorkspaceError::Io(e) => Self::Workdir(e),
            WorkspaceError::Unreadable(e) => Self::ComposeOutput(e),
            // The same files are refused again until Git changes them.
            WorkspaceError::Refused(why) => Self::Invalid(why),
        }
    }
}

impl controller::ReconcileError for ReconcileError {
    fn is_terminal(&self) -> bool {
        matches!(self, Self::Invalid(_))
    }

    fn reason(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::DockerUnavailable => "docker_unavailable",
            Self::Docker(_) => "docker",
            Self::Compose(_) | Self::ComposeOutput(_) => "compose",
            Self::Workdir(_) => "workdir",
            Self::Foreign(_) => "foreign",
            Self::NotConverged(_) => "not_converged",
            Self::NotReady => "not_ready",
        }
    }
}
