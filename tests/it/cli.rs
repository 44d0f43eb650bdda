//! The command line contract: settings, exit codes, health, graceful shutdown.

use std::time::Duration;

use rstest::rstest;

use crate::support;
use crate::support::process::{DockerCd, Exit};

/// Runs the binary with `envs` (plus a valid repo unless overridden) until it exits.
fn run_with(envs: &[(&str, &str)]) -> Exit {
    DockerCd::builder()
        .env("GIT_REPO_URL", ".")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .envs(envs)
        .run_to_exit()
}

/// docker-cd serving on a repository that is never read (`.`).
fn serve(envs: &[(&str, &str)]) -> DockerCd {
    DockerCd::builder()
        .env("GIT_REPO_URL", ".")
        .envs(envs)
        .start()
}

#[test]
fn missing_repo_url_exits_2_naming_it() {
    let out = DockerCd::builder().run_to_exit();
    let stderr = out.stderr;
    assert_eq!(out.code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "one line, got {stderr:?}");
    assert!(stderr.contains("GIT_REPO_URL"), "{stderr}");
}

#[rstest]
#[case("plann", "did you mean 'plan'?")]
#[case("help", "the commands are status, plan")]
fn a_mistyped_command_exits_1_not_2(#[case] word: &str, #[case] said: &str) {
    // Exit 2 is what a CI script reads as "plan: changes".
    let out = DockerCd::builder().arg(word).run_to_exit();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains(said), "{}", out.stderr);
}

#[rstest]
#[case("GIT_REPO_URL", "ftp://example.com/repo.git")]
#[case("GIT_REPO_URL", "https://user:pass@example.com/repo.git")]
#[case("GIT_REF", "bad ref")]
#[case("GIT_ACCESS_TOKEN", " ")]
#[case("GIT_ALLOW_INSECURE_HTTP", "perhaps")]
#[case("GIT_USERNAME", "a:b")]
#[case("GIT_SSH_KEY_FILE", "/nonexistent/key")]
#[case("DEPLOY_DIR", "../outside")]
#[case("POLL_INTERVAL", "banana")]
#[case("WEBHOOK_SECRET", "")]
#[case("RECONCILE_ENABLED", "perhaps")]
#[case("RECONCILE_REMOVE_ENABLED", "perhaps")]
#[case("DRIFT_POLICY", "ignore")]
#[case("LISTEN_ADDR", "not-an-address")]
#[case("EXTERNAL_URL", "cd.example.com")]
#[case("DATA_DIR", "")]
#[case("COMPOSE_COMMAND", " ")]
#[case("INSTANCE_NAME", "has space")]
#[case("RECONCILE_CONCURRENCY", "0")]
#[case("API_TOKEN", "")]
#[case("LOG_FORMAT", "xml")]
#[case("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318")]
#[case("DOCKER_HOST", "/var/run/docker.sock")]
#[case("RUST_LOG", "info,[")]
#[case("NOTIFY_URLS", "pagerduty://events.pagerduty.com/x")]
#[case("NOTIFY_URLS", "slack://hooks.slack.com")]
#[case("NOTIFY_URLS", "slack://hooks.slack.com/services/TSEKRIT")]
#[case("NOTIFY_URLS", "discord://discord.com/api/webhooks/123")]
#[case("NOTIFY_EVENTS", "ALL,bogus")]
#[case(
    "NOTIFY_URLS",
    "slack://hooks.slack.com/services/T/B/X,ntfy://ntfy.sh/"
)]
#[case("NOTIFY_SECRET", "")]
#[case("NOTIFY_EVENTS", "synced,bogus")]
fn bad_setting_exits_2_with_one_line_naming_it(#[case] setting: &str, #[case] value: &str) {
    let Exit { code, stderr, .. } = run_with(&[(setting, value)]);
    assert_eq!(code, Some(2), "{setting}={value:?}: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{setting}: one line, got {stderr:?}"
    );
    assert!(stderr.contains(setting), "{setting}: {stderr}");
}

#[test]
fn bad_flag_value_names_the_setting_too() {
    let out = DockerCd::builder()
        .args(&["--git-repo-url", ".", "--poll-interval", "banana"])
        .run_to_exit();
    let stderr = out.stderr;
    assert_eq!(out.code, Some(2));
    assert!(
        stderr.contains("POLL_INTERVAL") && stderr.contains("banana"),
        "{stderr}"
    );
}

