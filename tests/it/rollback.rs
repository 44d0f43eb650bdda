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

    d.repo.write(
        &file,
        &stack(&format!("    environment: [REV=b]\n{FAILING}")),
    );
    d.repo.commit("B: its healthcheck fails");
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

    // The history says so: the rollback to A, newest first.
    let (status, history) = api.get(&format!("/api/stacks/{web}/history")).await;
    assert_eq!(status, 200, "{history}");
    let newest = &history["entries"][0];
    assert_eq!(newest["action"], "rollback", "{history}");
    assert_eq!(newest["cause"], "rollback", "{history}");
    assert_eq!(newest["revision"], a, "{history}");

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
