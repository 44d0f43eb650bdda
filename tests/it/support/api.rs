//! The running binary's HTTP API, and waiting for it to reach a state.

use std::time::Duration;

use serde_json::Value;

use super::wait::wait_until;

/// Calls the API of one `docker-cd`.
pub struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    /// A client for `base` (`http://127.0.0.1:port`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            client: super::http(),
        }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` → (status, JSON body or `null`).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_with(path, &[]).await
    }

    /// `GET path` with headers → (status, JSON body or `null`).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let request = self.client.get(self.url(path));
        Self::send(request, headers, &format!("GET {path}")).await
    }

    /// `POST path` with headers and a raw body → (status, JSON body or `null`).
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
        let request = self.client.post(self.url(path)).body(body.to_vec());
        Self::send(request, headers, &format!("POST {path}")).await
    }

    /// Sends `request` with `headers`; a failure to get an answer fails the test.
    async fn send(
        mut request: reqwest::RequestBuilder,
        headers: &[(&str, &str)],
        what: &str,
    ) -> (u16, Value) {
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// The sum of every sample line of `/metrics` that starts with `prefix`
    /// (a series name with `{`) and contains each of `having`.
    pub async fn metric_sum(&self, prefix: &str, having: &[&str]) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(prefix) && having.iter().all(|h| l.contains(h)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Opens `GET /api/events`: every event published from now on.
    pub async fn events(&self) -> Events {
        let response = self
            .client
            .get(self.url("/api/events"))
            .send()
            .await
            .expect("GET /api/events");
        assert_eq!(response.status(), 200, "GET /api/events");
        Events {
            response,
            text: String::new(),
        }
    }

    /// `GET /api/stacks`.
    pub async fn stacks(&self) -> Value {
        let (status, body) = self.get("/api/stacks").await;
        assert_eq!(status, 200, "GET /api/stacks: {body}");
        body
    }

    /// One stack from `GET /api/stacks/{name}`, or `None` on 404.
    pub async fn stack(&self, name: &str) -> Option<Value> {
        let (status, body) = self.get(&format!("/api/stacks/{name}")).await;
        match status {
            200 => Some(body),
            404 => None,
            other => panic!("GET /api/stacks/{name}: {other} {body}"),
        }
    }

    /// `POST /api/refresh`, and waits until that refresh has finished, however
    /// it ended; returns `GET /api/refresh`.
    pub async fn refresh(&self) -> Value {
        let (_, before) = self.get("/api/refresh").await;
        let (status, body) = self.post("/api/refresh", &[], b"").await;
        assert_eq!(status, 202, "POST /api/refresh: {body}");
        self.refreshed_after(before["last"]["finished_at"].as_str())
            .await
    }

    /// Waits until `/readyz` is 200: a snapshot read and Docker listed (a
    /// plan asked for before Docker answers is a 503).
    pub async fn wait_ready(&self) {
        wait_until("docker-cd to be ready", Duration::from_secs(60), || async {
            match self.get("/readyz").await {
                (200, _) => Ok(()),
                (status, body) => Err(format!("{status} {body}")),
            }
        })
        .await;
    }

    /// Waits until the refresh that follows `after` (the `finished_at` seen before,
    /// or `None`) has finished; returns `GET /api/refresh`.
    pub async fn refreshed_after(&self, after: Option<&str>) -> Value {
        wait_until("a refresh to finish", Duration::from_secs(30), || async {
            let (_, body) = self.get("/api/refresh").await;
            let finished = body["last"]["finished_at"].as_str();
            if finished.is_some() && finished != after && body["state"] == "idle" {
                Ok(body)
            } else {
                Err(body.to_string())
            }
        })
        .await
    }

    /// Waits until stack `name` has `status`; returns the stack.
    pub async fn wait_status(&self, name: &str, status: &str, timeout: Duration) -> Value {
        let what = format!("{name} to be {status}");
        self.wait_stack(name, &what, timeout, |stack| stack["status"] == status)
            .await
    }

    /// Waits until stack `name` is known and `accept`s it; returns the stack.
    pub async fn wait_stack(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_until(what, timeout, || async {
            match self.stack(name).await {
                Some(stack) if accept(&stack) => Ok(stack),
                Some(stack) => Err(stack.to_string()),
                None => Err(format!("{name} is not known")),
            }
        })
        .await
    }
}

/// An open Server-Sent Events stream and what it said so far.
pub struct Events {
    response: reqwest::Response,
    text: String,
}

impl Events {
    /// Every `(event name, JSON data)` received so far.
    pub fn seen(&self) -> Vec<(String, Value)> {
        self.text
            .split("\n\n")
            .filter_map(|block| {
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_string()))
                };
                let data = serde_json::from_str(&field("data:")?).unwrap_or(Value::Null);
                Some((field("event:")?, data))
            })
            .collect()
    }

    /// Reads until an event named `kind` is one `accept`s; returns its data.
    /// Panics with everything seen when none came within `timeout`.
    pub async fn wait_for(
        &mut self,
        kind: &str,
        timeout: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = |events: &Self| {
            events
                .seen()
                .into_iter()
                .find(|(k, data)| k == kind && accept(data))
                .map(|(_, data)| data)
        };
        let read = tokio::time::timeout(timeout, async {
            loop {
                if let Some(data) = found(self) {
                    return Some(data);
                }
                match self.response.chunk().await.expect("SSE chunk") {
                    Some(bytes) => self.text.push_str(&String::from_utf8_lossy(&bytes)),
                    None => return None,
                }
            }
        })
        .await;
        match read {
            Ok(Some(data)) => data,
            _ => panic!("no {kind} event within {timeout:?}; seen:\n{}", self.text),
        }
    }
}
