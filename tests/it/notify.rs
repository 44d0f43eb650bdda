//! Issue 24, notifications: a real docker-cd, Git repository and engine, and
//! loopback receivers that record what they get (and answer as told).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::health_gate::{FAILING, stack};
use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment, refresh};
use crate::support::wait::wait_until;

/// One request a receiver got, and what it answered.
#[derive(Debug, Clone)]
struct Got {
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A loopback receiver answering `answers` in turn, then 200.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    async fn start(answers: &[u16]) -> Self {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let script = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
        let record = got.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let (record, script) = (record.clone(), script.clone());
            async move {
                let answered = script.lock().expect("lock").pop_front().unwrap_or(200);
                record.lock().expect("lock").push(Got {
                    uri: uri.to_string(),
                    headers,
                    body: body.to_vec(),
                    answered,
                });
                StatusCode::from_u16(answered).unwrap_or(StatusCode::OK)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, got }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().expect("lock").clone()
    }

    /// Waits for a request whose JSON body `matches`.
    async fn wait_for(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Got {
        wait_until(what, CONVERGE, || async {
            self.got()
                .into_iter()
                .find(|g| matches(&g.json()))
                .ok_or_else(|| format!("got {:?}", self.bodies()))
        })
        .await
    }

    fn bodies(&self) -> Vec<String> {
        self.got()
            .iter()
            .map(|g| String::from_utf8_lossy(&g.body).into_owned())
            .collect()
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

const SECRET: &str = "notify-s3cret";

#[tokio::test]
async fn a_deployed_change_is_one_signed_synced_message_and_a_500_is_retried_once() {
    require_docker!();
    let webhook = Receiver::start(&[]).await;
    let slack = Receiver::start(&[500]).await;
    let mut d = Deployment::new("notify");
    let web = d.stack("web");
    let file = format!("{web}/compose.yaml");
    d.repo.write(&file, &stack(""));
    d.repo.commit("A: first");
    let urls = format!(
        "webhook+http://127.0.0.1:{}/hooks/docker-cd,slack+http://127.0.0.1:{}/services/T0/B0/XXtoken",
        webhook.port, slack.port
    );
    let api = d.start(&[
        ("NOTIFY_URLS", &urls),
        ("NOTIFY_SECRET", SECRET),
        ("EXTERNAL_URL", "https://cd.example.com"),
    ]);
    api.wait_status(&web, "synced", CONVERGE).await;

    d.repo
        .write(&file, &stack("    environment:\n      RELEASE: \"2\"\n"));
    let b = d.repo.commit_as("Grace Hopper", "B: release 2");
    refresh(&api).await;
    api.wait_status(&web, "synced", CONVERGE).await;
    let got = webhook
        .wait_for("the synced message of B", |j| j["revision"] == b.as_str())
        .await;
    // A moment for any second message of B to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let of_b: Vec<Got> = webhook
        .got()
        .into_iter()
        .filter(|g| g.json()["revision"] == b.as_str())
        .collect();
    assert_eq!(of_b.len(), 1, "one message for B: {:?}", webhook.bodies());
    let body = got.json();
    eprintln!("webhook got: {body}");
    assert_eq!(got.uri, "/hooks/docker-cd");
    assert_eq!(got.header("content-type"), "application/json");
    assert_eq!(
        got.header("x-signature"),
        format!("sha256={}", hmac_hex(SECRET, &got.body))
    );
    assert_eq!(body["event"], "synced");
    assert_eq!(body["stack"], web.as_str());
    assert_eq!(body["status"], "synced");
    assert_eq!(body["revision_short"], &b[..7]);
    assert_eq!(body["commit"]["subject"], "B: release 2");
    assert_eq!(body["commit"]["author"], "Grace Hopper");
    assert_eq!(body["instance"], d.instance.as_str());
    assert_eq!(
        body["dashboard_url"],
        format!("https://cd.example.com/#/stacks/{web}")
    );
    assert!(
        body["time"]
            .as_str()
            .is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()),
        "{body}"
    );

    // Slack answered the first request (A's synced) 500: it came again, once.
    let s = slack
        .wait_for("B on slack", |j| {
            j["text"].as_str().is_some_and(|t| t.contains(&b[..7]))
        })
        .await;
    eprintln!("slack got: {}", String::from_utf8_lossy(&s.body));
    let answers: Vec<(u16, Vec<u8>)> = slack
        .got()
        .into_iter()
        .map(|g| (g.answered, g.body))
        .collect();
    assert_eq!(answers[0].0, 500, "{answers:?}");
    assert_eq!(
        answers[1],
        (200, answers[0].1.clone()),
        "the same message, delivered"
    );
    let delivered_first = answers
        .iter()
        .filter(|(code, body)| *code == 200 && *body == answers[0].1)
        .count();
    assert_eq!(delivered_first, 1);
    assert_eq!(
        api.metric_sum(
            "dockercd_notifications_total{",
            &["outcome=\"retried\"", "target=\"slack://127.0.0.1"]
        )
        .await,
        1.0
    );
    let logs = d.logs();
    assert!(
        !logs.contains("XXtoken") && !logs.contains(SECRET),
        "a token in the logs"
    );
}

#[tokio::test]
async fn a_failing_revision_sends_its_failed_gate() {
    require_docker!();
    let receiver = Receiver::start(&[]).await;
    let mut d = Deployment::new("nfail");
    let web = d.stack("web");
    let file = format!("{web}/compose.yaml");
    d.repo.write(&file, &stack(""));
    d.repo.commit("A: healthy");
    let urls = format!("webhook+http://127.0.0.1:{}/in", receiver.port);
    let api = d.start(&[("NOTIFY_URLS", &urls), ("NOTIFY_EVENTS", "all")]);
    api.wait_status(&web, "synced", CONVERGE).await;
    d.repo.write(&file, &stack(FAILING));
    let b = d.repo.commit("B: its healthcheck fails");
    refresh(&api).await;
    api.wait_status(&web, "failed", CONVERGE).await;
    let gate = receiver
        .wait_for("gate-failed of B", |j| {
            j["event"] == "gate-failed" && j["revision"] == b.as_str()
        })
        .await
        .json();
    eprintln!("gate-failed: {gate}");
    assert_eq!(
        (gate["status"].as_str(), gate["severity"].as_str()),
        (Some("failed"), Some("failure"))
    );
    assert!(
        gate["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("health gate failed: web:")),
        "{gate}"
    );
    let started = receiver
        .got()
        .iter()
        .any(|g| g.json()["event"] == "started" && g.json()["revision"] == b.as_str());
    assert!(
        started,
        "NOTIFY_EVENTS=all sends started: {:?}",
        receiver.bodies()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let failures = receiver
        .got()
        .iter()
        .filter(|g| g.json()["severity"] == "failure")
        .count();
    assert_eq!(
        failures,
        1,
        "the failed status of a failed gate is the same news: {:?}",
        receiver.bodies()
    );
}

#[tokio::test]
async fn a_dead_target_does_not_delay_reconciles() {
    require_docker!();
    // Accepts connections (the kernel's backlog) and never answers: each try
    // hangs for the request timeout (10 s).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let refused = crate::support::free_port();
    let mut d = Deployment::new("ndead");
    let web = d.stack("web");
    let file = format!("{web}/compose.yaml");
    d.repo.write(&file, &stack(""));
    d.repo.commit("A");
    let urls = format!(
        "webhook+http://127.0.0.1:{silent_port}/never,gotify+http://127.0.0.1:{refused}/AppToken"
    );
    let api = d.start(&[("NOTIFY_URLS", &urls), ("NOTIFY_EVENTS", "all")]);
    api.wait_status(&web, "synced", CONVERGE).await;
    let mut took = Vec::new();
    for n in 2..=4 {
        d.repo.write(
            &file,
            &stack(&format!("    environment:\n      RELEASE: \"{n}\"\n")),
        );
        let revision = d.repo.commit(&format!("release {n}"));
        let started = Instant::now();
        refresh(&api).await;
        api.wait_stack(&web, "the new revision synced", CONVERGE, |s| {
            s["status"] == "synced" && s["synced_revision"] == revision.as_str()
        })
        .await;
        took.push(started.elapsed());
    }
    eprintln!("changes synced with a dead target after {took:?}");
    // Each change makes 2 messages per target: waiting on the silent one
    // would take 10 s a request.
    assert!(took.iter().all(|t| *t < Duration::from_secs(8)), "{took:?}");
    drop(silent);
}
