//! Issue 23: the model compose resolved and docker-cd admitted is the model
//! `compose up` runs, resolved once per `stack_hash` (a plan and its apply
//! share it), ahead of the worker when a snapshot wants a stack changed, and
//! never for a stack that already runs its desired files.

use std::time::Duration;

use crate::require_docker;
use crate::support::api::Api;
use crate::support::deployment::{CONVERGE, Deployment, compose_runs, ids, refresh};
use crate::support::docker::{TEST_IMAGE, docker_ok};
use crate::support::wait::holds_for;

/// Compose runs of `command` so far.
async fn runs(api: &Api, command: &str) -> u64 {
    let label = format!("command=\"{command}\"");
    api.metric_sum("dockercd_compose_runs_total{", &[&label])
        .await as u64
}

/// One service reading `.env`, an `env_file` and literal `$`s.
fn interpolating(service: &str) -> String {
    format!(
        "services:\n  {service}:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n    env_file: [app.env]\n    environment:\n      GREETING: ${{GREETING}}\n      LIT: \"a$$b\"\n    labels:\n      own: \"x$$y\"\n"
    )
}

/// `KEY=value` lines of a container's environment, and one of its labels.
fn env(id: &str) -> Vec<String> {
    docker_ok(&[
        "inspect",
        "-f",
        "{{range .Config.Env}}{{println .}}{{end}}",
        id,
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

#[tokio::test]
async fn a_plan_and_its_apply_resolve_once_and_up_runs_the_admitted_model() {
    require_docker!();
    let mut d = Deployment::new("admodel");
    let web = d.stack("web");
    d.repo
        .write(&format!("{web}/compose.yaml"), &interpolating("web"))
        .write(&format!("{web}/.env"), "GREETING=hello\n")
        .write(&format!("{web}/app.env"), "FROM_FILE=one\n");
    d.repo.commit("web");
    let api = d.start(&[("RECONCILE_ENABLED", "false")]);
    api.wait_status(&web, "missing", CONVERGE).await;
    api.wait_ready().await;

    let (status, plan) = api.post(&format!("/api/stacks/{web}/plan"), &[], b"").await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(runs(&api, "config").await, 1, "the plan resolved the model");
    let body = serde_json::json!({ "token": plan["token"] }).to_string();
    let (status, result) = api
        .post(
            &format!("/api/stacks/{web}/apply"),
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["outcome"], "success", "{result}");
    assert_eq!(
        (runs(&api, "config").await, runs(&api, "up").await),
        (1, 1),
        "the apply of the plan ran compose up alone, on the model the plan admitted"
    );

    let rows = d.containers("web");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let id = &rows[0].1;
    let files = d.label(id, "com.docker.compose.project.config_files");
    assert!(
        files.ends_with(".docker-cd.compose.json") && !files.contains(','),
        "compose up ran on the admitted model alone: {files}"
    );
    let env = env(id);
    for expected in ["GREETING=hello", "LIT=a$b", "FROM_FILE=one"] {
        assert!(env.iter().any(|e| e == expected), "{expected} in {env:?}");
    }
    assert_eq!(d.label(id, "own"), "x$y");
    assert_eq!(d.label(id, "io.docker-cd.stack"), web);
    assert_eq!(d.label(id, "io.docker-cd.instance"), d.instance);
}

#[tokio::test]
async fn a_change_costs_one_config_and_one_up_and_a_refused_model_fails_its_stack_alone() {
    require_docker!();
    let mut d = Deployment::new("onecfg");
    let (web, other, quiet) = (d.stack("web"), d.stack("other"), d.stack("quiet"));
    d.repo
        .write(&format!("{web}/compose.yaml"), &interpolating("web"))
        .write(&format!("{web}/.env"), "GREETING=one\n")
        .write(&format!("{web}/app.env"), "FROM_FILE=one\n");
    d.write_stack("other", &["other"])
        .write_stack("quiet", &["quiet"]);
    d.repo.commit("three stacks");
    let policy = [("POLICY", "deny-privileged")];
    let api = d.start(&policy);
    for stack in [&web, &other, &quiet] {
        api.wait_status(stack, "synced", CONVERGE).await;
    }
    assert_eq!(
        (runs(&api, "config").await, runs(&api, "up").await),
        (3, 3),
        "each model resolved once, whether ahead of the worker or by it"
    );

    // A restart with everything in sync resolves nothing ahead: no compose at all.
    d.stop();
    let api = d.start(&policy);
    for stack in [&web, &other, &quiet] {
        api.wait_status(stack, "synced", CONVERGE).await;
    }
    holds_for(
        "no compose run after a no-op restart",
        Duration::from_secs(2),
        || async {
            match compose_runs(&api).await {
                0 => Ok(()),
                n => Err(format!("{n} compose runs:\n{}", d.logs())),
            }
        },
    )
    .await;

    let (web_before, other_before, quiet_before) = (
        ids(&d.containers("web")),
        ids(&d.containers("other")),
        ids(&d.containers("quiet")),
    );
    d.repo
        .write(&format!("{web}/.env"), "GREETING=two\n")
        .write(
            &format!("{other}/compose.yaml"),
            &format!("services:\n  other:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n    privileged: true\n"),
        );
    let commit = d
        .repo
        .commit("web's .env changes, other asks for privileges");
    refresh(&api).await;
    api.wait_stack(&web, "web applied at the new revision", CONVERGE, |s| {
        s["status"] == "synced" && s["synced_revision"] == commit
    })
    .await;
    let failed = api.wait_status(&other, "failed", CONVERGE).await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("service 'other': privileged: true is refused by POLICY deny-privileged"),
        "{failed}"
    );
    assert_eq!(
        (runs(&api, "config").await, runs(&api, "up").await),
        (2, 1),
        "one compose config per changed stack, one compose up for the admitted one"
    );
    let web_after = ids(&d.containers("web"));
    assert_eq!(web_after.len(), 1);
    assert_ne!(web_after, web_before, "web recreated");
    assert!(env(&web_after[0]).iter().any(|e| e == "GREETING=two"));
    assert_eq!(
        ids(&d.containers("other")),
        other_before,
        "nothing of other ran"
    );
    assert_eq!(ids(&d.containers("quiet")), quiet_before, "quiet untouched");
}

#[tokio::test]
async fn while_one_stack_is_applied_the_next_ones_model_is_resolved() {
    require_docker!();
    let mut d = Deployment::new("ahead");
    // compose up -d of `slow` waits until its `dep` is healthy: about 3 s.
    let slow = d.stack("a-slow");
    d.repo.write(
        &format!("{slow}/compose.yaml"),
        &format!(
            "services:\n  dep:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n    healthcheck:\n      test: [\"CMD-SHELL\", \"sleep 2\"]\n      interval: 1s\n      timeout: 10s\n      retries: 3\n  app:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n    depends_on:\n      dep:\n        condition: service_healthy\n"
        ),
    );
    d.write_stack("b-next", &["next"]);
    d.repo.commit("a slow stack, then another");
    let api = d.start(&[]);
    // One worker: b-next waits for a-slow's compose up, its model does not.
    let ahead = crate::support::wait::wait_until(
        "b-next's model resolved while a-slow's compose up runs",
        CONVERGE,
        || async {
            let (configs, ups) = (runs(&api, "config").await, runs(&api, "up").await);
            match (configs, ups) {
                (2, 0) => Ok(true),
                (_, 0) => Err(format!("{configs} config runs")),
                _ => Ok(false),
            }
        },
    )
    .await;
    assert!(
        ahead,
        "b-next's compose config ran only after a-slow's compose up:\n{}",
        d.logs()
    );
    api.wait_status(&d.stack("b-next"), "synced", CONVERGE)
        .await;
    api.wait_status(&slow, "synced", CONVERGE).await;
    assert_eq!((runs(&api, "config").await, runs(&api, "up").await), (2, 2));
}
