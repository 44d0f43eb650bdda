//! Issue 15, "say which commit runs": the API names each revision by its
//! subject, author and commit time read from the mirror, counts each stack's
//! ready services, and sums the stacks up by status.

use serde_json::{Value, json};

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::wait::wait_until;

/// The commit time of `commit` as the API writes it (RFC 3339, UTC).
fn commit_time(d: &Deployment, commit: &str) -> String {
    let seconds: i64 = d
        .repo
        .git(&["show", "-s", "--format=%ct", commit])
        .parse()
        .expect("seconds");
    jiff::Timestamp::from_second(seconds)
        .expect("a time")
        .to_string()
}

#[tokio::test]
async fn stacks_and_history_name_the_running_commit_and_count_what_is_ready() {
    require_docker!();
    let mut d = Deployment::new("commit");
    let (web, bad) = (d.stack("web"), d.stack("bad"));
    d.write_stack("web", &["web"]).write_stack("bad", &["bad"]);
    std::os::unix::fs::symlink("/etc", d.repo.path().join(&bad).join("config")).expect("symlink");
    let a = d.repo.commit_as(
        "Ada Lovelace",
        "Deploy web: the first version\n\nA body that is not the subject.",
    );
    let api = d.start(&[]);
    api.wait_status(&web, "synced", CONVERGE).await;
    api.wait_status(&bad, "failed", CONVERGE).await;

    let expected = json!({
        "revision": a,
        "subject": "Deploy web: the first version",
        "author": "Ada Lovelace",
        "time": commit_time(&d, &a),
        // GIT_REPO_URL is a local path: no forge to link to.
        "url": null,
    });
    // Health follows the Docker events: wait for the running container.
    let list = wait_until("web ready in the list", CONVERGE, || async {
        let list = api.stacks().await;
        let ready = find(&list, &web)["health"] == json!({"ready": 1, "total": 1});
        if ready {
            Ok(list)
        } else {
            Err(list.to_string())
        }
    })
    .await;
    assert_eq!(list["commit"], expected, "the snapshot's commit: {list}");
    let shown = find(&list, &web);
    assert_eq!(shown["synced_revision"], a.as_str(), "{shown}");
    assert_eq!(shown["synced_commit"], expected, "{shown}");
    let failed = find(&list, &bad);
    assert_eq!(
        failed["synced_commit"],
        Value::Null,
        "never applied: {failed}"
    );
    assert_eq!(failed["health"]["ready"], 0, "{failed}");
    let summary = &list["summary"];
    assert_eq!(
        (&summary["synced"], &summary["failed"]),
        (&json!(1), &json!(1)),
        "{list}"
    );
    assert!(
        summary.as_object().is_some_and(
            |s| s.len() >= 8 && s.values().map(|n| n.as_u64().unwrap_or(0)).sum::<u64>() == 2
        ),
        "every status, counting each stack once: {summary}"
    );

    let one = api.stack(&web).await.expect("known");
    assert_eq!(one["synced_commit"], expected, "{one}");
    assert_eq!(one["health"], json!({"ready": 1, "total": 1}), "{one}");

    let (status, history) = api.get(&format!("/api/stacks/{web}/history")).await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["entries"][0]["revision"], a.as_str(), "{history}");
    assert_eq!(history["entries"][0]["commit"], expected, "{history}");
}

/// Stack `name` in a `GET /api/stacks` body.
fn find<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["stacks"]
        .as_array()
        .and_then(|stacks| stacks.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("{name} not listed: {list}"))
}
