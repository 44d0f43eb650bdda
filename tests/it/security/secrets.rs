//! Items 7, 8 (colours) and 10: secrets stay out of children, logs and plain
//! HTTP; issue 22 item 6: secret values are masked wherever they appear.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::docker::{TEST_IMAGE, docker_ok};
use crate::support::process::{DockerCd, Exit};
use crate::support::repo::TestRepo;
use crate::support::servers::{Server, require_program};
use crate::support::wait::wait_until;
use crate::support::webhook;

const API_TOKEN: &str = "api-tok-7c1e0b";
const GIT_TOKEN: &str = "git-tok-4d9a22";
const WEBHOOK_SECRET: &str = "hook-sec-81f3e5";
const SECRET_SETTINGS: [(&str, &str); 3] = [
    ("API_TOKEN", API_TOKEN),
    ("GIT_ACCESS_TOKEN", GIT_TOKEN),
    ("WEBHOOK_SECRET", WEBHOOK_SECRET),
];

/// Writes an executable shell script at `path` that saves its environment in
/// `<dumps>/<name>.env`, then runs `real` with its arguments.
fn env_dumping_wrapper(path: &Path, dumps: &Path, name: &str, real: &str) {
    let dump = dumps.join(format!("{name}.env"));
    let script = format!(
        "#!/bin/sh\nenv > '{tmp}'\nmv '{tmp}' '{dump}'\nexec {real} \"$@\"\n",
        tmp = dump.with_extension("tmp").display(),
        dump = dump.display(),
    );
    std::fs::write(path, script).expect("write wrapper");
    crate::support::run_ok(Command::new("chmod").arg("+x").arg(path));
}

/// The real `git-upload-pack`, from git's exec path.
fn real_upload_pack() -> PathBuf {
    let exec_path = crate::support::run_ok(Command::new("git").arg("--exec-path"));
    Path::new(exec_path.trim()).join("git-upload-pack")
}

/// Item 7: the secret settings are gone from docker-cd's environment once it
/// has read them, so neither the `git-upload-pack` that a refresh of a local
/// repository starts nor compose inherits them; docker-cd still knows them
/// (the token and the webhook secret still work).
#[tokio::test]
async fn no_child_process_inherits_a_secret_setting() {
    let dumps = tempfile::tempdir().expect("tempdir");
    let bin = dumps.path().join("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    // First on PATH: gix runs `git-upload-pack` from PATH for a local repository.
    env_dumping_wrapper(
        &bin.join("git-upload-pack"),
        dumps.path(),
        "git-upload-pack",
        &real_upload_pack().display().to_string(),
    );
    let compose = std::env::var("COMPOSE_COMMAND")
        .ok()
        .filter(|c| !c.trim().is_empty() && c.trim() != "auto")
        .unwrap_or_else(|| "docker compose".into());
    env_dumping_wrapper(&bin.join("compose"), dumps.path(), "compose", &compose);

    let repo = TestRepo::with_stack("web", &["web"]);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let app = DockerCd::on(&repo)
        .env("PATH", &path)
        .env("COMPOSE_COMMAND", bin.join("compose"))
        .env("RECONCILE_ENABLED", "false")
        .envs(&SECRET_SETTINGS)
        .start();
    let api = app.api();

    for child in ["git-upload-pack", "compose"] {
        let file = dumps.path().join(format!("{child}.env"));
        let env = wait_until(
            &format!("{child} to have run"),
            Duration::from_secs(30),
            || async { std::fs::read_to_string(&file).map_err(|e| format!("{e}\n{}", app.logs())) },
        )
        .await;
        // git inherits docker-cd's environment (so the dump proves the secrets
        // were removed from it); compose gets a minimal one (item 22.4).
        let inherited = env.lines().any(|l| l.starts_with("RECONCILE_ENABLED="));
        assert_eq!(
            inherited,
            child == "git-upload-pack",
            "{child}: the dump holds the inherited environment:\n{env}"
        );
        assert!(
            env.lines().any(|l| l.starts_with("PATH=")),
            "{child}: {env}"
        );
        for (name, value) in SECRET_SETTINGS {
            assert!(
                !env.lines().any(|l| l.starts_with(&format!("{name}="))) && !env.contains(value),
                "{child} inherited {name}:\n{env}"
            );
        }
    }

    // Kept in memory: the API still asks for the token, the webhook still verifies.
    let bearer = format!("Bearer {API_TOKEN}");
    assert_eq!(api.get("/api/stacks").await.0, 401);
    assert_eq!(
        api.get_with("/api/stacks", &[("Authorization", &bearer)])
            .await
            .0,
        200
    );
    let headers = webhook::headers("github", "ping", WEBHOOK_SECRET, b"{}");
    let (status, answer) = webhook::post(&api, &headers, b"{}").await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("pong")));
}

