//! Items 7, 8 (colours) and 10: secrets stay out of children, logs and plain HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::deployment::{CONVERGE, Deployment};
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
