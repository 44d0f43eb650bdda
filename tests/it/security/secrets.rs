//! Items 7, 8 (colours) and 10: secrets stay out of children, logs and plain HTTP.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::process::DockerCd;
use crate::support::repo::TestRepo;
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
        assert!(
            env.lines().any(|l| l.starts_with("RECONCILE_ENABLED=")),
            "{child}: the dump holds the inherited environment:\n{env}"
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
