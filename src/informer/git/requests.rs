//! Refresh requests: one refresh runs, at most one waits.
//!
//! Triggers (startup, poll, webhook, manual) go through [`RefreshHandle::request`].
//! While a refresh runs, a new request takes the single waiting slot; a newer
//! request replaces the waiting one's trigger, so a burst of webhooks costs at
//! most one extra refresh and the last push is always applied.

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::Notify;

use crate::git::repository::Fetched;
use crate::named::named_enum;

named_enum! {
    /// What asked for a refresh.
    pub enum Trigger {
        /// The first refresh after start.
        Startup = "startup",
        /// `POLL_INTERVAL` elapsed.
        Poll = "poll",
        /// A signed push webhook.
        Webhook = "webhook",
        /// `POST /api/refresh`.
        Manual = "manual",
    }
}

named_enum! {
    /// The answer to a request.
    pub enum Requested {
        /// Nothing was running: this request's refresh starts now.
        Refreshing = "refreshing",
        /// A refresh is running: this request waits in the single slot.
        Queued = "queued",
    }
}

named_enum! {
    /// How a refresh ended.
    pub enum RefreshOutcome {
        /// Fetched, read and published.
        Completed = "completed",
        /// Nothing changed; `error` says why.
        Failed = "failed",
    }
}

/// The record of the last finished refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastRefresh {
    /// What asked for it.
    pub trigger: Trigger,
    /// How it ended.
    pub outcome: RefreshOutcome,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// `GET /api/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshStatus {
    /// `idle` or `refreshing`.
    pub state: &'static str,
    /// Whether a refresh waits behind the running one.
    pub queued: bool,
    /// Revision of the current snapshot.
    pub revision: Option<String>,
    /// The last finished refresh.
    pub last: Option<LastRefresh>,
}

#[derive(Debug, Default)]
struct State {
    /// The refresh running (or about to start); `None` when idle.
    current: Option<Trigger>,
    /// The single waiting slot; only ever `Some` while `current` is.
    queued: Option<Trigger>,
    last: Option<LastRefresh>,
    revision: Option<String>,
    reference: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Notify,
}

/// Cheap handle for asking for refreshes and reading their status.
#[derive(Debug, Clone, Default)]
pub struct RefreshHandle {
    shared: Arc<Shared>,
}

impl RefreshHandle {
    /// A handle with nothing running.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks for a refresh: starts one when idle, else takes (or replaces) the waiting slot.
    pub fn request(&self, trigger: Trigger) -> Requested {
        let mut state = self.state();
        if state.current.is_none() {
            state.current = Some(trigger);
            drop(state);
            self.shared.wake.notify_one();
            Requested::Refreshing
        } else {
            state.queued = Some(trigger);
            Requested::Queued
        }
    }

    /// The status for `GET /api/refresh`.
    pub fn status(&self) -> RefreshStatus {
        let state = self.state();
        RefreshStatus {
            state: if state.current.is_some() {
                "refreshing"
            } else {
                "idle"
            },
            queued: state.queued.is_some(),
            revision: state.revision.clone(),
            last: state.last.clone(),
        }
    }

    /// What `GIT_REF` resolved to at the last successful fetch.
    pub fn resolved_reference(&self) -> Option<String> {
        self.state().reference.clone()
    }

    /// Waits for the next trigger to run.
    pub(super) async fn next(&self) -> Trigger {
        loop {
            let notified = self.shared.wake.notified();
            if let Some(trigger) = self.state().current {
                return trigger;
            }
            notified.await;
        }
    }

    /// Records the end of the running refresh and promotes the waiting one.
    pub(super) fn finish(&self, record: LastRefresh, resolved: Option<&Fetched>) {
        let mut state = self.state();
        state.last = Some(record);
        if let Some(resolved) = resolved {
            state.revision = Some(resolved.commit.clone());
            state.reference = Some(resolved.reference.clone());
        }
        state.current = state.queued.take();
    }
}
