//! Issue 14, items 3 and 4, and issue 22's LOW items: cross-site requests,
//! Host checks, timeouts and connection caps.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support::process::DockerCd;
use crate::support::repo::TestRepo;
use crate::support::wait::{holds_for, poll_until, wait_until};

/// The server's header-read timeout (10 s), with room for a loaded machine.
const CLOSED_WITHIN: Duration = Duration::from_secs(20);

/// Past this many event streams the next one is refused.
const MAX_SUBSCRIBERS: usize = 64;

/// Connections the server serves at once.
const MAX_CONNECTIONS: usize = 256;

/// A server with defaults but for a loopback address: no token, nothing deployed by itself.
fn open_server(repo: &TestRepo) -> DockerCd {
    DockerCd::on(repo).env("RECONCILE_ENABLED", "false").start()
}

/// Item 3: a page of another site can neither refresh nor sync, whether the
/// browser marks it with `Sec-Fetch-Site`, only with `Origin`, or both; the
/// dashboard's own origin and a script without either header still can.
#[tokio::test]
async fn cross_site_posts_are_refused_and_queue_nothing() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = open_server(&repo);
    let api = app.api();
    api.wait_status("web", "missing", Duration::from_secs(30))
        .await;
    let (_, before) = api.get("/api/refresh").await;
    let host = app.base_url.trim_start_matches("http://").to_string();
    let text = ("content-type", "text/plain");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let refused: [(&str, Vec<(&str, &str)>); 4] = [
        (
            "/api/refresh",
            vec![
                text,
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        ),
        (
            "/api/stacks/web/sync",
            vec![form, ("origin", "http://evil.example")],
        ),
        (
            "/api/stacks/web/sync",
            vec![form, ("sec-fetch-site", "same-site")],
        ),
        ("/api/refresh", vec![text, ("origin", "null")]),
    ];
    for (path, headers) in &refused {
        let (status, body) = api.post(path, headers, b"x=1").await;
        assert_eq!(status, 403, "{path} {headers:?}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains("cross-site"), "{body}");
    }
    holds_for(
        "nothing queued by refused requests",
        Duration::from_secs(1),
        || async {
            let (_, refresh) = api.get("/api/refresh").await;
            let stack = api.stack("web").await.unwrap_or_default();
            if refresh["last"] == before["last"] && stack["status"] == "missing" {
                Ok(())
            } else {
                Err(format!("refresh {refresh}, stack {stack}"))
            }
        },
    )
    .await;
    assert!(
        !app.logs().contains("manual refresh requested"),
        "{}",
        app.logs()
    );

    let own_origin = app.base_url.clone();
    let same_origin = [
        ("origin", own_origin.as_str()),
        ("host", host.as_str()),
        ("sec-fetch-site", "same-origin"),
    ];
    let (status, body) = api.post("/api/refresh", &same_origin, b"").await;
    assert_eq!(status, 202, "the dashboard's own POST: {body}");
    let (status, body) = api.post("/api/stacks/web/sync", &[], b"").await;
    assert_eq!(status, 202, "a script's POST (no Origin): {body}");
}

/// Item 3: behind a proxy that rewrites `Host` (so a token is needed), a POST
/// from `EXTERNAL_URL`'s origin passes; other origins are still refused.
#[tokio::test]
async fn external_url_origin_may_post() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = DockerCd::on(&repo)
        .env("RECONCILE_ENABLED", "false")
        .env("API_TOKEN", "tok")
        .env("EXTERNAL_URL", "https://cd.example.com/")
        .start();
    let api = app.api();
    let proxied = [
        ("origin", "https://cd.example.com"),
        ("host", "docker-cd:8080"),
        ("authorization", "Bearer tok"),
    ];
    let (status, body) = api.post("/api/refresh", &proxied, b"").await;
    assert_eq!(status, 202, "{body}");
    let other = [
        ("origin", "https://cd.example.com.evil.example"),
        ("authorization", "Bearer tok"),
    ];
    let (status, body) = api.post("/api/refresh", &other, b"").await;
    assert_eq!(status, 403, "{body}");
}

