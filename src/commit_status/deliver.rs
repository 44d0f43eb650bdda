//! Posting one status, and what a forge's answer means for the next attempt.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::args::{ForgeKind, Target};
use super::request::{self, Update};

/// A forge that takes longer is treated as down: the next attempt comes later.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The longest a rate limit is waited for before the next attempt.
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);
/// How much of a refusal's body is kept for the log.
const MESSAGE_MAX: usize = 200;

/// Why a status was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// No answer: the forge is unreachable, or too slow.
    #[error("cannot reach the forge: {0}")]
    Transport(String),
    /// The forge answered with an error.
    #[error("the forge answered {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// The start of its body.
        message: String,
        /// How long it asks to be left alone (a rate limit, `Retry-After`).
        wait: Option<Duration>,
    },
}

impl DeliveryError {
    /// How long the forge asked to wait, if it did.
    pub fn asked_wait(&self) -> Option<Duration> {
        match self {
            Self::Refused { wait, .. } => *wait,
            Self::Transport(_) => None,
        }
    }
}

/// Posts statuses to one forge.
#[derive(Clone)]
pub struct Poster {
    client: reqwest::Client,
    target: Target,
}

impl Poster {
    /// A poster to `target`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS provider).
    pub fn new(target: Target) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // A redirect could carry the token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client, target })
    }

    /// The forge's kind.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Posts `update`.
    ///
    /// # Errors
    /// When the forge cannot be reached or answers other than 2xx.
    pub async fn post(&self, update: &Update) -> Result<(), DeliveryError> {
        let outgoing = request::build(&self.target, update);
        let mut builder = self
            .client
            .post(&outgoing.url)
            .header(outgoing.auth.0, outgoing.auth.1.expose())
            .body(outgoing.body.to_string());
        for (name, value) in outgoing.headers {
            builder = builder.header(name, value);
        }
        // reqwest's errors name the URL, which holds no secret; never the headers.
        let answer = builder
            .send()
            .await
            .map_err(|e| DeliveryError::Transport(e.to_string()))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let wait = asked_wait(status, answer.headers(), jiff::Timestamp::now());
        let body = answer.text().await.unwrap_or_default();
        if already_so(self.target.kind, status, &body) {
            return Ok(());
        }
        // A forge does not echo the token; masked all the same.
        let body = body.replace(self.target.token.expose(), "(redacted)");
        Err(DeliveryError::Refused {
            status,
            message: body.chars().take(MESSAGE_MAX).collect(),
            wait,
        })
    }
}

/// Whether the forge refused only because the commit already has that state:
/// GitLab answers 400 "Cannot transition status via :run from :running" to a
/// second `running` (a retried apply of the same revision). Nothing to retry.
fn already_so(kind: ForgeKind, status: StatusCode, body: &str) -> bool {
    kind == ForgeKind::GitLab
        && status == StatusCode::BAD_REQUEST
        && body.contains("Cannot transition status")
}

/// How long a refusal asks to be left alone: `Retry-After` seconds, or, for
/// GitHub's rate limits (403 or 429 with no request left), until
/// `X-RateLimit-Reset` (epoch seconds). At least a second, at most
/// [`LONGEST_WAIT`].
fn asked_wait(status: StatusCode, headers: &HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && number("x-ratelimit-remaining") == Some(0));
    let seconds = number("retry-after").or_else(|| {
        limited
            .then(|| number("x-ratelimit-reset"))
            .flatten()
            .map(|reset| reset - now.as_second())
    });
    let seconds = match seconds {
        Some(s) => s,
        // A 429 without a hint still asks for a pause.
        None if limited => 60,
        None => return None,
    };
    let seconds = u64::try_from(seconds.max(1)).unwrap_or(1);
    Some(Duration::from_secs(seconds).min(LONGEST_WAIT))
}

/// The pause before attempt `attempts + 1` when the forge asked nothing:
/// 1 s, 2 s, 4 s, … at most a minute.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(6)).min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn rate_limits_are_honoured() {
        let now = jiff::Timestamp::from_second(1_000).expect("time");
        let wait = |status: u16, pairs: &[(&'static str, &str)]| {
            let status = StatusCode::from_u16(status).expect("status");
            asked_wait(status, &headers(pairs), now).map(|d| d.as_secs())
        };
        assert_eq!(wait(429, &[("retry-after", "7")]), Some(7));
        assert_eq!(wait(503, &[("retry-after", "0")]), Some(1));
        assert_eq!(wait(429, &[]), Some(60));
        let reset = [
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1030"),
        ];
        assert_eq!(wait(403, &reset), Some(30));
        assert_eq!(wait(403, &[("x-ratelimit-reset", "1030")]), None);
        assert_eq!(wait(429, &[("retry-after", "999999")]), Some(900));
        assert_eq!(wait(500, &[]), None);
    }

    #[test]
    fn only_gitlab_s_same_state_refusal_counts_as_delivered() {
        let same = r#"{"message":"Cannot transition status via :run from :running"}"#;
        assert!(already_so(ForgeKind::GitLab, StatusCode::BAD_REQUEST, same));
        assert!(!already_so(
            ForgeKind::GitLab,
            StatusCode::BAD_REQUEST,
            "{}"
        ));
        assert!(!already_so(
            ForgeKind::GitHub,
            StatusCode::BAD_REQUEST,
            same
        ));
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let secs: Vec<u64> = (0..8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
