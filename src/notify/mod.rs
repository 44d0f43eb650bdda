//! Notifications (`NOTIFY_URLS`): what happens to stacks and to Git refreshes,
//! sent to chat and push services and to signed generic webhooks.
//!
//! ```text
//!  transitions (the pass's record) ─┐            ┌─▶ lane: queue ─▶ target 1 (retries)
//!                                   ├─▶ select ─▶ message ─┤
//!  event bus (refresh outcomes) ────┘  (events,  (commit,   └─▶ lane: queue ─▶ target 2
//!                                       dedup)    link)
//! ```
//!
//! [`select`] decides (pure: which transitions are news, `NOTIFY_EVENTS`,
//! the same news once), [`format`] and [`request`] build each service's
//! documented request (pure), [`deliver`] sends them: one bounded queue and
//! task per target, so a dead receiver delays only its own messages.

pub mod deliver;
pub mod format;
pub mod request;
pub mod select;
pub mod target;

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use self::deliver::{Counts, Lane, Retry};
use self::format::Message;
use self::select::{EventSet, Notice, Selector};
use self::target::Targets;
use crate::config::Config;
use crate::events::Event;
use crate::git::commits::Commits;
use crate::redact::Secrets;
use crate::runtime::Runtime;
use crate::secret::Secret;

/// The book's name for the targets' tokens: no stack can have it (stack names
/// are `[a-z0-9_-]`), and the logs are masked with every name's values.
const SECRETS_OF: &str = "(notify)";

/// `NOTIFY_URLS`, `NOTIFY_SECRET` and `NOTIFY_EVENTS`.
#[derive(Debug, Clone, clap::Args)]
pub struct NotifyArgs {
    /// Notification targets, comma-separated: webhook+https://, slack://,
    /// discord://, ntfy://, gotify://, teams://, apprise+https:// (+http for clear text).
    #[arg(
        long = "notify-urls",
        env = "NOTIFY_URLS",
        value_name = "URLS",
        hide_env_values = true,
        display_order = 30
    )]
    pub urls: Option<Targets>,

    /// Signs the generic webhook's body: `X-Signature: sha256=<hex HMAC-SHA256>`.
    #[arg(
        long = "notify-secret",
        env = "NOTIFY_SECRET",
        value_name = "SECRET",
        hide_env_values = true,
        display_order = 31
    )]
    pub secret: Option<Secret>,

    /// Events sent, comma-separated, or `all` [default: every event but `started`].
    #[arg(
        long = "notify-events",
        env = "NOTIFY_EVENTS",
        value_name = "EVENTS",
        display_order = 32
    )]
    pub events: Option<EventSet>,
}

/// Why notifications cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The series cannot be registered.
    #[error("registering notification metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The HTTP client cannot be built.
    #[error("building the notification HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// What every message of this instance says besides its notice.
#[derive(Clone)]
struct Context {
    instance: String,
    /// `EXTERNAL_URL`'s origin.
    dashboard: Option<String>,
    commits: Commits,
}

/// Starts a lane per target and the task that feeds them from the
/// transitions and refresh outcomes; nothing without `NOTIFY_URLS`.
///
/// # Errors
/// When the series or the HTTP client cannot be set up.
pub fn start(config: &Config, commits: &Commits, runtime: &Runtime) -> Result<(), NotifyError> {
    let args = &config.notify;
    let Some(targets) = args.urls.clone().filter(|t| !t.0.is_empty()) else {
        return Ok(());
    };
    let secrets: Secrets = targets
        .0
        .iter()
        .flat_map(|t| t.secrets().iter().map(String::as_str))
        .chain(args.secret.as_ref().map(Secret::expose))
        .collect();
    runtime.secrets.learn(SECRETS_OF, &secrets);
    let counts = Counts::register(&runtime.registry)?;
    let client = deliver::client()?;
    let mut lanes = Vec::new();
    for target in targets.0 {
        if target.endpoint.scheme() == "http" {
            tracing::warn!(target_name = %target, "notifications to this target go in clear text (+http)");
        }
        let lane = Arc::new(Lane::new(target, counts.clone()));
        runtime.spawn(
            tracing::info_span!("notify", target_name = %lane.label()),
            lane.clone().run(
                client.clone(),
                args.secret.clone(),
                Retry::default(),
                runtime.shutdown.clone(),
            ),
        );
        lanes.push(lane);
    }
    let context = Context {
        instance: config.reconcile.instance_name.to_string(),
        dashboard: config.api.external_url().map(|u| u.origin().to_string()),
        commits: commits.clone(),
    };
    let selector = Selector::new(args.events.clone().unwrap_or_default());
    // Subscribed now, before any reconcile runs: no transition is missed.
    let feed = runtime.transitions.subscribe();
    let events = runtime.events.subscribe();
    let shutdown = runtime.shutdown.clone();
    runtime.spawn(tracing::info_span!("notify"), async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = route(feed, events, selector, context, lanes) => {}
        }
    });
    Ok(())
}

/// Turns the feeds into messages for every lane until they close.
async fn route(
    mut feed: tokio::sync::broadcast::Receiver<crate::transitions::Transition>,
    mut events: tokio::sync::broadcast::Receiver<Event>,
    mut selector: Selector,
    context: Context,
    lanes: Vec<Arc<Lane>>,
) {
    loop {
        let notice = tokio::select! {
            transition = feed.recv() => match transition {
                Ok(t) => selector.transition(&t),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "notifications fell behind the transitions; some are not sent");
                    None
                }
                Err(RecvError::Closed) => return,
            },
            event = events.recv() => match event {
                Ok(Event::Refresh { outcome, revision, error, .. }) => {
                    selector.refresh(outcome == "failed", revision, error)
                }
                // Other events (and a lag of them: refreshes are few) are not news here.
                Ok(_) | Err(RecvError::Lagged(_)) => None,
                Err(RecvError::Closed) => return,
            },
        };
        if let Some(notice) = notice {
            let message = Arc::new(context.message(notice).await);
            for lane in &lanes {
                lane.push(message.clone());
            }
        }
    }
}

impl Context {
    /// `notice` with its commit (read from the mirror, cached), link and time.
    async fn message(&self, notice: Notice) -> Message {
        let commit = match notice.revision.as_deref() {
            Some(revision) => self.commits.describe([revision]).await.view(Some(revision)),
            None => None,
        };
        let dashboard = self.dashboard.as_ref().map(|origin| match &notice.stack {
            Some(stack) => format!("{origin}/#/stacks/{stack}"),
            None => format!("{origin}/"),
        });
        Message {
            notice,
            commit,
            instance: self.instance.clone(),
            dashboard,
            time: jiff::Timestamp::now(),
        }
    }
}
