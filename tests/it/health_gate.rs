//! Issue 15, the health gate: after a Git change is applied, a stack is
//! `synced` only once every container runs and passes its healthcheck; an
//! unhealthy or exiting container fails the gate at once, a healthcheck that
//! never answers fails it at the stack's timeout, and a restart of docker-cd
//! mid-gate resumes the wait instead of applying again. Real healthchecks on
//! the real engine.

use std::time::{Duration, Instant};

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment, compose_runs, ids, refresh};
use crate::support::docker::TEST_IMAGE;
use crate::support::wait::{holds_for, wait_until};

/// One service of the test image with extra YAML lines.
pub fn stack(extra: &str) -> String {
    format!("services:\n  web:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n{extra}")
}

/// A healthcheck that fails from its first run, once a second, unhealthy after two.
pub const FAILING: &str =
    "    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 1s\n      retries: 2\n";
/// A healthcheck whose first run is an hour away: `starting` until then.
const SLOW: &str = "    healthcheck:\n      test: [\"CMD\", \"true\"]\n      interval: 1h\n";

#[tokio::test]
async fn an_unhealthy_revision_fails_its_gate_at_once_and_is_not_applied_again() {
    require_docker!();
    let mut d = Deployment::new("gate");
    let web = d.stack("web");
    let file = format!("{web}/compose.yaml");
    d.repo.write(&file, &stack(""));
    d.repo.commit("A: healthy");
    let api = d.start(&[]);
    api.wait_status(&web, "synced", CONVERGE).await;

    d.repo.write(&file, &stack(FAILING));
    d.repo.commit("B: its healthcheck fails");
    let started = Instant::now();
    refresh(&api).await;
    let failed = api.wait_status(&web, "failed", CONVERGE).await;
    let took = started.elapsed();
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("health gate failed: web:") && error.contains("unhealthy"),
        "{error}"
    );
    // Two failed checks a second apart, not the 120 s timeout.
    assert!(took < Duration::from_secs(30), "gate failed after {took:?}");
    eprintln!("unhealthy revision failed its gate {took:?} after the refresh");

    // Rollback is off: B stays, and nothing applies it again.
    let rows = d.containers("web");
    let runs = compose_runs(&api).await;
    holds_for(
        "a failed gate is not applied again",
        Duration::from_secs(5),
        || async {
            let now = compose_runs(&api).await;
            let same = ids(&d.containers("web")) == ids(&rows);
            if now == runs && same {
                Ok(())
            } else {
                Err(format!("compose runs {runs} → {now}, containers {rows:?}"))
            }
        },
    )
    .await;
    let stack = api.stack(&web).await.expect("stack");
    assert_eq!(stack["status"], "failed", "{stack}");
}

#[tokio::test]
async fn a_revision_that_exits_at_once_fails_its_gate() {
    require_docker!();
    let mut d = Deployment::new("gexit");
    let web = d.stack("web");
    d.repo.write(
        &format!("{web}/compose.yaml"),
        &stack("    command: [\"exit-with\", \"3\"]\n"),
    );
    d.repo.commit("a service that exits 3");
    let api = d.start(&[]);
    let failed = api.wait_status(&web, "failed", CONVERGE).await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("health gate failed"), "{failed}");
    let runs = compose_runs(&api).await;
    holds_for(
        "no retry of the failed revision",
        Duration::from_secs(5),
        || async {
            let now = compose_runs(&api).await;
            if now == runs {
                Ok(())
            } else {
                Err(format!("compose runs {runs} → {now}"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn the_stack_label_bounds_the_wait_and_a_restart_resumes_it() {
    require_docker!();
    let mut d = Deployment::new("gslow");
    let web = d.stack("web");
    let label = "    labels:\n      io.docker-cd.health-timeout: 20s\n";
    d.repo.write(
        &format!("{web}/compose.yaml"),
        &stack(&format!("{SLOW}{label}")),
    );
    d.repo.commit("a healthcheck that never answers in time");
    let started = Instant::now();
    let api = d.start(&[]);
    api.wait_status(&web, "syncing", CONVERGE).await;
    // Compose has returned once the stack records what it applied.
    let before = wait_until("the applied container", CONVERGE, || async {
        let rows = d.containers("web");
        let recorded = api
            .stack(&web)
            .await
            .is_some_and(|s| s["synced_stack_hash"].is_string());
        if rows.len() == 1 && recorded {
            Ok(ids(&rows))
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;

    // A restart mid-gate: the wait resumes from the labels, nothing is re-applied.
    d.kill();
    let api = d.start(&[]);
    let failed = api.wait_status(&web, "failed", CONVERGE).await;
    let took = started.elapsed();
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("not healthy 20s after the apply"),
        "{failed}"
    );
    assert!(
        took < Duration::from_secs(60),
        "the label's 20 s, not HEALTH_TIMEOUT's 120 s: {took:?}"
    );
    assert_eq!(
        ids(&d.containers("web")),
        before,
        "re-applied after the restart"
    );
    assert_eq!(
        compose_runs(&api).await,
        0,
        "the restarted process ran compose"
    );
}

#[tokio::test]
async fn a_deadline_that_passes_while_docker_cd_is_down_fails_the_gate_at_the_restart() {
    require_docker!();
    let mut d = Deployment::new("gdown");
    let web = d.stack("web");
    let label = "    labels:\n      io.docker-cd.health-timeout: 2s\n";
    d.repo.write(
        &format!("{web}/compose.yaml"),
        &stack(&format!("{SLOW}{label}")),
    );
    d.repo.commit("a healthcheck that never answers in time");
    let api = d.start(&[]);
    let applied = wait_until("the apply recorded", CONVERGE, || async {
        match api.stack(&web).await {
            Some(s) if s["synced_at"].is_string() && d.containers("web").len() == 1 => Ok(s),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    d.kill();
    // Down until the gate's deadline (2 s after the apply) has passed.
    let synced_at: jiff::Timestamp = applied["synced_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("synced_at");
    let deadline = synced_at + jiff::SignedDuration::from_secs(3);
    while jiff::Timestamp::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let api = d.start(&[]);
    let failed = api.wait_status(&web, "failed", CONVERGE).await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("not healthy 2s after the apply"), "{failed}");
    let (_, history) = api.get(&format!("/api/stacks/{web}/history")).await;
    let entry = &history["entries"][0];
    assert_eq!(
        (&entry["gate"], &entry["gate_reason"]),
        (&"failed".into(), &"timeout".into()),
        "{history}"
    );
    assert_eq!(compose_runs(&api).await, 0, "nothing applied again");
}