/// Item 3: no page may frame the dashboard (its Apply button) and no answer
/// is sniffed into another type: the dashboard, the API, errors and probes.
#[tokio::test]
async fn every_answer_forbids_framing_and_sniffing() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = open_server(&repo);
    let client = crate::support::http();
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/api/stacks"),
        ("GET", "/api/nosuch"),
        ("GET", "/metrics"),
        ("POST", "/api/refresh"),
    ] {
        let mut request = client.request(method.parse().expect("method"), app.url(path));
        if method == "POST" {
            request = request.header("origin", "http://evil.example");
        }
        let response = request.send().await.expect(path);
        let header = |name: &str| {
            response
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            header("content-security-policy"),
            ["frame-ancestors 'none'"],
            "{method} {path}"
        );
        assert_eq!(
            header("x-content-type-options"),
            ["nosniff"],
            "{method} {path}"
        );
    }
}

/// Item 3: without a token, a rebound DNS name (`Host: evil.example`) gets
/// neither the dashboard nor the API; loopback names, any IP address and
/// `EXTERNAL_URL`'s host do, and probes and `/metrics` answer every `Host`
/// (Prometheus scrapes by service name). With a token the `Host` is free.
#[tokio::test]
async fn unknown_host_names_are_refused_without_a_token() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = DockerCd::on(&repo)
        .env("RECONCILE_ENABLED", "false")
        .env("EXTERNAL_URL", "https://cd.example.com")
        .start();
    let api = app.api();
    let port = app
        .base_url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let client = crate::support::http();
    let status_of = |path: &'static str, host: String| {
        let request = client.get(app.url(path)).header("host", host);
        async move { request.send().await.expect(path).status().as_u16() }
    };
    for path in ["/", "/api/stacks"] {
        for host in [
            format!("evil.example:{port}"),
            "localhost.evil.example".to_string(),
            "docker-cd:8080".to_string(),
        ] {
            assert_eq!(
                status_of(path, host.clone()).await,
                403,
                "{path} Host {host}"
            );
        }
        for host in [
            format!("localhost:{port}"),
            format!("127.0.0.1:{port}"),
            "192.168.1.5:8080".to_string(),
            "[::1]:8080".to_string(),
            "cd.example.com".to_string(),
            "CD.example.com:443".to_string(),
        ] {
            assert_eq!(
                status_of(path, host.clone()).await,
                200,
                "{path} Host {host}"
            );
        }
    }
    let (status, body) = api
        .get_with("/api/stacks", &[("host", "evil.example")])
        .await;
    assert_eq!(status, 403);
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("EXTERNAL_URL") && error.contains("cd.example.com"),
        "{body}"
    );
    for path in ["/metrics", "/healthz", "/readyz"] {
        let status = status_of(path, "docker-cd:8080".to_string()).await;
        assert!(status == 200 || status == 503, "{path}: {status}");
    }
    let (_, body) = api
        .post("/api/webhook", &[("host", "evil.example")], b"{}")
        .await;
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        !error.contains("Host"),
        "the webhook has its own check: {body}"
    );

    let with_token = DockerCd::on(&repo)
        .env("RECONCILE_ENABLED", "false")
        .env("API_TOKEN", "tok")
        .start();
    let (status, body) = with_token
        .api()
        .get_with(
            "/api/stacks",
            &[("host", "evil.example"), ("authorization", "Bearer tok")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Sends `request` as is over a new connection (it must say
/// `Connection: close` or be HTTP/1.0); the status and the body as JSON.
async fn raw(base_url: &str, request: &str) -> (u16, serde_json::Value) {
    let addr = base_url.trim_start_matches("http://");
    let mut socket = TcpStream::connect(addr).await.expect("connect");
    socket
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut answer = Vec::new();
    tokio::time::timeout(CLOSED_WITHIN, socket.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// Issue 22 (LOW): a request that names its host or site twice, an empty
/// `Host`, or an absolute-form target whose authority is not its `Host`, is a
/// 400 saying why, on every route and with a token too: each reader of the
/// request (a proxy, the checks) would otherwise see another value. An
/// absolute-form target is served as its authority, and `Sec-Fetch-Site` is
/// read in any case. Nothing refused reaches a handler.
#[tokio::test]
async fn ambiguous_hosts_and_sites_are_refused() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = open_server(&repo);
    let host = app.base_url.trim_start_matches("http://").to_string();
    let post = |headers: &str| {
        format!(
            "POST /api/refresh HTTP/1.1\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
    };
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n")
    };
    let same_origin = format!("Host: {host}\r\nOrigin: http://{host}\r\n");
    let refused = [
        (
            get(
                "/api/stacks",
                &format!("Host: {host}\r\nHost: evil.example\r\n"),
            ),
            "more than one Host header",
        ),
        (
            post(&format!("{same_origin}Origin: http://evil.example\r\n")),
            "more than one Origin header",
        ),
        (
            post(&format!(
                "{same_origin}Sec-Fetch-Site: same-origin\r\nSec-Fetch-Site: cross-site\r\n"
            )),
            "more than one Sec-Fetch-Site header",
        ),
        (get("/api/stacks", "Host:\r\n"), "empty Host header"),
        (get("/healthz", "Host: \r\n"), "empty Host header"),
        (
            get(
                "http://evil.example/api/stacks",
                &format!("Host: {host}\r\n"),
            ),
            "the request target names \"evil.example\"",
        ),
    ];
    for (request, why) in &refused {
        let (status, body) = raw(&app.base_url, request).await;
        assert_eq!(status, 400, "{request:?}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{request:?}: {body}");
    }
    // Browsers write it lower-case; any other case is the same value.
    let (status, body) = raw(
        &app.base_url,
        &post(&format!("Host: {host}\r\nSec-Fetch-Site: Cross-Site\r\n")),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    // An absolute-form target is served as its authority (RFC 9112 §3.2.2).
    let evil = "GET http://evil.example/api/stacks HTTP/1.0\r\n\r\n";
    let (status, body) = raw(&app.base_url, evil).await;
    assert_eq!(status, 403, "{body}");
    let own = get(
        &format!("http://{host}/api/stacks"),
        &format!("Host: {host}\r\n"),
    );
    let (status, body) = raw(&app.base_url, &own).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !app.logs().contains("manual refresh requested"),
        "{}",
        app.logs()
    );

    let with_token = DockerCd::on(&repo)
        .env("RECONCILE_ENABLED", "false")
        .env("API_TOKEN", "tok")
        .start();
    let request = get("/api/stacks", "Host:\r\nAuthorization: Bearer tok\r\n");
    let (status, body) = raw(&with_token.base_url, &request).await;
    assert_eq!(status, 400, "{body}");
}

/// Item 3: listening beyond loopback without a token is said once at start;
/// loopback, or a token, is not warned about.
#[tokio::test]
async fn open_listen_address_without_token_is_warned_about() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let warning = "listening beyond loopback without API_TOKEN";
    let start = |envs: &[(&str, &str)]| {
        DockerCd::on(&repo)
            .env("RECONCILE_ENABLED", "false")
            .envs(envs)
            .start()
    };
    let open = start(&[("LISTEN_ADDR", "0.0.0.0:0")]);
    let logs = open.logs();
    assert_eq!(logs.matches(warning).count(), 1, "{logs}");
    let line = logs
        .lines()
        .find(|l| l.contains(warning))
        .unwrap_or_default();
    assert!(line.contains("WARN"), "{line}");
    for quiet in [
        start(&[]),
        start(&[("LISTEN_ADDR", "0.0.0.0:0"), ("API_TOKEN", "tok")]),
    ] {
        assert!(!quiet.logs().contains(warning), "{}", quiet.logs());
    }
}

/// Reads `socket` until the server closes it; whether it did before `deadline`.
async fn closed_by(socket: &mut TcpStream, deadline: Instant) -> bool {
    let mut buffer = [0u8; 1024];
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return false;
        };
        match tokio::time::timeout(left, socket.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// Opens `n` connections that send half a request and wait.
async fn slowloris(base_url: &str, n: usize) -> Vec<TcpStream> {
    let addr = base_url.trim_start_matches("http://").to_string();
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let mut socket = TcpStream::connect(&addr).await.expect("connect");
        socket
            .write_all(b"GET /api/stacks HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .expect("send half a request");
        sockets.push(socket);
    }
    sockets
}

/// The process's open file descriptors.
fn fds(app: &DockerCd) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", app.pid()))
        .map(Iterator::count)
        .unwrap_or(0)
}

/// Item 4: connections that never finish their headers (slowloris), and a
/// keep-alive connection left idle, are closed by the server within its
/// header-read timeout; it answers others meanwhile.
#[tokio::test]
async fn unfinished_headers_and_idle_connections_are_closed() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = open_server(&repo);
    let mut sockets = slowloris(&app.base_url, 100).await;
    let opened = Instant::now();
    let mut idle = TcpStream::connect(app.base_url.trim_start_matches("http://"))
        .await
        .expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("request");
    let mut answer = [0u8; 512];
    let read = idle.read(&mut answer).await.expect("answer");
    assert!(
        answer[..read].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &answer[..read]
    );
    let answered = Instant::now();
    let (status, _) = app.api().get("/healthz").await;
    assert_eq!(status, 200, "served beside 100 slow sockets");
    let deadline = opened + CLOSED_WITHIN;
    for (i, socket) in sockets.iter_mut().enumerate() {
        assert!(
            closed_by(socket, deadline).await,
            "socket {i} still open after {CLOSED_WITHIN:?}"
        );
    }
    let slowest = opened.elapsed();
    let idle_deadline = answered + CLOSED_WITHIN;
    assert!(
        closed_by(&mut idle, idle_deadline).await,
        "an idle keep-alive connection stayed open"
    );
    eprintln!(
        "100 slowloris sockets all closed {slowest:?} after opening; idle keep-alive {:?} after its answer",
        answered.elapsed()
    );
}

/// Item 4: past [`MAX_CONNECTIONS`] the server accepts nothing more (its
/// descriptors stop growing) until connections close, and all are released after.
#[tokio::test]
async fn connections_past_the_cap_wait_and_are_released() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = open_server(&repo);
    // Measured with no other client connected: what the engine and Git hold.
    let before = fds(&app);
    let sockets = slowloris(&app.base_url, MAX_CONNECTIONS + 100).await;
    let accepted = wait_until("the cap to fill", Duration::from_secs(5), || async {
        let now = fds(&app);
        if now + 10 >= before + MAX_CONNECTIONS {
            Ok(now)
        } else {
            Err(format!("{before} → {now} fds"))
        }
    })
    .await;
    holds_for(
        "no connection past the cap",
        Duration::from_secs(2),
        || async {
            let now = fds(&app);
            if now < before + MAX_CONNECTIONS + 10 {
                Ok(())
            } else {
                Err(format!("{before} → {now} fds"))
            }
        },
    )
    .await;
    let released = poll_until(Duration::from_secs(40), || async {
        let now = fds(&app);
        if now <= before + 5 { Ok(now) } else { Err(now) }
    })
    .await;
    eprintln!(
        "fds: {before} before, {accepted} with {} sockets, {released:?} after",
        sockets.len()
    );
    assert!(released.is_ok(), "descriptors not released: {released:?}");
    drop(sockets);
}

/// Opens `GET /api/events`; the response, or the status when it is not 200.
async fn subscribe(
    client: &reqwest::Client,
    url: &str,
) -> Result<reqwest::Response, (u16, String)> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| (0, e.to_string()))?;
    if response.status() == 200 {
        return Ok(response);
    }
    let status = response.status().as_u16();
    Err((status, response.text().await.unwrap_or_default()))
}

