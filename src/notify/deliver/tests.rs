//! Real HTTP on loopback: a receiver that records what it gets and answers
//! as told, and a lane sending to it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;

use super::*;
use crate::notify::format::tests::message;
use crate::notify::request::signature;
use crate::notify::select::NotifyEvent;
use crate::status::Status;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    uri: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A loopback receiver answering `answers` in turn (then 200).
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    async fn start(answers: &[u16]) -> Self {
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let answers = Arc::new(Mutex::new(
            answers.iter().copied().collect::<VecDeque<u16>>(),
        ));
        let (record, script) = (got.clone(), answers.clone());
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let (record, script) = (record.clone(), script.clone());
            async move {
                record.lock().expect("lock").push(Got {
                    uri: uri.to_string(),
                    headers,
                    body: body.to_vec(),
                });
                let code = script.lock().expect("lock").pop_front().unwrap_or(200);
                StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, got }
    }

    async fn wait_for(&self, count: usize) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.got.lock().expect("lock").clone();
            if got.len() >= count || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

const QUICK: Retry = Retry {
    attempts: 3,
    first: Duration::from_millis(50),
    max: Duration::from_millis(100),
};

/// A running lane to `entry` and the registry of its counts.
fn running(entry: &str, secret: Option<&str>) -> (Arc<Lane>, Registry, CancellationToken) {
    let registry = Registry::new();
    let counts = Counts::register(&registry).expect("series");
    let lane = Arc::new(Lane::new(Target::parse(entry).expect("target"), counts));
    let stop = CancellationToken::new();
    tokio::spawn(lane.clone().run(
        client().expect("client"),
        secret.map(Secret::new),
        QUICK,
        stop.clone(),
    ));
    (lane, registry, stop)
}

fn count(registry: &Registry, outcome: &str) -> u64 {
    registry
        .gather()
        .iter()
        .flat_map(|family| family.get_metric())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "outcome" && l.value() == outcome)
        })
        .map(|m| m.get_counter().get_value() as u64)
        .sum()
}

fn failed_gate() -> Arc<Message> {
    Arc::new(message(
        NotifyEvent::GateFailed,
        Status::Failed,
        Some("health gate failed: web: container is unhealthy"),
    ))
}

/// Sends one message to `path` of a fresh receiver as `scheme` and returns what it got.
async fn one(scheme: &str, userinfo: &str, path: &str, secret: Option<&str>) -> Got {
    let receiver = Receiver::start(&[]).await;
    let entry = format!(
        "{scheme}+http://{userinfo}127.0.0.1:{}{path}",
        receiver.port
    );
    let (lane, _, stop) = running(&entry, secret);
    lane.push(failed_gate());
    let got = receiver.wait_for(1).await;
    stop.cancel();
    let first = got.first().cloned().expect("one request");
    assert_eq!(
        first.header("content-type"),
        Some("application/json"),
        "{scheme}"
    );
    eprintln!(
        "{scheme} {} {}",
        first.uri,
        String::from_utf8_lossy(&first.body)
    );
    first
}

