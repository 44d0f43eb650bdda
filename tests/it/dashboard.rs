//! The dashboard in a real headless Chromium: stacks and statuses, a plan with
//! its coloured diff, apply, and `synced` arriving live over SSE.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::require_docker;
use crate::support::browser::Browser;
use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::docker::TEST_IMAGE;
use crate::support::wait::wait_until;

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

#[tokio::test]
async fn with_an_api_token_every_read_needs_it_and_the_dashboard_asks_once() {
    require_docker!();
    let mut d = Deployment::new("token");
    let db = d.stack("db");
    d.repo.write(
        &format!("{db}/compose.yaml"),
        &format!(
            "services:\n  db:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n    environment:\n      POSTGRES_USER: app\n      POSTGRES_PASSWORD: hunter2-in-compose\n"
        ),
    );
    d.repo.commit("db");
    let token = "dash-token-9f2";
    let api = d.start(&[("RECONCILE_ENABLED", "false"), ("API_TOKEN", token)]);
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];

    // Reads, the event stream and the compose file need the token; probes do not.
    for path in [
        "/api/stacks",
        "/api/refresh",
        "/api/events",
        &format!("/api/stacks/{db}/compose"),
    ] {
        assert_eq!(api.get(path).await.0, 401, "{path} without a token");
        assert_eq!(
            api.get_with(path, &[("Authorization", "Bearer wrong")])
                .await
                .0,
            401,
            "{path} with a wrong token"
        );
    }
    for path in ["/healthz", "/metrics", "/"] {
        assert_eq!(api.get(path).await.0, 200, "{path} stays open");
    }
    let stack = wait_until("the stack known", CONVERGE, || async {
        match api.get_with(&format!("/api/stacks/{db}"), &auth).await {
            (200, body) if body["status"] == "missing" => Ok(body),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(stack["desired"], true);
    let (status, compose) = api
        .get_with(&format!("/api/stacks/{db}/compose"), &auth)
        .await;
    assert_eq!(status, 200, "{compose}");
    let content = compose["content"].as_str().unwrap_or_default();
    assert!(
        content.contains("POSTGRES_PASSWORD: (redacted)")
            && content.contains("POSTGRES_USER: app")
            && !content.contains("hunter2"),
        "{content}"
    );

    let Some(browser) = Browser::start().await else {
        return;
    };
    browser.goto(&api.url("/")).await;
    browser.answer_prompt(token, UI).await;
    let row = format!("tr[data-stack=\"{db}\"]");
    browser.find(&row, UI).await;
    browser
        .goto(&api.url(&format!("/#/stacks/{db}/compose")))
        .await;
    browser
        .wait_until(
            "the redacted compose file",
            "const c = document.querySelector('#compose-content'); return !!c && c.innerText.includes('(redacted)')",
            UI,
        )
        .await;
    let shown = browser
        .script("return document.body.innerText", json!([]))
        .await;
    assert!(!shown.to_string().contains("hunter2"), "{shown}");

    // Live updates arrive over the token-carrying event stream: a new commit
    // refreshed through the API shows its revision without a reload.
    d.repo.write(&format!("{db}/README.md"), "docs\n");
    let head = d.repo.commit("docs");
    let (status, body) = api.post("/api/refresh", &auth, b"").await;
    assert_eq!(status, 202, "{body}");
    browser
        .wait_until(
            "the new revision, live",
            &format!(
                "return document.querySelector('#revision').innerText.trim() === '{}'",
                &head[..12]
            ),
            UI,
        )
        .await;
    browser.close().await;
}

#[tokio::test]
async fn the_list_and_the_stack_page_say_which_commit_runs_and_how_healthy() {
    require_docker!();
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut d = Deployment::new("uicommit");
    let web = d.stack("web");
    d.write_stack("web", &["web"]);
    // Anyone with push access writes subjects: this one must show as text.
    let subject = "<img src=x onerror=alert(1)> ship web";
    d.repo.commit_as("Ada \"Lovelace\" & Co", subject);
    let api = d.start(&[]);
    api.wait_stack(&web, "synced and ready", CONVERGE, |s| {
        s["status"] == "synced" && s["health"]["ready"] == 1
    })
    .await;

    browser.goto(&api.url("/")).await;
    let row = format!("tr[data-stack=\"{web}\"]");
    browser
        .find(&format!("{row} .synced-commit .subject"), UI)
        .await;
    let shown = browser
        .script(
            "const r = document.querySelector(arguments[0]);
             return [r.querySelector('.synced-commit .subject').innerText,
                     r.querySelector('.synced-commit .by').innerText,
                     r.querySelector('.health').innerText.trim(),
                     document.querySelector('#summary').innerText,
                     document.querySelectorAll('img').length]",
            json!([row]),
        )
        .await;
    assert_eq!(shown[0], subject, "{shown}");
    assert!(
        shown[1]
            .as_str()
            .is_some_and(|by| by.starts_with("Ada \"Lovelace\" & Co · ")),
        "author and when: {shown}"
    );
    assert_eq!(shown[2], "1/1", "{shown}");
    assert_eq!(shown[3], "1 stack · 1 synced", "{shown}");
    assert_eq!(shown[4], 0, "the subject made no element: {shown}");
    browser.screenshot(&artifact("dashboard-commits.png")).await;

    browser.goto(&api.url(&format!("/#/stacks/{web}"))).await;
    browser.find("#stack-commit .subject", UI).await;
    let page = browser
        .script(
            "return [document.querySelector('#stack-commit .subject').innerText,
                     document.querySelector('#stack-health').innerText.trim(),
                     document.querySelectorAll('img').length]",
            json!([]),
        )
        .await;
    assert_eq!(page, json!([subject, "1/1", 0]));
    browser.close().await;
}

#[tokio::test]
async fn a_past_revision_is_rolled_back_from_the_history_tab_after_a_confirm() {
    require_docker!();
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut d = Deployment::new("uihist");
    let web = d.stack("web");
    let file = format!("{web}/compose.yaml");
    let service = |rev: &str| {
        format!(
            "services:\n  web:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n    environment: [REV={rev}]\n"
        )
    };
    d.repo.write(&file, &service("a"));
    let a = d.repo.commit("A");
    let api = d.start(&[]);
    api.wait_status(&web, "synced", CONVERGE).await;
    d.repo.write(&file, &service("b"));
    let b = d.repo.commit("B");
    crate::support::deployment::refresh(&api).await;
    api.wait_stack(&web, "B to run", CONVERGE, |s| {
        s["status"] == "synced" && s["synced_revision"] == b
    })
    .await;

    browser
        .goto(&api.url(&format!("/#/stacks/{web}/history")))
        .await;
    let row_a = format!("#history tr[data-revision=\"{a}\"]");
    browser.find(&row_a, UI).await;
    // The running revision has no button; the earlier good one has.
    let running = browser
        .script(
            "return document.querySelectorAll(arguments[0]).length",
            json!([format!(
                "#history tr[data-revision=\"{b}\"] button.rollback"
            )]),
        )
        .await;
    assert_eq!(running, 0, "no rollback to what runs");
    let button = browser.find(&format!("{row_a} button.rollback"), UI).await;
    browser.click(&button).await;
    let question = browser.confirm(UI).await;
    assert!(question.contains(&a[..12]), "{question}");
    browser
        .wait_until(
            "the rollback result",
            "return !!document.querySelector('#rollback-result p.new')",
            CONVERGE,
        )
        .await;
    let held = api
        .wait_stack(&web, "A held", CONVERGE, |s| {
            s["status"] == "synced" && s["held_revision"] == a
        })
        .await;
    assert_eq!(held["synced_revision"], a, "{held}");
    // Live over SSE: the rollback is the newest row, A now marked held.
    browser
        .wait_until(
            "the rollback listed",
            "const r = document.querySelector('#history tbody tr'); return !!r && r.innerText.includes('rollback') && r.innerText.includes('held')",
            CONVERGE,
        )
        .await;
    // Each entry names its commit like the list does: subject, author, time.
    let by = browser
        .script(
            "const c = document.querySelector(arguments[0]); return c ? c.innerText : ''",
            json!([format!("{row_a} .commit .by")]),
        )
        .await;
    assert!(by.as_str().is_some_and(|t| t.starts_with("test")), "{by}");
    // The stack's status says it is held, here and in the list.
    let status = browser
        .script(
            "return document.querySelector('#stack-status').innerText",
            json!([]),
        )
        .await;
    assert!(
        status
            .as_str()
            .is_some_and(|t| t.contains(&format!("held at {}", &a[..8]))),
        "{status}"
    );
    browser.screenshot(&artifact("dashboard-history.png")).await;
    browser.goto(&api.url("/#/")).await;
    browser
        .find(&format!("tr[data-stack=\"{web}\"] td.status .held"), UI)
        .await;
    browser.close().await;
}
