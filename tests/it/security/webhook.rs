//! Item 5: webhook signatures before bodies, slow bodies, replayed deliveries.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::process::DockerCd;
use crate::support::repo::TestRepo;
use crate::support::webhook::{self, github_signature, hmac_sha256_hex, push_body};

const SECRET: &str = "webhook-replay-secret";
const MIB_25: usize = 25 * 1024 * 1024;
/// The server's whole-body deadline (`BODY_TIMEOUT`).
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

fn with_secret(repo: &TestRepo) -> DockerCd {
    DockerCd::on(repo)
        .env("RECONCILE_ENABLED", "false")
        .env("WEBHOOK_SECRET", SECRET)
        .start()
}

/// Opens a connection and sends a webhook's request line and `headers`, with
/// a `Content-Length` of `length`, and no body.
async fn send_head(app: &DockerCd, headers: &[(&str, &str)], length: usize) -> TcpStream {
    let address = app.base_url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let mut head = format!(
        "POST /api/webhook HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send head");
    stream
}

/// The status and text of the response on `stream`, or `None` when none
/// came within `timeout`.
async fn response(stream: &mut TcpStream, timeout: Duration) -> Option<(u16, String)> {
    let mut text = Vec::new();
    let read = tokio::time::timeout(timeout, async {
        let mut buffer = [0_u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            text.extend_from_slice(&buffer[..n]);
            // The whole answer is small: one read of its head and JSON is enough
            // once the blank line and a closing brace are in.
            let whole = String::from_utf8_lossy(&text);
            if n == 0 || (whole.contains("\r\n\r\n") && whole.trim_end().ends_with('}')) {
                break;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&text).into_owned();
    if read.is_err() && text.is_empty() {
        return None;
    }
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

/// A request without a signature, or with one that cannot be right whatever
/// the body, is answered 401 from its headers alone: the 25 MiB it announces
/// are never waited for, so it holds none of the four body slots.
#[tokio::test]
async fn an_unsigned_webhook_is_refused_before_its_body_is_read() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = with_secret(&repo);
    let cases: [&[(&str, &str)]; 4] = [
        &[("X-GitHub-Event", "push")],
        &[("X-Hub-Signature-256", "md5=abcd")],
        &[("X-Hub-Signature-256", "sha256=not-hex")],
        &[("X-Gitea-Signature", "zz")],
    ];
    // More connections than body slots: none of them may wait for another.
    let mut streams = Vec::new();
    for headers in cases.iter().chain(cases.iter()) {
        streams.push(send_head(&app, headers, MIB_25).await);
    }
    for (n, stream) in streams.iter_mut().enumerate() {
        let answer = response(stream, Duration::from_secs(5)).await;
        let (status, text) =
            answer.unwrap_or_else(|| panic!("case {n}: no answer without the body"));
        assert_eq!(status, 401, "case {n}: {text}");
        assert!(text.contains("\"error\""), "case {n}: {text}");
    }

    // Measured for the record: the whole 25 MiB sent, unsigned, and how much of
    // it had left the client (into the kernel's buffers) when the 401 came.
    let stream = send_head(&app, &[("X-GitHub-Event", "push")], MIB_25).await;
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let sender = tokio::spawn(async move {
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..MIB_25 / chunk.len() {
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
            counter.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
        }
    });
    let mut head = [0_u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(30), reader.read_exact(&mut head)).await;
    let took = started.elapsed();
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    sender.abort();
    let status = String::from_utf8_lossy(&head);
    eprintln!("unsigned 25 MiB webhook: {status:?} after {took:?}, {sent} bytes written by then");
    assert!(read.is_ok_and(|r| r.is_ok()), "no answer after {took:?}");
    assert_eq!(&head, b"HTTP/1.1 401", "{}", String::from_utf8_lossy(&head));
    assert_eq!(
        app.api()
            .metric_sum(
                "dockercd_webhook_requests_total{",
                &["outcome=\"unauthorized\""]
            )
            .await,
        9.0
    );
}

/// A well-formed signature does not let a client take a body slot forever: a
/// body that trickles in is cut off with 408 once `BODY_TIMEOUT` has passed.
#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off_with_408() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = with_secret(&repo);
    let signature = github_signature(SECRET, b"{}");
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", &signature),
    ];
    let stream = send_head(&app, &headers, 1000).await;
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    // Ten bytes every half second: 50 s for the whole body.
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if writer.write_all(b"          ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let mut text = Vec::new();
    let _ = tokio::time::timeout(BODY_TIMEOUT * 2, reader.read_to_end(&mut text)).await;
    let took = started.elapsed();
    trickle.abort();
    let text = String::from_utf8_lossy(&text);
    eprintln!("trickled body answered after {took:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "after {took:?}: {text:?}");
    assert!(text.contains("\"error\""), "{text}");
    assert!(
        took >= BODY_TIMEOUT - Duration::from_secs(1) && took < BODY_TIMEOUT * 2,
        "{took:?}"
    );
    assert_eq!(
        app.api()
            .metric_sum("dockercd_webhook_requests_total{", &["outcome=\"timeout\""])
            .await,
        1.0
    );
}

/// The headers each forge sends with a push of `body`, its delivery id
/// `delivery` in the forge's own header.
fn push_headers(forge: &str, delivery: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let mut headers = match forge {
        "forgejo" => vec![
            ("X-Forgejo-Event", "push".to_string()),
            ("X-Forgejo-Signature", hmac_sha256_hex(SECRET, body)),
        ],
        "gitlab" => webhook::headers(forge, "Push Hook", SECRET, body),
        _ => webhook::headers(forge, "push", SECRET, body),
    };
    let name = match forge {
        "github" => "X-GitHub-Delivery",
        "gitea" => "X-Gitea-Delivery",
        "forgejo" => "X-Forgejo-Delivery",
        "gitlab" => "X-Gitlab-Event-UUID",
        other => panic!("unknown forge {other}"),
    };
    headers.push((name, delivery.to_string()));
    headers
}

/// A delivery id seen before answers `200 {"status":"duplicate"}` and asks for
/// no refresh; one first seen on a request with a wrong signature is not
/// remembered, so a forger cannot make the real delivery look like a replay.
#[tokio::test]
async fn a_replayed_delivery_is_a_duplicate_and_refreshes_nothing() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = with_secret(&repo);
    let api = app.api();
    let mut last = api.refreshed_after(None).await;
    let body = push_body("refs/heads/main", &repo.head());
    for forge in ["github", "gitea", "forgejo", "gitlab"] {
        let delivery = format!("72d3162e-cc78-11e3-81ab-4c9367dc0958-{forge}");
        let mut forged = push_headers(forge, &delivery, b"another body");
        if forge == "gitlab" {
            forged[1].1 = "not-the-secret".into();
        }
        let (status, answer) = webhook::post(&api, &forged, &body).await;
        assert_eq!(status, 401, "{forge} forged: {answer}");

        let real = push_headers(forge, &delivery, &body);
        let (status, answer) = webhook::post(&api, &real, &body).await;
        assert_eq!(status, 202, "{forge} first delivery: {answer}");
        last = api
            .refreshed_after(last["last"]["finished_at"].as_str())
            .await;
        let refreshes = api
            .metric_sum("dockercd_refresh_total{", &["trigger=\"webhook\""])
            .await;

        let (status, answer) = webhook::post(&api, &real, &body).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("duplicate")),
            "{forge} replay: {answer}"
        );
        let (_, now) = api.get("/api/refresh").await;
        assert_eq!(now["state"], "idle", "{forge}: {now}");
        assert_eq!(now["queued"], false, "{forge}: {now}");
        assert_eq!(now["last"], last["last"], "{forge}: no new refresh");
        assert_eq!(
            api.metric_sum("dockercd_refresh_total{", &["trigger=\"webhook\""])
                .await,
            refreshes,
            "{forge}"
        );
    }
    let outcome = |name: &'static str| {
        let api = &api;
        async move {
            api.metric_sum(
                "dockercd_webhook_requests_total{",
                &[&format!("outcome=\"{name}\"")],
            )
            .await
        }
    };
    assert_eq!(outcome("duplicate").await, 4.0);
    assert_eq!(outcome("accepted").await, 4.0);
    assert_eq!(outcome("unauthorized").await, 4.0);
}