/// Item 8: logs that go to a pipe (a file, journald, a collector) are plain
/// text, without ANSI colour codes.
#[tokio::test]
async fn logs_to_a_pipe_have_no_colour_codes() {
    let repo = TestRepo::with_stack("web", &["web"]);
    let app = DockerCd::on(&repo)
        .env("RECONCILE_ENABLED", "false")
        .start();
    app.api().refreshed_after(None).await;
    let logs = app.logs();
    assert!(logs.contains("INFO"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escapes in the logs:\n{logs:?}"
    );
}

/// Item 10: a token for a plain `http://` remote is refused at start, in one
/// line that names the settings involved and not the token.
#[test]
fn a_token_over_plain_http_is_refused_at_start() {
    let Exit { code, stderr, .. } = DockerCd::builder()
        .env("GIT_REPO_URL", "http://127.0.0.1:9/repo.git")
        .env("GIT_ACCESS_TOKEN", GIT_TOKEN)
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .run_to_exit();
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    for name in [
        "GIT_ACCESS_TOKEN",
        "GIT_REPO_URL",
        "GIT_ALLOW_INSECURE_HTTP=true",
    ] {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    assert!(!stderr.contains(GIT_TOKEN), "{stderr}");
}

/// Item 10: with `GIT_ALLOW_INSECURE_HTTP=true` the operator accepts it: the
/// token goes over http to a real server, the stack is deployed, and the log
/// says the token travelled in clear text.
#[tokio::test]
async fn with_git_allow_insecure_http_a_token_over_http_deploys() {
    crate::require_docker!();
    if !require_program("nginx") || !require_program("fcgiwrap") {
        return;
    }
    let server = Server::http_backend("x-access-token", GIT_TOKEN);
    let mut d = Deployment::new("insecure");
    let web = d.stack("web");
    d.write_stack("web", &["web"]);
    d.repo.commit("web");
    server.publish(d.repo.path(), "repo.git");
    let url = format!("http://127.0.0.1:{}/repo.git", server.port);
    let api = d.start(&[
        ("GIT_REPO_URL", &url),
        ("GIT_ACCESS_TOKEN", GIT_TOKEN),
        ("GIT_ALLOW_INSECURE_HTTP", "true"),
    ]);
    api.wait_status(&web, "synced", CONVERGE).await;
    let logs = d.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains("clear text")),
        "{logs}"
    );
    assert!(!logs.contains(GIT_TOKEN), "{logs}");
}

/// The secrets of the first revision of the `app` stack, then of the second.
const OLD_SECRETS: [&str; 8] = [
    "pw-secret-1",
    "pw-secret-2",
    "sa-secret-3",
    "build-token-4",
    "dotenv-secret-5",
    "tok-secret-6",
    "dsn-secret-7",
    "bearer-secret-8",
];
const NEW_SECRETS: [&str; 8] = [
    "pw-rotated-1",
    "pw-rotated-2",
    "sa-rotated-3",
    "build-rotated-4",
    "dotenv-rotated-5",
    "tok-rotated-6",
    "dsn-rotated-7",
    "bearer-rotated-8",
];

/// A stack that shows its secrets outside their keys, as published compose
/// files do: a password in a URL and in a label's URL, a build arg, an SQL
/// Server password repeated in `command:` and in the healthcheck, a value
/// from `.env` through a secret-named variable, a password inside a DSN, a
/// bearer token in a header value.
fn leaky_stack(s: &[&str; 8]) -> (String, String) {
    let compose = format!(
        "services:
  db:
    image: {TEST_IMAGE}
    network_mode: bridge
    build:
      context: .
      args:
        NPM_TOKEN: {build}
    environment:
      DATABASE_URL: postgres://u:{url}@h/db
      SA_PASSWORD: {sa}
      PRIVATE: ${{DB_PASSWORD}}
      DSN: user=app password={dsn} host=db
      HEADER: Bearer {bearer}
    labels:
      cache: redis://:{label}@r
    command: [serve, /opt/mssql-tools/bin/sqlcmd, -S, localhost, -U, sa, -P, {sa}]
    healthcheck:
      test: [CMD-SHELL, 'test -e /tmp/healthy || /opt/mssql-tools/bin/sqlcmd -U sa -P {sa} -Q \"SELECT 1\"']
      interval: 1s
",
        build = s[3],
        url = s[0],
        sa = s[2],
        label = s[1],
        dsn = s[6],
        bearer = s[7],
    );
    (compose, format!("DB_PASSWORD={}\n", s[4]))
}

