//! One lane per target: a bounded queue and a task that sends in order, with
//! retries and backoff. A slow or dead target holds only its own lane; the
//! reconcile that caused a message never waits for it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus::{IntCounterVec, Opts, Registry};
use reqwest::StatusCode;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::format::Message;
use super::request::{Outgoing, outgoing};
use super::target::Target;
use crate::secret::Secret;

/// Messages a lane holds; past it the oldest is dropped (and counted): the
/// newest news is the one that matters.
pub const QUEUE_CAPACITY: usize = 64;

/// Longest one request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How a lane retries a message.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// Wait before the second try; doubled each time.
    pub first: Duration,
    /// Longest wait between tries.
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        // 1 + 2 + 4 + 8 + 16 s: a receiver restarting within half a minute
        // still gets the message.
        Self {
            attempts: 6,
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// `dockercd_notifications_total{target,outcome}`.
#[derive(Clone)]
pub struct Counts(IntCounterVec);

/// What happened to a message (the `outcome` label), or to one try of it.
const OUTCOMES: [&str; 4] = ["sent", "retried", "failed", "dropped"];

impl Counts {
    /// Registers the series.
    ///
    /// # Errors
    /// When a series of that name is registered already.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = IntCounterVec::new(
            Opts::new(
                "notifications_total",
                "Notifications by target and outcome (sent, retried: a try that failed and is tried again, failed: given up, dropped: queue full)",
            ),
            &["target", "outcome"],
        )?;
        registry.register(Box::new(counter.clone()))?;
        Ok(Self(counter))
    }

    fn inc(&self, target: &str, outcome: &str) {
        self.0.with_label_values(&[target, outcome]).inc();
    }
}

/// A target's queue; [`Lane::run`] empties it.
pub struct Lane {
    target: Target,
    queue: Mutex<VecDeque<Arc<Message>>>,
    wake: Notify,
    counts: Counts,
}

impl Lane {
    /// An empty lane to `target`, its series at 0.
    pub fn new(target: Target, counts: Counts) -> Self {
        for outcome in OUTCOMES {
            let _ = counts.0.with_label_values(&[target.label(), outcome]);
        }
        Self {
            target,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            counts,
        }
    }

    /// Its target's label (no token).
    pub fn label(&self) -> &str {
        self.target.label()
    }

    /// Queues `message`; never waits. A full queue drops its oldest.
    pub fn push(&self, message: Arc<Message>) {
        let dropped = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let dropped = (queue.len() >= QUEUE_CAPACITY)
                .then(|| queue.pop_front())
                .flatten();
            queue.push_back(message);
            dropped
        };
        if dropped.is_some() {
            self.counts.inc(self.target.label(), "dropped");
            tracing::warn!(target_name = %self.target, "notification queue full: the oldest message is dropped");
        }
        self.wake.notify_one();
    }

    /// The next message, waiting for one; `None` on shutdown.
    async fn next(&self, shutdown: &CancellationToken) -> Option<Arc<Message>> {
        loop {
            let next = self
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front();
            if next.is_some() {
                return next;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = shutdown.cancelled() => return None,
            }
        }
    }

    /// Sends every queued message in order until `shutdown`; what is still
    /// queued or being retried then is not sent.
    pub async fn run(
        self: Arc<Self>,
        client: reqwest::Client,
        secret: Option<Secret>,
        retry: Retry,
        shutdown: CancellationToken,
    ) {
        while let Some(message) = self.next(&shutdown).await {
            let request = outgoing(&self.target, &message, secret.as_ref());
            let outcome = tokio::select! {
                outcome = self.deliver(&client, &request, retry) => outcome,
                () = shutdown.cancelled() => return,
            };
            self.counts.inc(self.target.label(), outcome);
        }
    }

    /// Sends `request`, retried on a network error, a timeout, 408, 429 and
    /// 5xx; any other answer is final. Returns the outcome label.
    async fn deliver(
        &self,
        client: &reqwest::Client,
        request: &Outgoing,
        retry: Retry,
    ) -> &'static str {
        let mut wait = retry.first;
        for attempt in 1..=retry.attempts {
            let error = match send(client, request).await {
                Ok(()) => return "sent",
                Err(Try::Final(error)) => error,
                Err(Try::Again(error)) if attempt < retry.attempts => {
                    self.counts.inc(self.target.label(), "retried");
                    tracing::info!(target_name = %self.target, attempt, %error, retry_in = ?wait, "notification not delivered; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(retry.max);
                    continue;
                }
                Err(Try::Again(error)) => error,
            };
            tracing::warn!(target_name = %self.target, attempt, %error, "notification not delivered; given up");
            return "failed";
        }
        "failed"
    }
}

/// Why one try failed.
enum Try {
    /// Worth another try.
    Again(String),
    /// The receiver refused it: another try gets the same answer.
    Final(String),
}

async fn send(client: &reqwest::Client, request: &Outgoing) -> Result<(), Try> {
    let mut builder = client
        .post(request.url.clone())
        .timeout(REQUEST_TIMEOUT)
        .body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    let response = builder.send().await.map_err(|e| Try::Again(described(e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // The answer's body is not logged: a receiver may echo the request's token.
    let error = format!("the receiver answered {status}");
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Err(Try::Again(error))
    } else {
        Err(Try::Final(error))
    }
}

/// A transport error and its causes, without the URL (it holds the token).
fn described(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The HTTP client every lane shares: no redirects (a token must not follow
/// one elsewhere), rustls.
///
/// # Errors
/// When the TLS backend cannot be set up.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    crate::tls::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
}

#[cfg(test)]
mod tests;
