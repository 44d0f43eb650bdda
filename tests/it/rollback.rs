//! Issue 15, rollbacks: a revision that fails its health gate is replaced by
//! the last one that passed, and not applied again until Git changes the
//! stack; an operator's rollback to a revision of the history holds it until
//! Git changes the stack or a sync. Real healthchecks on the real engine.

use std::time::{Duration, Instant};

use crate::health_gate::{FAILING, stack};
use crate::require_docker;
use crate::support::api::Api;
use crate::support::deployment::{CONVERGE, Deployment, compose_ups, refresh};
use crate::support::wait::holds_for;

#[tokio::test]
async fn a_failing_revision_is_rolled_back_and_the_next_good_one_deploys() {
    require_docker!();
    let mut d = Deployment::new("rollback");
    let web = d.stack("web");
    let file = format!("{web}/compose.yaml");
    d.repo.write(&file, &stack("    environment: [REV=a]\n"));
    let a = d.repo.commit("A: healthy");
    let api = d.start(&[("ROLLBACK_ENABLED", "true")]);
    api.wait_status(&web, "synced", CONVERGE).await;
    let mut events = api.events().await;

    d.repo.write(
        &file,
        &stack(&format!("    environment: [REV=b]\n{FAILING}")),
    );
    let b = d.repo.commit("B: its healthcheck fails");
    let started = Instant::now();
    refresh(&api).await;
    let rolled = api.wait_status(&web, "rolled-back", CONVERGE).await;
    eprintln!("rolled back {:?} after the refresh", started.elapsed());
    assert_eq!(rolled["synced_revision"], a, "{rolled}");
    // Which revision failed, and how.
    let reason = rolled["error"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("revision {}", &b[..12])) && reason.contains("unhealthy"),
        "{rolled}"
    );
    let rows = d.containers("web");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let env =
        crate::support::docker::docker_ok(&["inspect", "-f", "{{json .Config.Env}}", &rows[0].1]);
    assert!(env.contains("REV=a"), "A runs again: {env}");

    // The history says so, newest first: the rollback to A, B failed by its
    // gate, A applied and healthy.
    let (status, history) = api.get(&format!("/api/stacks/{web}/history")).await;
    assert_eq!(status, 200, "{history}");
    let [rollback, failed, good] = [0, 1, 2].map(|i| &history["entries"][i]);
    assert_eq!(rollback["action"], "rollback", "{history}");
    assert_eq!(rollback["cause"], "rollback", "{history}");
    assert_eq!(rollback["revision"], a, "{history}");
    assert_eq!(rollback["outcome"], "success", "{history}");
    assert_eq!(rollback["gate"], "passed", "{history}");
    assert_eq!(failed["revision"], b, "{history}");
    assert_eq!(failed["outcome"], "failure", "{history}");
    assert_eq!(failed["gate"], "failed", "{history}");
    assert_eq!(failed["gate_reason"], "unhealthy", "{history}");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("health gate failed: web:") && error.contains("unhealthy"),
        "{history}"
    );
    assert_eq!(good["revision"], a, "{history}");
    assert_eq!(
        (&good["outcome"], &good["gate"]),
        (&"success".into(), &"passed".into()),
        "{history}"
    );

    // SSE clients saw B's gate fail and the rollback start.
    let gate = events
        .wait_for("gate", CONVERGE, |g| {
            g["name"] == web.as_str() && g["outcome"] == "failed"
        })
        .await;
    assert_eq!(gate["revision"], b, "{gate}");
    assert_eq!(gate["reason"], "unhealthy", "{gate}");
    eprintln!(
        "B's gate failed {} ms after compose returned",
        gate["duration_ms"]
    );
    let event = events
        .wait_for("rollback", CONVERGE, |r| r["name"] == web.as_str())
        .await;
    assert_eq!(event["from_revision"], b, "{event}");
    assert_eq!(event["to_revision"], a, "{event}");
    assert_eq!(event["reason"], "unhealthy", "{event}");

    // And /metrics: one rollback for an unhealthy container, the gates timed,
    // the stack's one service ready again.
    let rollbacks = api
        .metric_sum("dockercd_rollbacks_total{", &["reason=\"unhealthy\""])
        .await;
    assert_eq!(rollbacks, 1.0);
    let failed_gates = api
        .metric_sum(
            "dockercd_health_gate_duration_seconds_count{",
            &["outcome=\"failed\""],
        )
        .await;
    assert_eq!(failed_gates, 1.0);
    let health = api
        .metric_sum("dockercd_stack_health{", &[&format!("stack=\"{web}\"")])
        .await;
    assert_eq!(health, 1.0);

    // B is not applied again.
    let ups = compose_ups(&api).await;
    holds_for("B is not retried", Duration::from_secs(5), || async {
        let now = compose_ups(&api).await;
        let status = api.stack(&web).await.map(|s| s["status"].clone());
        if now == ups && status == Some("rolled-back".into()) {
            Ok(())
        } else {
            Err(format!("compose up runs {ups} → {now}, status {status:?}"))
        }
    })
    .await;
    // Nor by hand: B never passed its gate.
    let (status, body) = roll_back_to(&api, &web, &b).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .to_string()
            .contains("never passed its health gate"),
        "{body}"
    );

    // C, healthy, deploys.
    d.repo.write(&file, &stack("    environment: [REV=c]\n"));
    let c = d.repo.commit("C: healthy again");
    refresh(&api).await;
    let synced = api.wait_status(&web, "synced", CONVERGE).await;
    assert_eq!(synced["synced_revision"], c, "{synced}");
}