#[tokio::test]
async fn each_service_gets_its_documented_request() {
    let webhook = one("webhook", "", "/hooks/in", Some("s3cret-key")).await;
    assert_eq!(webhook.uri, "/hooks/in");
    let expected = format!(
        "sha256={}",
        signature(&Secret::new("s3cret-key"), &webhook.body)
    );
    assert_eq!(webhook.header("x-signature"), Some(expected.as_str()));
    assert_eq!(webhook.json()["event"], "gate-failed");
    assert_eq!(webhook.json()["commit"]["author"], "Ada Lovelace");

    let slack = one("slack", "", "/services/T0/B0/XXsecret", None).await;
    assert_eq!(slack.uri, "/services/T0/B0/XXsecret");
    assert!(
        slack.json()["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("*[prod-1] web: health gate failed"))
    );

    let discord = one("discord", "", "/api/webhooks/42/d-token", None).await;
    assert_eq!(discord.uri, "/api/webhooks/42/d-token?wait=true");
    assert_eq!(
        discord.json()["embeds"][0]["description"],
        "health gate failed: web: container is unhealthy"
    );

    let ntfy = one("ntfy", ":tk_token1@", "/deploys", None).await;
    assert_eq!(
        (ntfy.uri.as_str(), ntfy.header("authorization")),
        ("/", Some("Bearer tk_token1"))
    );
    assert_eq!(ntfy.json()["topic"], "deploys");

    let gotify = one("gotify", "", "/AppToken9", None).await;
    assert_eq!(
        (gotify.uri.as_str(), gotify.header("x-gotify-key")),
        ("/message", Some("AppToken9"))
    );
    assert_eq!(gotify.json()["priority"], 8);

    let teams = one(
        "teams",
        "",
        "/workflows/w1/triggers/manual/paths/invoke?sig=s1g",
        None,
    )
    .await;
    assert_eq!(
        teams.uri,
        "/workflows/w1/triggers/manual/paths/invoke?sig=s1g"
    );
    assert_eq!(
        teams.json()["attachments"][0]["content"]["type"],
        "AdaptiveCard"
    );

    let apprise = one("apprise", "", "/notify/ops?tag=deploys", None).await;
    assert_eq!(apprise.uri, "/notify/ops");
    assert_eq!(
        (
            apprise.json()["type"].as_str(),
            apprise.json()["tag"].as_str()
        ),
        (Some("failure"), Some("deploys"))
    );
}

#[tokio::test]
async fn a_500_then_200_delivers_the_message_once() {
    let receiver = Receiver::start(&[500]).await;
    let (lane, registry, stop) = running(
        &format!("slack+http://127.0.0.1:{}/services/T/B/X", receiver.port),
        None,
    );
    lane.push(failed_gate());
    let got = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    assert_eq!(
        receiver.got.lock().expect("lock").len(),
        2,
        "one failed try, one delivery"
    );
    assert_eq!(got[0].body, got[1].body, "the same message again");
    assert_eq!(
        (
            count(&registry, "retried"),
            count(&registry, "sent"),
            count(&registry, "failed")
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn a_refusal_is_final_and_a_dead_target_is_given_up() {
    let receiver = Receiver::start(&[400]).await;
    let (lane, registry, stop) = running(
        &format!("slack+http://127.0.0.1:{}/services/T/B/X", receiver.port),
        None,
    );
    lane.push(failed_gate());
    receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.got.lock().expect("lock").len(),
        1,
        "400 is not retried"
    );
    assert_eq!(count(&registry, "failed"), 1);
    stop.cancel();

    // Nothing listens on a port just freed: every try is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let (lane, registry, stop) = running(
        &format!("slack+http://127.0.0.1:{port}/services/T/B/X"),
        None,
    );
    let started = Instant::now();
    lane.push(failed_gate());
    assert!(
        started.elapsed() < Duration::from_millis(5),
        "push never waits"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while count(&registry, "failed") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        (count(&registry, "retried"), count(&registry, "failed")),
        (2, 1)
    );
    stop.cancel();
}

#[tokio::test]
async fn a_full_queue_drops_its_oldest_and_counts_it() {
    let registry = Registry::new();
    let counts = Counts::register(&registry).expect("series");
    let receiver = Receiver::start(&[]).await;
    let target =
        Target::parse(&format!("webhook+http://127.0.0.1:{}/in", receiver.port)).expect("target");
    let lane = Arc::new(Lane::new(target, counts));
    for n in 0..=QUEUE_CAPACITY {
        let mut m = message(NotifyEvent::Failed, Status::Failed, None);
        m.notice.reason = Some(format!("n{n}"));
        lane.push(Arc::new(m));
    }
    assert_eq!(count(&registry, "dropped"), 1);
    let stop = CancellationToken::new();
    tokio::spawn(
        lane.clone()
            .run(client().expect("client"), None, QUICK, stop.clone()),
    );
    let got = receiver.wait_for(QUEUE_CAPACITY).await;
    stop.cancel();
    assert_eq!(got.len(), QUEUE_CAPACITY);
    assert_eq!(got[0].json()["reason"], "n1", "n0, the oldest, was dropped");
    assert_eq!(
        got[QUEUE_CAPACITY - 1].json()["reason"],
        format!("n{QUEUE_CAPACITY}")
    );
}
