//! Issue 23, item 1: a failed `compose up` is a failed apply, tried again with
//! backoff, not a crash loop. The stack here fails in compose as the README's
//! quick start once did with the test image: its `WORKDIR` (`/srv/app`) lies
//! under a read-only mount of `/srv`, so Docker cannot create the container.

use serde_json::Value;

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment, refresh};
use crate::support::docker::TEST_IMAGE;
use crate::support::wait::wait_until;

/// A stack whose container cannot be started, or can, by where `site` goes.
fn stack(site_at: &str) -> String {
    format!(
        "services:\n  web:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n    volumes: ['./site:{site_at}:ro']\n"
    )
}

#[tokio::test]
async fn a_failed_compose_up_is_retried_with_backoff_and_keeps_its_reason() {
    require_docker!();
    let mut d = Deployment::new("upfail");
    let web = d.stack("web");
    d.repo
        .write(&format!("{web}/compose.yaml"), &stack("/srv"))
        .write(&format!("{web}/site/index.html"), "hello\n");
    d.repo.commit("a stack compose cannot start");
    let api = d.start(&[]);

    // The first try and its first retry (5 s later) failed, each with compose's reason.
    let path = format!("/api/stacks/{web}/history");
    let entries: Vec<Value> = wait_until("two failed tries", CONVERGE, || async {
        let (_, history) = api.get(&path).await;
        let entries = history["entries"].as_array().cloned().unwrap_or_default();
        if entries.len() >= 2 {
            Ok(entries)
        } else {
            Err(history.to_string())
        }
    })
    .await;
    let kinds: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default();
            (text("cause"), text("trigger"), text("outcome"))
        })
        .collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        [("git", "retry", "failure"), ("git", "refresh", "failure")],
        "{entries:?}"
    );
    assert!(
        kinds.iter().all(|(cause, _, _)| *cause != "drift"),
        "a failed apply is no drift: {entries:?}"
    );
    let failed = api.wait_status(&web, "failed", CONVERGE).await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("read-only file system"), "{failed}");
    assert!(
        failed["synced_revision"].is_null(),
        "it never ran: {failed}"
    );
    assert!(failed["synced_at"].is_null(), "{failed}");

    // Fixed in Git: it deploys.
    d.repo.write(&format!("{web}/compose.yaml"), &stack("/www"));
    let fixed = d.repo.commit("the site where the image's WORKDIR is not");
    refresh(&api).await;
    let synced = api
        .wait_stack(&web, "the fixed revision to run", CONVERGE, |s| {
            s["status"] == "synced" && s["synced_revision"] == fixed.as_str()
        })
        .await;
    assert!(synced["error"].is_null(), "{synced}");
}