/// Item 4: past [`MAX_SUBSCRIBERS`] open event streams the next one is a 503
/// with a JSON error; once clients go away their slots serve new ones.
#[tokio::test]
async fn event_streams_past_the_cap_get_503_until_some_close() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = open_server(&repo);
    let url = app.url("/api/events");
    let client = crate::support::http();
    let before = fds(&app);
    let mut streams = Vec::new();
    for i in 0..MAX_SUBSCRIBERS {
        let stream = subscribe(&client, &url).await;
        streams.push(stream.unwrap_or_else(|e| panic!("stream {i}: {e:?}")));
    }
    let (status, body) = subscribe(&client, &url)
        .await
        .map(|_| (200, String::new()))
        .unwrap_or_else(|e| e);
    assert_eq!(status, 503, "stream {}: {body}", MAX_SUBSCRIBERS + 1);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("event streams"),
        "{body}"
    );
    let during = fds(&app);
    drop(streams);
    let again = Instant::now();
    let reopened = wait_until("a slot freed by closed streams", CLOSED_WITHIN, || async {
        subscribe(&client, &url).await.map_err(|e| format!("{e:?}"))
    })
    .await;
    eprintln!(
        "fds {before} → {during} with {MAX_SUBSCRIBERS} streams; a new stream after {:?}",
        again.elapsed()
    );
    drop(reopened);
}

/// Item 4, with the server loop: SIGTERM stops the process gracefully even
/// while a dashboard holds an event stream open.
#[tokio::test]
async fn sigterm_ends_open_event_streams() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let mut app = open_server(&repo);
    let client = crate::support::http();
    let stream = subscribe(&client, &app.url("/api/events"))
        .await
        .expect("an event stream");
    app.signal("TERM");
    let status = app.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", app.logs());
    drop(stream);
}
