//! Items 3 and 4: cross-site requests, Host checks, timeouts and connection caps.

use std::time::Duration;

use crate::support::process::DockerCd;
use crate::support::repo::TestRepo;
use crate::support::wait::holds_for;

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
