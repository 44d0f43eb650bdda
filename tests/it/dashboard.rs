//! The dashboard in a real headless Chromium: stacks and statuses, a plan with
//! its coloured diff, apply, and `synced` arriving live over SSE.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::require_docker;
use crate::support::browser::Browser;
use crate::support::deployment::{CONVERGE, Deployment};

const UI: Duration = Duration::from_secs(30);

/// Where screenshots go (kept after the run as test artifacts).
fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("artifacts")
        .join(name)
}

#[tokio::test]
async fn plan_and_apply_from_the_dashboard() {
    require_docker!();
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut d = Deployment::new("ui");
    d.write_stack("web", &["web", "worker"]);
    d.repo.commit("web");
    let api = d.start(&[("RECONCILE_ENABLED", "false")]);
    let web = d.stack("web");
    api.wait_status(&web, "missing", CONVERGE).await;

    browser.goto(&api.url("/")).await;
    let row = format!("tr[data-stack=\"{web}\"]");
    browser.find(&row, UI).await;
    let status = browser
        .script(
            "return document.querySelector(arguments[0] + ' .status').innerText",
            json!([row]),
        )
        .await;
    assert_eq!(status, "missing");

    // Keyboard-reachable link to the stack page, then the Deploy tab.
    let link = browser.find(&format!("{row} a"), UI).await;
    browser.click(&link).await;
    let tab = browser.find("#tab-deploy", UI).await;
    browser.click(&tab).await;
    let plan_button = browser.find("#plan-button", UI).await;
    browser.click(&plan_button).await;
    browser.find(".change[data-action=\"+\"]", UI).await;
    let summary = browser
        .script(
            "return document.querySelector('#plan-summary').innerText",
            json!([]),
        )
        .await;
    assert_eq!(summary, "Plan: 2 to add, 0 to change, 0 to remove.");
    // Additions are green: the left border of a '+' entry.
    let colour = browser
        .script(
            "return getComputedStyle(document.querySelector('.change[data-action=\"+\"]')).borderLeftColor",
            json!([]),
        )
        .await;
    assert_eq!(colour, "rgb(26, 127, 55)", "a '+' is green");
    browser.screenshot(&artifact("dashboard-plan.png")).await;

    let apply = browser.find("#apply-button", UI).await;
    browser.click(&apply).await;
    browser
        .wait_until(
            "the apply result",
            "return !!document.querySelector('#apply-result p')",
            CONVERGE,
        )
        .await;
    browser
        .wait_until(
            "synced on the stack page (live, over SSE)",
            "return document.querySelector('#stack-status').innerText.trim() === 'synced'",
            CONVERGE,
        )
        .await;
    browser.screenshot(&artifact("dashboard-applied.png")).await;
    assert_eq!(d.containers("web").len(), 2);

    // Back on the list, the stack shows as synced.
    browser.goto(&api.url("/#/")).await;
    browser
        .wait_until(
            "synced in the stack table",
            &format!(
                "const r = document.querySelector('tr[data-stack=\"{web}\"] .status'); return !!r && r.innerText.trim() === 'synced'"
            ),
            UI,
        )
        .await;
    browser.close().await;
}
