//! Faults with real components: a Git remote that vanishes, a crash in the
//! middle of an apply, rewritten history, a symlink out of the repository.
//! (A Docker outage is in `reconcile.rs`; webhook floods in `desired_state.rs`.)

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment, refresh};
use crate::support::process::DockerCd;
use crate::support::wait::wait_until;

#[tokio::test]
async fn a_vanished_git_remote_removes_nothing_even_with_removal_enabled() {
    require_docker!();
    let mut d = Deployment::new("gitgone");
    d.write_stack("a", &["a"]).write_stack("b", &["b"]);
    d.repo.commit("two stacks");
    let api = d.start(&[("RECONCILE_REMOVE_ENABLED", "true")]);
    let (a, b) = (d.stack("a"), d.stack("b"));
    api.wait_status(&a, "synced", CONVERGE).await;
    api.wait_status(&b, "synced", CONVERGE).await;

    let moved = d.repo.path().with_extension("gone");
    std::fs::rename(d.repo.path(), &moved).expect("take the remote away");
    let after = api.refresh().await;
    assert_eq!(after["last"]["outcome"], "failed", "{after}");
    // Reconcile both stacks again while the remote is gone: a wrong removal
    // would happen in these passes.
    let reconciles = api.metric_sum("dockercd_reconcile_total{", &[]).await;
    for name in [&a, &b] {
        let (status, _) = api
            .post(&format!("/api/stacks/{name}/sync"), &[], b"")
            .await;
        assert_eq!(status, 202);
    }
    wait_until("both syncs reconciled", CONVERGE, || async {
        let now = api.metric_sum("dockercd_reconcile_total{", &[]).await;
        if now >= reconciles + 2.0 {
            Ok(())
        } else {
            Err(format!("{now} reconciles, {reconciles} before the syncs"))
        }
    })
    .await;
    std::fs::rename(&moved, d.repo.path()).expect("restore the remote");
    for (short, name) in [("a", &a), ("b", &b)] {
        assert_eq!(d.containers(short).len(), 1, "{name} still runs");
        assert_eq!(api.stack(name).await.expect("stack")["status"], "synced");
    }
}

#[tokio::test]
async fn killed_mid_apply_it_converges_after_a_restart_without_duplicates() {
    require_docker!();
    let mut d = Deployment::new("crash");
    d.write_stack("web", &["web", "worker", "cron"]);
    d.repo.commit("three services");
    let api = d.start(&[]);
    let web = d.stack("web");
    // Kill as soon as the apply has started (compose is running).
    api.wait_stack(&web, "the apply to start", CONVERGE, |s| {
        s["status"] == "syncing" || s["status"] == "synced"
    })
    .await;
    d.kill();

    let api = d.start(&[]);
    api.wait_status(&web, "synced", CONVERGE).await;
    let rows = d.containers("web");
    let services: Vec<&str> = rows.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(
        services,
        ["cron", "web", "worker"],
        "one container each: {rows:?}"
    );
    assert!(
        rows.iter().all(|(_, _, state)| state == "running"),
        "{rows:?}"
    );
}

#[tokio::test]
async fn rewritten_history_is_followed() {
    require_docker!();
    let mut d = Deployment::new("rewrite");
    d.write_stack("web", &["web"]);
    let first = d.repo.commit("web");
    d.write_stack("web", &["web", "extra"]);
    d.repo.commit("extra");
    let api = d.start(&[("RECONCILE_ENABLED", "false")]);
    api.wait_status(&d.stack("web"), "missing", CONVERGE).await;

    d.repo.git(&["reset", "-q", "--hard", &first]);
    d.write_stack("web", &["web", "other"]);
    let rewritten = d.repo.commit("history rewritten (force push)");
    refresh(&api).await;
    let stacks = api.stacks().await;
    assert_eq!(stacks["revision"], rewritten);
}

#[tokio::test]
async fn a_symlink_out_of_the_repository_fails_that_stack_only() {
    require_docker!();
    let mut d = Deployment::new("symlink");
    d.write_stack("ok", &["ok"]).write_stack("evil", &["evil"]);
    let evil = d.stack("evil");
    std::os::unix::fs::symlink("/etc", d.repo.path().join(&evil).join("config")).expect("symlink");
    d.repo.commit("a stack with a link to /etc");
    let api = d.start(&[("RECONCILE_ENABLED", "false")]);
    let failed = api.wait_status(&evil, "failed", CONVERGE).await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("config") && error.contains("/etc"),
        "{failed}"
    );
    api.wait_status(&d.stack("ok"), "missing", CONVERGE).await;
    let (_, refresh) = api.get("/api/refresh").await;
    assert_eq!(
        refresh["last"]["outcome"], "completed",
        "the refresh itself succeeds"
    );
}

/// Until a Git snapshot is read, a stack seen only in Docker is `unknown`,
/// never `orphaned`: here the Git server accepts the connection and never
/// answers. The status is counted in `dockercd_stacks`, the stack's containers
/// are left alone, and docker-cd is not ready.
#[tokio::test]
async fn a_running_stack_is_unknown_while_git_never_answers() {
    require_docker!();
    let mut d = Deployment::new("unknown");
    d.write_stack("web", &["web"]);
    d.repo.commit("one stack");
    let api = d.start(&[]);
    let web = d.stack("web");
    api.wait_status(&web, "synced", CONVERGE).await;
    let before = d.containers("web");
    d.stop();

    // Accepted by the kernel (the backlog), never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = silent.local_addr().expect("address").port();
    let mut app = DockerCd::builder()
        .env("GIT_REPO_URL", format!("http://127.0.0.1:{port}/repo.git"))
        .env("POLL_INTERVAL", "0")
        .env("INSTANCE_NAME", &d.instance)
        .start();
    let api = app.api();
    let unknown = api.wait_status(&web, "unknown", CONVERGE).await;
    assert_eq!(unknown["desired"], false, "{unknown}");
    assert!(
        unknown["error"]
            .as_str()
            .is_some_and(|e| e.contains("no Git snapshot")),
        "{unknown}"
    );
    let counted = api
        .metric_sum("dockercd_stacks{", &["status=\"unknown\""])
        .await;
    assert_eq!(counted, 1.0);
    let (ready, _) = api.get("/readyz").await;
    assert_eq!(ready, 503);
    let listed = api.stacks().await;
    let statuses: Vec<&str> = listed["stacks"]
        .as_array()
        .expect("stacks")
        .iter()
        .filter_map(|s| s["status"].as_str())
        .collect();
    assert_eq!(statuses, ["unknown"], "{listed}");
    assert_eq!(d.containers("web"), before, "nothing was done to it");
    // A fetch that hangs does not hold the exit (Git's own timeout is 30 s).
    app.signal("TERM");
    let status = app.wait_exit(std::time::Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", app.logs());
    drop(silent);
}