/// A stack whose `compose up` fails with Docker echoing a secret: a user taken
/// from a secret-named variable, unknown in the image.
fn failing_stack(token: &str) -> (String, String) {
    let compose = format!(
        "services:\n  web:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n    user: ${{APP_TOKEN}}\n"
    );
    (compose, format!("APP_TOKEN={token}\n"))
}

/// Fails naming `what` when any of `secrets` shows in `text`.
fn assert_hidden(what: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
}

/// Issue 22, item 6: every secret value — under a secret key in the compose
/// file or `.env`, or a URL's password — is masked wherever it shows: the
/// compose view, the plan (old and new), the stack, its history, the events,
/// the logs, and the error of a compose run that echoed it.
#[tokio::test]
async fn secret_values_are_masked_wherever_they_appear() {
    crate::require_docker!();
    let mut d = Deployment::new("redact");
    let (app, broken) = (d.stack("app"), d.stack("broken"));
    let write = |d: &Deployment, s: &[&str; 8]| {
        let (compose, dotenv) = leaky_stack(s);
        d.repo
            .write(&format!("{app}/compose.yaml"), &compose)
            .write(&format!("{app}/.env"), &dotenv);
        let (compose, dotenv) = failing_stack(s[5]);
        d.repo
            .write(&format!("{broken}/compose.yaml"), &compose)
            .write(&format!("{broken}/.env"), &dotenv);
    };
    write(&d, &OLD_SECRETS);
    d.repo.commit("stacks with secrets outside their keys");
    let api = d.start(&[]);
    let mut events = api.events().await;

    api.wait_status(&app, "synced", CONVERGE).await;
    let failed = api.wait_status(&broken, "failed", CONVERGE).await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("(redacted)"),
        "the error names the user: {error}"
    );
    let event = events
        .wait_for("stack", CONVERGE, |e| {
            e["name"] == broken.as_str() && e["error"].is_string()
        })
        .await;
    let mut shown = vec![("the failed stack's event", event.to_string())];
    for stack in [&app, &broken] {
        for path in [
            format!("/api/stacks/{stack}"),
            format!("/api/stacks/{stack}/history"),
            format!("/api/stacks/{stack}/compose"),
        ] {
            shown.push(("the first run's API", api.get(&path).await.1.to_string()));
        }
    }
    let env = docker_ok(&[
        "inspect",
        "-f",
        "{{json .Config.Env}}",
        &d.containers("app")[0].1,
    ]);
    assert!(
        env.contains("dotenv-secret-5"),
        "deployed as written: {env}"
    );
    shown.push(("the first run's log", d.logs()));
    d.stop();

    write(&d, &NEW_SECRETS);
    d.repo.commit("rotate every secret");
    let api = d.start(&[("RECONCILE_ENABLED", "false")]);
    api.refreshed_after(None).await;
    api.wait_ready().await;
    let (status, plan) = api.post(&format!("/api/stacks/{app}/plan"), &[], b"").await;
    assert_eq!(status, 200, "{plan}");
    let plan = plan.to_string();
    for field in [
        "environment.DATABASE_URL",
        "command",
        "healthcheck",
        "labels.cache",
    ] {
        assert!(plan.contains(field), "{field} changes: {plan}");
    }
    assert!(plan.contains("(redacted)"), "{plan}");
    shown.push(("the plan", plan));
    let (_, compose) = api.get(&format!("/api/stacks/{app}/compose")).await;
    assert!(
        compose["content"]
            .as_str()
            .is_some_and(|c| c.contains("redis://:(redacted)@r")),
        "{compose}"
    );
    shown.push(("the compose view", compose.to_string()));
    for stack in [&app, &broken] {
        for path in [
            format!("/api/stacks/{stack}"),
            format!("/api/stacks/{stack}/history"),
        ] {
            shown.push(("the second run's API", api.get(&path).await.1.to_string()));
        }
    }
    shown.push(("the second run's log", d.logs()));

    let every: Vec<&str> = OLD_SECRETS.iter().chain(&NEW_SECRETS).copied().collect();
    for (what, text) in &shown {
        assert_hidden(what, text, &every);
    }
}