/// `POST /api/stacks/{web}/rollback {"revision"}`.
async fn roll_back_to(api: &Api, web: &str, revision: &str) -> (u16, serde_json::Value) {
    let body = serde_json::json!({ "revision": revision }).to_string();
    let path = format!("/api/stacks/{web}/rollback");
    api.post(
        &path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .await
}

/// The `REV` environment value of the stack's one container.
fn running_rev(d: &Deployment, short: &str) -> String {
    let rows = d.containers(short);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let env =
        crate::support::docker::docker_ok(&["inspect", "-f", "{{json .Config.Env}}", &rows[0].1]);
    env.split('"')
        .find_map(|v| v.strip_prefix("REV="))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_manual_rollback_holds_the_revision_until_git_changes_the_stack_or_a_sync() {
    require_docker!();
    let mut d = Deployment::new("hold");
    let web = d.stack("web");
    let file = format!("{web}/compose.yaml");
    d.repo.write(&file, &stack("    environment: [REV=a]\n"));
    let a = d.repo.commit("A");
    let api = d.start(&[]);
    api.wait_status(&web, "synced", CONVERGE).await;
    d.repo.write(&file, &stack("    environment: [REV=b]\n"));
    let b = d.repo.commit("B");
    refresh(&api).await;
    api.wait_stack(&web, "B to run", CONVERGE, |s| {
        s["status"] == "synced" && s["synced_revision"] == b
    })
    .await;

    // Only revisions of the stack's history, named by 7 characters or more.
    let (status, body) = roll_back_to(&api, &web, "0000000000").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = roll_back_to(&api, &web, &a[..6]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].to_string().contains("at least 7"), "{body}");
    let (status, body) = roll_back_to(&api, &web, &a[..7]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "success", "{body}");
    assert_eq!(body["revision"], a, "{body}");
    let held = api.wait_status(&web, "synced", CONVERGE).await;
    assert_eq!(held["held_revision"], a, "{held}");
    assert_eq!(running_rev(&d, "web"), "a");
    let (_, history) = api.get(&format!("/api/stacks/{web}/history")).await;
    let newest = &history["entries"][0];
    assert_eq!(
        (&newest["action"], &newest["cause"], &newest["trigger"]),
        (&"rollback".into(), &"manual".into(), &"api".into()),
        "{history}"
    );

    // Held across a refresh that leaves the stack alone and a restart.
    d.repo.write("README.md", "unrelated\n");
    d.repo.commit("an unrelated change");
    refresh(&api).await;
    d.stop();
    let api = d.start(&[]);
    // Until its first pass after the restart the stack is `unknown`.
    api.wait_stack(&web, "A held after the restart", CONVERGE, |s| {
        s["status"] == "synced" && s["held_revision"] == a
    })
    .await;
    let ups = compose_ups(&api).await;
    holds_for("A stays held", Duration::from_secs(3), || async {
        let stack = api.stack(&web).await.unwrap_or_default();
        if stack["status"] == "synced" && stack["held_revision"] == a {
            Ok(())
        } else {
            Err(stack.to_string())
        }
    })
    .await;
    assert_eq!(compose_ups(&api).await, ups, "nothing applied while held");
    assert_eq!(running_rev(&d, "web"), "a");

    // A sync releases it: the Git revision runs again.
    let (status, body) = api.post(&format!("/api/stacks/{web}/sync"), &[], b"").await;
    assert_eq!(status, 202, "{body}");
    let released = api
        .wait_stack(&web, "B to run again", CONVERGE, |s| {
            s["status"] == "synced" && s["held_revision"].is_null()
        })
        .await;
    assert_ne!(released["synced_revision"], a, "{released}");
    assert_eq!(running_rev(&d, "web"), "b");

    // So does a Git change of the stack.
    let (status, answer) = roll_back_to(&api, &web, &a).await;
    assert_eq!(status, 200, "{answer}");
    api.wait_stack(&web, "A held again", CONVERGE, |s| s["held_revision"] == a)
        .await;
    d.repo.write(&file, &stack("    environment: [REV=c]\n"));
    let c = d.repo.commit("C");
    refresh(&api).await;
    let at_c = api
        .wait_stack(&web, "C to run", CONVERGE, |s| {
            s["status"] == "synced" && s["synced_revision"] == c
        })
        .await;
    assert!(at_c["held_revision"].is_null(), "{at_c}");
    assert_eq!(running_rev(&d, "web"), "c");
}
