//! Desired state from Git, end to end (seed feature 003): the binary against
//! repositories made with the git CLI. `RECONCILE_ENABLED=false` keeps Docker
//! out of the picture: statuses are computed, nothing is applied.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support::docker::TEST_IMAGE;
use crate::support::process::{Builder, DockerCd};
use crate::support::repo::{TestRepo, compose};
use crate::support::wait::wait_until;
use crate::support::webhook::{github, github_signature, push_body};

const SECRET: &str = "webhook-test-secret";

/// A repository with two stacks under `stacks/`.
fn two_stacks() -> TestRepo {
    let repo = TestRepo::new();
    repo.write_stack("stacks/web", &["web"])
        .write(
            "stacks/apps/Hello.v2/docker-compose.yml",
            &compose(TEST_IMAGE, &["hello"]),
        )
        .write("README.md", "not a stack\n");
    repo.commit("two stacks");
    repo
}

/// docker-cd on `repo`: stacks under `stacks/`, nothing applied, webhooks
/// signed with `SECRET`.
fn cd(repo: &TestRepo) -> Builder {
    // Its own instance: the stack list names stacks running with this
    // instance's containers, and the machine may run others (a quick start).
    let instance = format!("desired-{}", std::process::id());
    DockerCd::on(repo)
        .env("INSTANCE_NAME", instance)
        .env("DEPLOY_DIR", "stacks")
        .env("RECONCILE_ENABLED", "false")
        .env("WEBHOOK_SECRET", SECRET)
}

fn names(stacks: &Value) -> Vec<String> {
    stacks["stacks"]
        .as_array()
        .expect("stacks array")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn startup_populates_stacks_with_names_hashes_and_missing_status() {
    let repo = two_stacks();
    let app = cd(&repo).start();
    let api = app.api();
    let refresh = api.refreshed_after(None).await;
    assert_eq!(refresh["last"]["trigger"], "startup", "{refresh}");
    assert_eq!(refresh["last"]["outcome"], "completed", "{refresh}");

    let stacks = api.stacks().await;
    assert_eq!(stacks["revision"], repo.head());
    assert!(stacks["refreshed_at"].is_string());
    assert_eq!(names(&stacks), ["apps-hello-v2", "web"]);

    let hello = api.stack("apps-hello-v2").await.expect("hello");
    assert_eq!(hello["path"], "apps/Hello.v2");
    assert_eq!(hello["compose_file"], "docker-compose.yml");
    assert_eq!(hello["desired"], true);
    assert_eq!(
        hello["status"], "missing",
        "desired and not running: {hello}"
    );
    let bytes = std::fs::read(repo.path().join("stacks/apps/Hello.v2/docker-compose.yml"))
        .expect("compose file");
    assert_eq!(hello["compose_hash"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(hello["stack_hash"].as_str().map(str::len), Some(64));
    for field in ["synced_revision", "synced_at", "last_result"] {
        assert!(
            hello.get(field).is_some_and(Value::is_null),
            "{field} is null, not missing: {hello}"
        );
    }
    assert!(api.stack("nope").await.is_none(), "unknown stack is 404");
}

#[tokio::test]
async fn an_empty_deploy_dir_starts_fine() {
    let repo = TestRepo::new();
    repo.write("stacks/.keep", "").commit("empty");
    let app = cd(&repo).start();
    let api = app.api();
    let refresh = api.refreshed_after(None).await;
    assert_eq!(refresh["last"]["outcome"], "completed", "{refresh}");
    assert_eq!(names(&api.stacks().await), Vec::<String>::new());
}

#[tokio::test]
async fn manual_refresh_adds_changes_and_removes_stacks() {
    let repo = two_stacks();
    let app = cd(&repo).start();
    let api = app.api();
    let first = api.refreshed_after(None).await;
    let web_before = api.stack("web").await.expect("web");

    repo.write_stack("stacks/db", &["db"])
        .write("stacks/web/.env", "PORT=8081\n")
        .remove("stacks/apps");
    let commit = repo.commit("add db, change web, remove hello");
    let (status, body) = api.post("/api/refresh", &[], b"").await;
    assert_eq!(status, 202, "{body}");
    assert!(
        ["refreshing", "queued"].contains(&body["status"].as_str().unwrap_or("")),
        "{body}"
    );
    let refresh = api
        .refreshed_after(first["last"]["finished_at"].as_str())
        .await;
    assert_eq!(refresh["last"]["trigger"], "manual");
    assert_eq!(refresh["revision"], commit);

    let stacks = api.stacks().await;
    assert_eq!(
        names(&stacks),
        ["db", "web"],
        "hello left Git and is not running"
    );
    assert_eq!(api.stack("db").await.expect("db")["status"], "missing");
    let web = api.stack("web").await.expect("web");
    assert_eq!(
        web["compose_hash"], web_before["compose_hash"],
        "compose file unchanged"
    );
    assert_ne!(
        web["stack_hash"], web_before["stack_hash"],
        ".env is part of the stack"
    );
}

#[tokio::test]
async fn signed_webhook_refreshes_and_bad_signatures_are_rejected() {
    let repo = two_stacks();
    let app = cd(&repo).start();
    let api = app.api();
    let first = api.refreshed_after(None).await;
    let finished = first["last"]["finished_at"].as_str().map(str::to_string);

    repo.write_stack("stacks/db", &["db"]);
    let commit = repo.commit("add db");
    let body = push_body("refs/heads/main", &commit);

    let (status, answer) = github(&api, "push", "sha256=00", &body).await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = api
        .post("/api/webhook", &[("X-GitHub-Event", "push")], &body)
        .await;
    assert_eq!(status, 401, "missing signature");
    let (_, refresh) = api.get("/api/refresh").await;
    assert_eq!(
        refresh["last"]["finished_at"].as_str(),
        finished.as_deref(),
        "no refresh ran"
    );

    let other = push_body("refs/heads/feature", &commit);
    let signature = github_signature(SECRET, &other);
    let (status, answer) = github(&api, "push", &signature, &other).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("ignored")),
        "{answer}"
    );

    let ping = br#"{"zen":"hi"}"#;
    let signature = github_signature(SECRET, ping);
    let (status, answer) = github(&api, "ping", &signature, ping).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("pong")),
        "{answer}"
    );

    let signature = github_signature(SECRET, &body);
    let (status, answer) = github(&api, "push", &signature, &body).await;
    assert_eq!(status, 202, "{answer}");
    let refresh = api.refreshed_after(finished.as_deref()).await;
    assert_eq!(refresh["last"]["trigger"], "webhook");
    assert_eq!(refresh["revision"], commit);
    assert!(api.stack("db").await.is_some(), "the pushed stack is known");
}

