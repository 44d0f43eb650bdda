//! The API client: one request, one typed answer or one typed error that reads
//! as one line.

use crate::text::one_line;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::secret::Secret;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a read or a queued action may take; an apply waits for compose and
/// gets no limit beyond the server's own.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered.
    #[error("cannot reach docker-cd at {server}: {why}")]
    Unreachable {
        /// The server URL.
        server: String,
        /// The innermost cause (connection refused, DNS, TLS…).
        why: String,
    },
    /// The server refused the token.
    #[error("{server} refused the request: {message} (set API_TOKEN to the server's API_TOKEN)")]
    Unauthorized {
        /// The server URL.
        server: String,
        /// What the server said.
        message: String,
    },
    /// The server answered with an error.
    #[error("{message} (HTTP {status})")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The server's `error`, or the status text.
        message: String,
    },
    /// The answer is not what the API sends.
    #[error("unexpected answer from {server}: {why}")]
    Unreadable {
        /// The server URL.
        server: String,
        /// What is wrong with it.
        why: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

/// Talks to one docker-cd.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
}

impl Client {
    /// A client for `base`, sending `token` as a bearer token when given.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(base: Url, token: Option<Secret>) -> Result<Self, ClientError> {
        // reqwest is built without a default TLS provider; an https server needs one.
        crate::tls::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Setup(innermost(&e)))?;
        Ok(Self { http, base, token })
    }

    /// `GET` of the API path made of `segments`, read as `T`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<(Value, T), ClientError> {
        self.send(Method::GET, segments, None, Some(READ_TIMEOUT))
            .await
    }

    /// `POST` of `body` (none: an empty body) to the API path made of `segments`;
    /// `wait` says whether it may take as long as an apply.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: Option<Value>,
        wait: bool,
    ) -> Result<(Value, T), ClientError> {
        let timeout = (!wait).then_some(READ_TIMEOUT);
        self.send(Method::POST, segments, body, timeout).await
    }

    /// The server's URL as the user wrote it, for messages.
    fn server(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    /// `segments` under the base URL, each percent-encoded: a stack name is
    /// one segment whatever it holds.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("api").extend(segments);
        }
        url
    }

    /// Sends one request; the answer as JSON and as `T`.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<Value>,
        timeout: Option<Duration>,
    ) -> Result<(Value, T), ClientError> {
        let mut request = self
            .http
            .request(method, self.url(segments))
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, concat!("docker-cd/", env!("CARGO_PKG_VERSION")));
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.to_string());
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        let json: Option<Value> = serde_json::from_str(&text).ok();
        if !status.is_success() {
            return Err(self.refused(status, json.as_ref()));
        }
        let json = json.ok_or_else(|| self.unreadable("the answer is not JSON"))?;
        let typed = serde_json::from_value(json.clone()).map_err(|e| self.unreadable(e))?;
        Ok((json, typed))
    }

    /// The error for an answer with `status`.
    fn refused(&self, status: StatusCode, json: Option<&Value>) -> ClientError {
        let message = json
            .and_then(|j| j["error"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        if status == StatusCode::UNAUTHORIZED {
            return ClientError::Unauthorized {
                server: self.server(),
                message,
            };
        }
        ClientError::Api {
            status: status.as_u16(),
            message: one_line(&message),
        }
    }

    fn unreachable(&self, error: &reqwest::Error) -> ClientError {
        let why = if error.is_timeout() {
            "no answer in time".to_string()
        } else {
            innermost(error)
        };
        ClientError::Unreachable {
            server: self.server(),
            why,
        }
    }

    fn unreadable(&self, why: impl ToString) -> ClientError {
        ClientError::Unreadable {
            server: self.server(),
            why: why.to_string(),
        }
    }
}

/// The innermost cause of `error`: reqwest's own text ("error sending
/// request") says less than the OS's ("Connection refused").
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    one_line(&cause.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> Client {
        Client::new(base.parse().unwrap(), None).unwrap()
    }

    #[test]
    fn stack_names_are_one_encoded_segment_under_any_prefix() {
        let root = client("http://127.0.0.1:8080");
        assert_eq!(
            root.url(&["stacks", "web", "plan"]).as_str(),
            "http://127.0.0.1:8080/api/stacks/web/plan"
        );
        let prefixed = client("https://cd.example.com/cd/");
        assert_eq!(
            prefixed.url(&["stacks", "a/b c"]).as_str(),
            "https://cd.example.com/cd/api/stacks/a%2Fb%20c"
        );
    }

    #[test]
    fn error_answers_read_as_one_line() {
        let c = client("http://127.0.0.1:8080");
        let body = serde_json::json!({"error": "plan is stale"});
        let stale = c.refused(StatusCode::CONFLICT, Some(&body));
        assert_eq!(stale.to_string(), "plan is stale (HTTP 409)");
        let bare = c.refused(StatusCode::BAD_GATEWAY, None);
        assert_eq!(bare.to_string(), "Bad Gateway (HTTP 502)");
        let body = serde_json::json!({"error": "invalid API token"});
        let denied = c.refused(StatusCode::UNAUTHORIZED, Some(&body)).to_string();
        assert!(denied.contains("invalid API token") && denied.contains("API_TOKEN"));
        assert_eq!(
            one_line("compose failed:\n  bad\tthing\n"),
            "compose failed: bad thing"
        );
    }
}
