//! Issue 15, the history: every apply of a stack is kept in `DATA_DIR` and
//! shown newest first by `GET /api/stacks/{name}/history`, across a `kill -9`;
//! the route is behind `API_TOKEN`; a history that cannot be kept fails the start.

use serde_json::Value;

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment, refresh};
use crate::support::process::DockerCd;
use crate::support::repo::TestRepo;
use crate::support::wait::wait_until;

const TOKEN: &str = "history-test-token";

/// The entries of `name`'s history once it has `count` of them.
async fn entries(api: &crate::support::api::Api, name: &str, count: usize) -> Vec<Value> {
    let path = format!("/api/stacks/{name}/history");
    wait_until(&format!("{count} history entries"), CONVERGE, || async {
        match api.get(&path).await {
            (200, body) if body["entries"].as_array().is_some_and(|e| e.len() == count) => {
                assert_eq!(body["stack"], name.to_string(), "{body}");
                Ok(body["entries"].as_array().cloned().unwrap_or_default())
            }
            (status, body) => Err(format!("{status} {body}")),
        }
    })
    .await
}

#[tokio::test]
async fn two_git_applies_are_listed_newest_first_and_survive_a_kill() {
    require_docker!();
    let mut d = Deployment::new("history");
    let web = d.stack("web");
    d.write_stack("web", &["web"]);
    let a = d.repo.commit("A");
    let api = d.start(&[]);
    api.wait_status(&web, "synced", CONVERGE).await;
    d.write_stack("web", &["web", "sidecar"]);
    let b = d.repo.commit("B: a sidecar");
    refresh(&api).await;
    api.wait_stack(&web, "synced at B", CONVERGE, |s| {
        s["status"] == "synced" && s["synced_revision"] == b
    })
    .await;

    let before = entries(&api, &web, 2).await;
    let revisions: Vec<&Value> = before.iter().map(|e| &e["revision"]).collect();
    assert_eq!(
        revisions,
        [&Value::from(b), &Value::from(a)],
        "newest first"
    );
    for entry in &before {
        assert_eq!(entry["cause"], "git", "{entry}");
        assert_eq!(entry["trigger"], "refresh", "{entry}");
        assert_eq!(entry["action"], "apply", "{entry}");
        assert_eq!(entry["outcome"], "success", "{entry}");
        assert_eq!(entry["error"], Value::Null, "{entry}");
        assert!(
            entry["duration_ms"].as_u64().is_some_and(|ms| ms > 0),
            "{entry}"
        );
        assert!(
            entry["started_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{entry}"
        );
        assert_eq!(
            entry["stack_hash"].as_str().map(str::len),
            Some(64),
            "{entry}"
        );
    }
    assert_ne!(before[0]["stack_hash"], before[1]["stack_hash"]);

    // A crash: no shutdown, nothing flushed by a handler.
    d.kill();
    let api = d.start(&[("API_TOKEN", TOKEN)]);
    let path = format!("/api/stacks/{web}/history");
    let (status, _) = api.get(&path).await;
    assert_eq!(status, 401, "behind API_TOKEN like every /api route");
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let (status, body) = api.get_with(&path, &auth).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entries"].as_array(), Some(&before), "kept as it was");

    let (status, body) = api
        .get_with("/api/stacks/no-such-stack/history", &auth)
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no-such-stack")),
        "{body}"
    );
}

#[test]
fn a_history_file_that_cannot_be_opened_fails_the_start_naming_it() {
    let repo = TestRepo::new();
    let data = tempfile::tempdir().expect("tempdir");
    // A folder where the file should be: unopenable whatever the user's rights.
    std::fs::create_dir(data.path().join("history.redb")).expect("mkdir");
    let out = DockerCd::on(&repo)
        .env("DATA_DIR", data.path())
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .run_to_exit();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("history.redb"), "{}", out.stderr);
}
