//! Why a stack's key was queued: said by whoever queues it (an informer, the
//! resync, a command of the API), carried by the queue with the key, and read
//! by the pass for its span and its history entry's trigger.
//!
//! The first reason wins while a key waits (the controller's queue), so a
//! reason says what woke the pass, not everything that happened meanwhile:
//! an operator's apply, rollback or sync is still told by the stack's memory.

use std::fmt;

use crate::history::Trigger;
use crate::named::named_enum;
use crate::stack::StackName;

named_enum! {
    /// Who queued the key.
    pub enum Origin {
        /// A new Git snapshot changed the stack (or the first one was read).
        Git = "git",
        /// A Docker event of one of the stack's containers.
        Docker = "docker-event",
        /// The periodic resync.
        Resync = "resync",
        /// `POST /api/stacks/{name}/sync` or `/ack`.
        Sync = "sync",
        /// `POST /api/stacks/{name}/apply` or `/rollback`.
        Api = "api",
    }
}

impl Origin {
    /// The history trigger of a pass this origin woke.
    pub fn trigger(self) -> Trigger {
        match self {
            Self::Git => Trigger::Refresh,
            Self::Docker => Trigger::DockerEvent,
            Self::Resync => Trigger::Resync,
            Self::Sync => Trigger::Sync,
            Self::Api => Trigger::Api,
        }
    }
}

/// Whether the key runs for its origin, or again after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// The first run for it.
    First,
    /// After that run failed (with backoff).
    Retry,
    /// After that run asked to be looked at again.
    Requeue,
}

/// Why a stack's key was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    /// Who queued it first.
    pub origin: Origin,
    /// Whether this is a run again after it.
    pub repeat: Repeat,
}

/// A stack's key with the reason it was queued: what the work queue holds.
pub type StackRequest = controller::Request<StackName, Reason>;

impl Reason {
    /// The first run for `origin`.
    pub fn first(origin: Origin) -> Self {
        Self {
            origin,
            repeat: Repeat::First,
        }
    }

    /// `name` queued for `origin`.
    pub fn request(origin: Origin, name: StackName) -> StackRequest {
        controller::Request::new(name, Self::first(origin))
    }
}

impl controller::Reason for Reason {
    fn requeued(&self) -> Self {
        Self {
            repeat: Repeat::Requeue,
            ..*self
        }
    }

    fn retried(&self) -> Self {
        Self {
            repeat: Repeat::Retry,
            ..*self
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.repeat {
            Repeat::First => write!(f, "{}", self.origin),
            Repeat::Retry => write!(f, "retry of {}", self.origin),
            Repeat::Requeue => write!(f, "requeue after {}", self.origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use controller::Reason as _;

    use super::*;

    #[test]
    fn a_retry_and_a_requeue_keep_their_origin() {
        let git = Reason::first(Origin::Git);
        assert_eq!(git.to_string(), "git");
        assert_eq!(git.retried().to_string(), "retry of git");
        assert_eq!(git.retried().requeued().to_string(), "requeue after git");
        assert_eq!(git.retried().requeued().origin.trigger(), Trigger::Refresh);
    }
}
