//! The event bus behind `GET /api/events`: stack status changes, refreshes,
//! health gate verdicts and rollbacks.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::redact::SecretBook;

/// How many events a slow SSE client may lag behind before it misses some;
/// it then gets a `lagged` notice and should re-read `/api/stacks`.
const CAPACITY: usize = 1024;

/// One event for SSE clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A stack's status changed.
    Stack {
        /// Stack name.
        name: String,
        /// New status.
        status: String,
        /// Previous status, if known.
        previous: Option<String>,
        /// The stack's error, if it has one.
        error: Option<String>,
    },
    /// A refresh finished.
    Refresh {
        /// What asked for it.
        trigger: String,
        /// `completed` or `failed`.
        outcome: String,
        /// Revision after the refresh.
        revision: Option<String>,
        /// Why it failed.
        error: Option<String>,
    },
    /// An apply's health gate reached its verdict.
    Gate {
        /// Stack name.
        name: String,
        /// The `stack_hash` applied.
        stack_hash: String,
        /// The commit applied, if known.
        revision: Option<String>,
        /// `passed` or `failed`.
        outcome: String,
        /// How it failed: `unhealthy`, `exited` or `timeout`.
        reason: Option<String>,
        /// Why it failed, as the stack's error says.
        error: Option<String>,
        /// From compose returning to the verdict.
        duration_ms: u64,
    },
    /// A failed gate is followed by an apply of the last revision that passed.
    Rollback {
        /// Stack name.
        name: String,
        /// The commit that ran before (whose gate failed), if known.
        from_revision: Option<String>,
        /// The `stack_hash` replaced.
        from_stack_hash: String,
        /// The commit applied instead.
        to_revision: String,
        /// How the gate failed: `unhealthy`, `exited` or `timeout`; `manual`
        /// for an operator's rollback.
        reason: String,
        /// Why the gate failed.
        error: Option<String>,
    },
}

impl Event {
    /// The SSE `event:` name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Stack { .. } => "stack",
            Self::Refresh { .. } => "refresh",
            Self::Gate { .. } => "gate",
            Self::Rollback { .. } => "rollback",
        }
    }

    /// The event with its stack's secret values masked in its error.
    fn masked(mut self, secrets: &SecretBook) -> Self {
        match &mut self {
            Self::Stack { name, error, .. }
            | Self::Gate { name, error, .. }
            | Self::Rollback { name, error, .. } => secrets.mask_option(name, error),
            Self::Refresh { .. } => {}
        }
        self
    }
}

/// A cheap, cloneable publisher; publishing with no subscriber is not an error.
/// Every event is masked with the secret values of its stack on the way out.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    secrets: SecretBook,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// A bus with no subscribers, that knows no secret.
    pub fn new() -> Self {
        Self::masking(SecretBook::new())
    }

    /// A bus with no subscribers, masking the values in `secrets`.
    pub fn masking(secrets: SecretBook) -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            secrets,
        }
    }

    /// Sends `event`, masked, to every current subscriber.
    pub fn publish(&self, event: Event) {
        // No receiver is the normal case when no dashboard is open.
        let _ = self.sender.send(event.masked(&self.secrets));
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
