//! Commit statuses (`COMMIT_STATUS`): per stack and revision, `pending` when
//! its apply starts, `success` once its health gate passes, `failure` when it
//! fails or is rolled back, posted to GitHub, Gitea, Forgejo or GitLab.
//!
//! Two tasks: one reads the transitions feed and queues statuses (never
//! waiting on the forge, so a reconcile never does either); one posts them in
//! order, retrying with backoff. A forge that refuses or is down is logged
//! and counted, and changes nothing else.

pub mod args;
mod deliver;
mod outbox;
pub(crate) mod request;
mod translate;

use std::sync::{Arc, Mutex, PoisonError};

use prometheus::{IntCounterVec, Opts};
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::args::Target;
use self::deliver::{Poster, backoff};
use self::outbox::{Outbox, Waiting};
use self::translate::Translator;
use crate::metrics::{counters, pairs};
use crate::named::named_enum;
use crate::runtime::Runtime;
use crate::transitions::Transition;

/// Attempts at one status before it is given up.
const MAX_ATTEMPTS: u32 = 6;

named_enum! {
    /// The `outcome` label of `dockercd_commit_statuses_total`.
    enum Outcome {
        /// The forge accepted a status.
        Delivered = "delivered",
        /// An attempt failed (it is retried).
        Error = "error",
        /// A status was given up after its last attempt.
        Dropped = "dropped",
    }
}

/// Why commit statuses cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HTTP client could not be built.
    #[error("commit statuses: cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// The counter could not be registered.
    #[error("commit statuses: cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Starts posting statuses to `target` for `instance`, linking to the
/// dashboard at `site` (`EXTERNAL_URL`'s origin). Subscribes at once, so no
/// transition sent after this call is missed.
///
/// # Errors
/// When the client or the counter cannot be made.
pub(crate) fn spawn(
    target: Target,
    instance: String,
    site: Option<String>,
    runtime: &Runtime,
) -> Result<(), StartError> {
    let forge = target.kind.as_str();
    let counter = counters(
        &runtime.registry,
        Opts::new(
            "commit_statuses_total",
            "Commit status posts by forge and outcome (delivered, error: an attempt failed, dropped: given up)",
        ),
        ["forge", "outcome"],
        pairs(
            &[forge],
            &Outcome::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        ),
    )?;
    let shared = Shared {
        outbox: Arc::new(Mutex::new(Outbox::default())),
        wake: Arc::new(Notify::new()),
        counter,
        shutdown: runtime.shutdown.clone(),
    };
    let poster = Poster::new(target)?;
    tracing::info!(target = ?poster.target(), "posting commit statuses");
    let feed = runtime.transitions.subscribe();
    let translator = Translator::new(instance, site);
    runtime.spawn(
        tracing::info_span!("commit-status-queue"),
        queue(feed, translator, forge, shared.clone()),
    );
    runtime.spawn(
        tracing::info_span!("commit-status-post"),
        post(poster, shared),
    );
    Ok(())
}

/// What the two tasks share.
#[derive(Clone)]
struct Shared {
    outbox: Arc<Mutex<Outbox>>,
    wake: Arc<Notify>,
    counter: IntCounterVec,
    shutdown: CancellationToken,
}

impl Shared {
    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self, forge: &str, outcome: Outcome) {
        self.counter
            .with_label_values(&[forge, outcome.as_str()])
            .inc();
    }
}

/// Reads transitions into the outbox until shutdown.
async fn queue(
    mut feed: broadcast::Receiver<Transition>,
    mut translator: Translator,
    forge: &'static str,
    shared: Shared,
) {
    loop {
        let transition = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            received = feed.recv() => match received {
                Ok(transition) => transition,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "commit statuses fell behind the transitions; some were not posted");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let Some(update) = translator.update(&transition) else {
            continue;
        };
        if let Some(dropped) = shared.outbox().push(update, Instant::now()) {
            shared.count(forge, Outcome::Dropped);
            tracing::warn!(sha = %dropped.sha, context = %dropped.context, "commit status queue full; the oldest status was dropped");
        }
        shared.wake.notify_one();
    }
}

/// Posts what the outbox holds, in order, until shutdown.
async fn post(poster: Poster, shared: Shared) {
    let forge = poster.target().kind.as_str();
    loop {
        let next = shared.outbox().take(Instant::now());
        let waiting = match next {
            Ok(waiting) => waiting,
            Err(due) => {
                // Far enough to mean "until woken".
                let until =
                    due.unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(3600));
                tokio::select! {
                    () = shared.shutdown.cancelled() => return,
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep_until(until) => {}
                }
                continue;
            }
        };
        let result = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            result = poster.post(&waiting.update) => result,
        };
        match result {
            Ok(()) => {
                shared.count(forge, Outcome::Delivered);
                tracing::debug!(sha = %waiting.update.sha, context = %waiting.update.context, state = %waiting.update.state, "commit status posted");
            }
            Err(error) => failed(&shared, forge, waiting, &error).await,
        }
    }
}

/// Logs and counts a failed attempt, and puts the status back after its
/// backoff. A rate limit pauses every post: the limit is the token's.
async fn failed(shared: &Shared, forge: &str, waiting: Waiting, error: &deliver::DeliveryError) {
    shared.count(forge, Outcome::Error);
    let (sha, context) = (waiting.update.sha.clone(), waiting.update.context.clone());
    let attempt = waiting.attempts + 1;
    if attempt >= MAX_ATTEMPTS {
        shared.count(forge, Outcome::Dropped);
        tracing::warn!(%sha, %context, attempt, %error, "commit status not posted; given up");
        return;
    }
    let asked = error.asked_wait();
    let delay = asked.unwrap_or_else(|| backoff(waiting.attempts));
    tracing::warn!(%sha, %context, attempt, %error, retry_in = ?delay, "commit status not posted; will retry");
    shared.outbox().retry(waiting, delay, Instant::now());
    if let Some(pause) = asked {
        tokio::select! {
            () = shared.shutdown.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}
