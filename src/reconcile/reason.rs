//! Why a stack's key was queued: said by whoever queues it (an informer, the
//! resync, a command of the API), carried by the queue with the key, and read
//! by the pass for its span and its history entry's trigger.
//!
//! The first reason wins while a key waits (the controller's queue), so a
//! reason says what woke the pass, not everything that happened meanwhile:
//! an operator's apply, rollback or sync is still told by the stack's memory.

use std::fmt;

pub use crate::history::Trigger;
use crate::stack::StackName;

/// Whether the key runs for its trigger, or again after it.
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
    /// What queued it first.
    pub trigger: Trigger,
    /// Whether this is a run again after it.
    pub repeat: Repeat,
}

/// A stack's key with the reason it was queued: what the work queue holds.
pub type StackRequest = controller::Request<StackName, Reason>;

impl Reason {
    /// The first run for `trigger`.
    pub fn first(trigger: Trigger) -> Self {
        Self {
            trigger,
            repeat: Repeat::First,
        }
    }

    /// `name` queued for `trigger`.
    pub fn request(trigger: Trigger, name: StackName) -> StackRequest {
        controller::Request::new(name, Self::first(trigger))
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
            Repeat::First => write!(f, "{}", self.trigger),
            Repeat::Retry => write!(f, "retry of {}", self.trigger),
            Repeat::Requeue => write!(f, "requeue after {}", self.trigger),
        }
    }
}

#[cfg(test)]
mod tests {
    use controller::Reason as _;

    use super::*;

    #[test]
    fn a_retry_and_a_requeue_keep_their_trigger() {
        let refresh = Reason::first(Trigger::Refresh);
        assert_eq!(refresh.to_string(), "refresh");
        assert_eq!(refresh.retried().to_string(), "retry of refresh");
        assert_eq!(
            refresh.retried().requeued().to_string(),
            "requeue after refresh"
        );
        assert_eq!(refresh.retried().requeued().trigger, Trigger::Refresh);
    }
}
