//! Issue 15, automatic rollback: a revision that fails its health gate is
//! replaced by the last one that passed, and not applied again until Git
//! changes the stack. Real healthchecks on the real engine.

use std::time::{Duration, Instant};

use crate::health_gate::{FAILING, stack};
use crate::require_docker;
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
    let rollback = events
        .wait_for("rollback", CONVERGE, |r| r["name"] == web.as_str())
        .await;
    assert_eq!(rollback["from_revision"], b, "{rollback}");
    assert_eq!(rollback["to_revision"], a, "{rollback}");
    assert_eq!(rollback["reason"], "unhealthy", "{rollback}");

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

    // C, healthy, deploys.
    d.repo.write(&file, &stack("    environment: [REV=c]\n"));
    let c = d.repo.commit("C: healthy again");
    refresh(&api).await;
    let synced = api.wait_status(&web, "synced", CONVERGE).await;
    assert_eq!(synced["synced_revision"], c, "{synced}");
}