#[tokio::test]
async fn webhooks_without_a_configured_secret_are_forbidden() {
    let repo = two_stacks();
    let app = cd(&repo).env_remove("WEBHOOK_SECRET").start();
    let api = app.api();
    let body = push_body("refs/heads/main", &repo.head());
    let (status, answer) = github(&api, "push", "sha256=00", &body).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"].is_string());
}

#[tokio::test]
async fn git_unreachable_fails_the_refresh_and_keeps_the_last_snapshot() {
    let repo = two_stacks();
    let app = cd(&repo).start();
    let api = app.api();
    api.refreshed_after(None).await;
    let before = api.stacks().await;

    let moved = repo.path().with_extension("moved");
    std::fs::rename(repo.path(), &moved).expect("hide the repository");
    let refresh = api.refresh().await;
    std::fs::rename(&moved, repo.path()).expect("restore the repository");

    assert_eq!(refresh["last"]["outcome"], "failed", "{refresh}");
    assert!(
        refresh["last"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "a failed refresh says why: {refresh}"
    );
    let after = api.stacks().await;
    assert_eq!(after["revision"], before["revision"], "cache kept");
    assert_eq!(names(&after), names(&before));
    assert!(
        app.logs().contains("refresh failed"),
        "failure logged:\n{}",
        app.logs()
    );
}

#[tokio::test]
async fn readyz_turns_ready_after_the_first_refresh() {
    let repo = two_stacks();
    let app = cd(&repo).start();
    let api = app.api();
    api.refreshed_after(None).await;
    if crate::support::docker::available() {
        wait_until("readyz 200", Duration::from_secs(20), || async {
            let (status, body) = api.get("/readyz").await;
            if status == 200 {
                Ok(())
            } else {
                Err(body.to_string())
            }
        })
        .await;
    } else {
        let (status, body) = api.get("/readyz").await;
        assert_eq!(status, 503, "no Docker, not ready: {body}");
    }
}

#[tokio::test]
async fn events_stream_reports_refreshes_and_status_changes() {
    let repo = two_stacks();
    let app = cd(&repo).start();
    let api = app.api();
    api.refreshed_after(None).await;
    let mut events = crate::support::http()
        .get(api.url("/api/events"))
        .send()
        .await
        .expect("GET /api/events");
    assert_eq!(events.status(), 200);
    assert_eq!(
        events.headers()["content-type"].to_str().ok(),
        Some("text/event-stream")
    );

    repo.write_stack("stacks/db", &["db"]);
    repo.commit("add db");
    let (status, _) = api.post("/api/refresh", &[], b"").await;
    assert_eq!(status, 202);
    let mut seen = String::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while !(seen.contains("event: refresh") && seen.contains("\"name\":\"db\"")) {
            match events.chunk().await.expect("SSE chunk") {
                Some(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                None => break,
            }
        }
    })
    .await;
    assert!(read.is_ok(), "events seen so far:\n{seen}");
    assert!(seen.contains("\"outcome\":\"completed\""), "{seen}");
    assert!(
        seen.contains("event: stack"),
        "the new stack's status is announced: {seen}"
    );
}