#[test]
fn a_bad_notify_url_names_its_entry_and_not_its_token() {
    let Exit { code, stderr, .. } = run_with(&[(
        "NOTIFY_URLS",
        "slack://hooks.slack.com/services/T/B/XXs3cr3t,gotify://push.example.com",
    )]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        "error: NOTIFY_URLS (--notify-urls): entry 2: gotify://push.example.com/…: the application token is missing: gotify://host/<token>"
    );
    let Exit { stderr, .. } = run_with(&[(
        "NOTIFY_URLS",
        "slack://hooks.slack.com:99999/services/T/B/XXs3cr3t",
    )]);
    assert!(
        stderr.contains("entry 1: slack://…") && !stderr.contains("s3cr3t"),
        "{stderr}"
    );
}

#[test]
fn secrets_are_not_echoed_in_help() {
    let out = DockerCd::builder()
        .env("GIT_ACCESS_TOKEN", "s3cr3t-token")
        .env("API_TOKEN", "api-s3cr3t")
        .arg("--help")
        .run_to_exit();
    let stdout = out.stdout;
    assert_eq!(out.code, Some(0));
    assert!(
        stdout.contains("GIT_ACCESS_TOKEN"),
        "help lists every setting"
    );
    assert!(
        !stdout.contains("s3cr3t"),
        "help must not show secret values:\n{stdout}"
    );
}

#[test]
fn help_lists_every_contract_setting() {
    let stdout = DockerCd::builder().arg("--help").run_to_exit().stdout;
    for setting in [
        "GIT_REPO_URL",
        "GIT_REF",
        "GIT_ACCESS_TOKEN",
        "GIT_ALLOW_INSECURE_HTTP",
        "GIT_USERNAME",
        "GIT_SSH_KEY_FILE",
        "DEPLOY_DIR",
        "POLL_INTERVAL",
        "WEBHOOK_SECRET",
        "RECONCILE_ENABLED",
        "RECONCILE_REMOVE_ENABLED",
        "DRIFT_POLICY",
        "LISTEN_ADDR",
        "DATA_DIR",
        "COMPOSE_COMMAND",
        "INSTANCE_NAME",
        "RECONCILE_CONCURRENCY",
        "API_TOKEN",
        "LOG_FORMAT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "DOCKER_HOST",
        "EXTERNAL_URL",
    ] {
        assert!(stdout.contains(setting), "--help misses {setting}");
    }
}

#[tokio::test]
async fn healthz_answers_then_sigterm_exits_0() {
    let mut app = serve(&[]);
    let response = support::http()
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("GET /healthz");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"status": "ok"}));

    let missing = support::http()
        .get(app.url("/no/such/route"))
        .send()
        .await
        .expect("GET");
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.expect("json error");
    assert!(
        body["error"].is_string(),
        "errors are {{\"error\": …}}: {body}"
    );

    app.signal("TERM");
    let status = app.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", app.logs());
}

#[tokio::test]
async fn sigint_also_exits_0() {
    let mut app = serve(&[]);
    app.signal("INT");
    assert_eq!(
        app.wait_exit(Duration::from_secs(20)).code(),
        Some(0),
        "{}",
        app.logs()
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let mut app = serve(&[("LOG_FORMAT", "json")]);
    app.signal("TERM");
    app.wait_exit(Duration::from_secs(20));
    let logs = app.logs();
    assert!(!logs.trim().is_empty());
    for line in logs.lines() {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
    }
}

#[test]
fn healthcheck_subcommand_probes_the_running_process() {
    let app = serve(&[]);
    let listen = app.base_url.trim_start_matches("http://").to_string();
    let healthy = DockerCd::builder()
        .env("LISTEN_ADDR", &listen)
        .arg("healthcheck")
        .run_to_exit();
    assert_eq!(healthy.code, Some(0), "{}", healthy.stderr);

    let closed = format!("127.0.0.1:{}", support::free_port());
    let unhealthy = DockerCd::builder()
        .env("LISTEN_ADDR", &closed)
        .arg("healthcheck")
        .run_to_exit();
    assert_eq!(unhealthy.code, Some(1));
    assert!(unhealthy.stderr.starts_with("unhealthy: "));
}