#[tokio::test]
async fn an_oversized_webhook_body_is_refused_with_413() {
    let repo = two_stacks();
    let app = cd(&repo).start();
    let api = app.api();
    let body = vec![b' '; 25 * 1024 * 1024 + 1];
    let signature = github_signature(SECRET, &body);
    let (status, answer) = github(&api, "push", &signature, &body).await;
    assert_eq!(status, 413, "{answer}");
}

#[tokio::test]
async fn a_webhook_flood_is_limited_and_the_last_push_is_still_applied() {
    let repo = two_stacks();
    let app = cd(&repo).start();
    let api = app.api();
    api.refreshed_after(None).await;
    let rss_before = app.rss_kib();

    repo.write_stack("stacks/db", &["db"]);
    let last = repo.commit("the last push");
    let body = push_body("refs/heads/main", &last);
    let signature = github_signature(SECRET, &body);
    let requests = (0..1000).map(|_| {
        let api = &api;
        let body = &body;
        let signature = &signature;
        async move { github(api, "push", signature, body).await.0 }
    });
    let statuses = futures::future::join_all(requests).await;
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(accepted + limited, 1000, "{statuses:?}");
    assert!(limited > 0, "a flood is rate limited: {statuses:?}");

    wait_until("the last push applied", Duration::from_secs(30), || async {
        let (_, refresh) = api.get("/api/refresh").await;
        if refresh["revision"] == last
            && refresh["state"] == "idle"
            && !refresh["queued"].as_bool().unwrap_or(true)
        {
            Ok(())
        } else {
            Err(refresh.to_string())
        }
    })
    .await;
    assert!(api.stack("db").await.is_some());
    let refreshes = api
        .metric_sum("dockercd_refresh_total{", &["trigger=\"webhook\""])
        .await;
    assert!(
        (1.0..=100.0).contains(&refreshes),
        "1000 webhooks coalesce into far fewer refreshes: {refreshes}"
    );
    // Bounded, not leaking: a second burst of the same size costs (almost) nothing more.
    let after_first = app.rss_kib();
    let again = (0..1000).map(|_| github(&api, "push", &signature, &body));
    futures::future::join_all(again).await;
    let after_second = app.rss_kib();
    let first = after_first.saturating_sub(rss_before);
    let second = after_second.saturating_sub(after_first);
    assert!(
        second < 8 * 1024 && after_second < 128 * 1024,
        "memory stays bounded: +{first} KiB, then +{second} KiB"
    );
    eprintln!(
        "1000 webhooks: {accepted} accepted, {limited} rate limited, {refreshes} refreshes, \
         RSS {rss_before} KiB, +{first} KiB after the first burst, +{second} KiB after a second"
    );
}
