//! Reconcile to Docker, end to end (seed feature 004): the binary, real git
//! repositories, a real dockerd and compose. Every stack uses `network_mode:
//! bridge` (see `support::repo::compose`) and a per-test instance and name prefix.

use std::time::Duration;

use serde_json::Value;

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment, compose_runs, compose_ups, ids, refresh};
use crate::support::docker::{TEST_IMAGE, docker, docker_ok};
use crate::support::private_dockerd::PrivateDockerd;
use crate::support::repo::compose;
use crate::support::wait::{holds_for, wait_until};

#[tokio::test]
async fn applies_labels_then_a_no_op_pass_runs_no_compose_and_one_change_touches_one_stack() {
    require_docker!();
    let mut d = Deployment::new("apply");
    d.write_stack("web", &["web", "sidecar"])
        .write_stack("db", &["db"]);
    let first = d.repo.commit("two stacks");
    let api = d.start(&[]);
    let web = d.stack("web");
    let db = d.stack("db");
    let synced = api.wait_status(&web, "synced", CONVERGE).await;
    api.wait_status(&db, "synced", CONVERGE).await;

    assert_eq!(synced["synced_revision"], first);
    assert_eq!(synced["synced_stack_hash"], synced["stack_hash"]);
    let rows = d.containers("web");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|(_, _, state)| state == "running"),
        "{rows:?}"
    );
    let (_, id, _) = &rows[0];
    assert_eq!(d.label(id, "io.docker-cd.managed"), "true");
    assert_eq!(d.label(id, "io.docker-cd.instance"), d.instance);
    assert_eq!(d.label(id, "io.docker-cd.stack"), web);
    assert_eq!(d.label(id, "io.docker-cd.revision"), first);
    assert_eq!(
        d.label(id, "io.docker-cd.stack-hash"),
        synced["stack_hash"].as_str().expect("hash")
    );

    // A commit that changes no stack: no compose run, revision label untouched.
    let runs = compose_runs(&api).await;
    d.repo.write("README.md", "docs only\n");
    let docs = d.repo.commit("docs");
    refresh(&api).await;
    // A wrong reconcile gets two seconds to start.
    holds_for(
        "no compose run for a no-op pass",
        Duration::from_secs(2),
        || async {
            let now = compose_runs(&api).await;
            if now == runs {
                Ok(())
            } else {
                Err(format!("{now} runs, {runs} before:\n{}", d.logs()))
            }
        },
    )
    .await;
    assert_eq!(
        d.label(id, "io.docker-cd.revision"),
        first,
        "not touched by {docs}"
    );

    // Change only web: db keeps its containers.
    let db_ids = ids(&d.containers("db"));
    d.write_stack("web", &["web"]);
    let second = d.repo.commit("web loses its sidecar");
    refresh(&api).await;
    api.wait_stack(&web, "web applied at the new revision", CONVERGE, |s| {
        s["status"] == "synced" && s["synced_revision"] == second
    })
    .await;
    let rows = d.containers("web");
    assert_eq!(rows.len(), 1, "the removed service is gone: {rows:?}");
    assert_eq!(ids(&d.containers("db")), db_ids, "db untouched");
    assert_eq!(api.stack(&db).await.expect("db")["synced_revision"], first);
}

#[tokio::test]
async fn an_env_change_redeploys_and_an_invalid_stack_fails_alone() {
    require_docker!();
    let mut d = Deployment::new("envbad");
    d.write_stack("app", &["app"]).write_stack("ok", &["ok"]);
    d.repo
        .write(&format!("{}/.env", d.stack("app")), "GREETING=one\n");
    d.repo.commit("app with .env");
    let api = d.start(&[]);
    let app = d.stack("app");
    let ok = d.stack("ok");
    api.wait_status(&app, "synced", CONVERGE).await;
    api.wait_status(&ok, "synced", CONVERGE).await;
    let before = ids(&d.containers("app"));

    d.repo.write(&format!("{}/.env", app), "GREETING=two\n");
    d.repo.write(
        &format!("{}/compose.yaml", d.stack("broken")),
        "services: [not, a, map\n",
    );
    let commit = d.repo.commit(".env change and a broken stack");
    refresh(&api).await;
    let broken = d.stack("broken");
    let failed = api
        .wait_stack(
            &broken,
            "the broken stack failed with its last result",
            CONVERGE,
            |s| s["status"] == "failed" && s["last_result"].is_object(),
        )
        .await;
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("compose.yaml") && e.contains("YAML")),
        "the stack says what is wrong: {failed}"
    );
    assert_eq!(failed["last_result"]["outcome"], "failure", "{failed}");
    assert_eq!(
        failed["last_result"]["error"], failed["error"],
        "a failure found at refresh is the last result too: {failed}"
    );
    api.wait_stack(&app, "app redeployed", CONVERGE, |s| {
        s["status"] == "synced" && s["synced_revision"] == commit
    })
    .await;
    assert_ne!(
        ids(&d.containers("app")),
        before,
        ".env is part of the stack: recreated"
    );
    assert_eq!(api.stack(&ok).await.expect("ok")["status"], "synced");
}

#[tokio::test]
async fn killed_and_removed_containers_heal_from_the_event_stream() {
    require_docker!();
    let mut d = Deployment::new("heal");
    d.write_stack("web", &["web", "worker"]);
    d.repo.commit("web");
    let api = d.start(&[]);
    let web = d.stack("web");
    api.wait_status(&web, "synced", CONVERGE).await;
    let healed = |gone: String| {
        let d = &d;
        let api = &api;
        let web = web.clone();
        async move {
            let rows = d.containers("web");
            let stack = api.stack(&web).await.expect("web");
            let fresh = rows.iter().all(|(_, id, _)| *id != gone);
            if stack["status"] == "synced"
                && rows.len() == 2
                && rows.iter().all(|(_, _, s)| s == "running")
                && fresh
            {
                Ok(())
            } else {
                Err(format!("{rows:?} {stack}"))
            }
        }
    };

    let runs = |command: &'static str| {
        let api = &api;
        async move {
            let label = format!("command=\"{command}\"");
            api.metric_sum("dockercd_compose_runs_total{", &[&label])
                .await
        }
    };
    let (configs, ups) = (runs("config").await, runs("up").await);

    // Killed: started again (same container).
    let (_, killed, _) = d.containers("web").remove(0);
    docker_ok(&["kill", &killed]);
    wait_until("killed container running again", CONVERGE, || {
        healed(String::new())
    })
    .await;

    // Partly removed by hand: the missing service is created again.
    let (_, removed, _) = d.containers("web").remove(1);
    docker_ok(&["rm", "-f", &removed]);
    wait_until("removed container recreated", CONVERGE, || {
        healed(removed.clone())
    })
    .await;
    // The files were admitted already: the reverts ran compose up alone.
    assert!(runs("up").await > ups);
    assert_eq!(runs("config").await, configs, "no compose config again");
}

#[tokio::test]
async fn a_service_that_exits_0_when_stopped_is_started_again_and_finished_jobs_are_left() {
    require_docker!();
    let mut d = Deployment::new("stop0");
    let app = d.stack("app");
    // `migrate` is awaited to complete, `seed` is labelled a job; `web` is a
    // server whose image exits 0 on `docker stop`, as nginx and postgres do.
    d.repo.write(
        &format!("{app}/compose.yaml"),
        &format!(
            "services:
  web:
    image: {TEST_IMAGE}
    network_mode: bridge
    depends_on:
      migrate:
        condition: service_completed_successfully
  migrate:
    image: {TEST_IMAGE}
    command: [\"exit-with\", \"0\"]
    network_mode: bridge
  seed:
    image: {TEST_IMAGE}
    command: [\"exit-with\", \"0\"]
    network_mode: bridge
    labels:
      io.docker-cd.oneshot: \"true\"
"
        ),
    );
    d.repo.commit("app");
    let api = d.start(&[]);
    api.wait_status(&app, "synced", CONVERGE).await;
    let states = |rows: Vec<(String, String, String)>| {
        rows.into_iter()
            .map(|(service, _, state)| (service, state))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        states(d.containers("app")),
        [
            ("migrate".to_string(), "exited".to_string()),
            ("seed".into(), "exited".into()),
            ("web".into(), "running".into())
        ],
        "finished jobs are part of a synced stack"
    );

    let web = d.containers("app").remove(2).1;
    docker_ok(&["stop", &web]);
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", &web]),
        "0",
        "the test image exits 0 on stop"
    );
    wait_until("the stopped server running again", CONVERGE, || async {
        let rows = d.containers("app");
        let web_state = rows
            .iter()
            .find(|(s, _, _)| s == "web")
            .map(|r| r.2.clone());
        let stack = api.stack(&app).await.unwrap_or_default();
        if web_state.as_deref() == Some("running") && stack["status"] == "synced" {
            Ok(())
        } else {
            Err(format!("{rows:?} {stack}"))
        }
    })
    .await;
    assert_eq!(
        d.containers("app")[2].1,
        web,
        "started again, not recreated"
    );
}

#[tokio::test]
async fn a_service_that_keeps_exiting_after_its_gate_fails_naming_it_until_a_sync() {
    require_docker!();
    let mut d = Deployment::new("crash");
    let app = d.stack("app");
    // Healthy within a second or two (the image's healthcheck), so the apply
    // passes its health gate; then it exits 3, again and again. (A service
    // that exits before it is healthy fails the gate instead: health_gate.rs.)
    d.repo.write(
        &format!("{app}/compose.yaml"),
        &format!(
            "services:\n  web:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n  crash:\n    image: {TEST_IMAGE}\n    command: [\"sh\", \"-c\", \"sleep 6; exit 3\"]\n    network_mode: bridge\n"
        ),
    );
    d.repo.commit("a service that exits 3 after six seconds");
    let api = d.start(&[]);
    let given_up = |runs_before: u64| {
        let api = &api;
        let app = &app;
        async move {
            wait_until("the crash loop given up", CONVERGE, || async {
                let stack = api.stack(app).await.unwrap_or_default();
                let error = stack["error"].as_str().unwrap_or_default().to_string();
                let runs = compose_ups(api).await;
                if stack["status"] == "failed"
                    && error.contains("keeps stopping")
                    && runs > runs_before
                {
                    Ok((error, runs))
                } else {
                    Err(format!("{stack} runs {runs}"))
                }
            })
            .await
        }
    };
    let (error, runs) = given_up(0).await;
    assert!(
        error.contains("crash: container") && error.contains("exited (3)"),
        "names the service and its exit code: {error}"
    );
    assert!(runs <= 7, "a bounded number of applies: {runs}");

    // An explicit sync is a fresh start (and the loop is given up again).
    let (status, body) = api.post(&format!("/api/stacks/{app}/sync"), &[], b"").await;
    assert_eq!(status, 202, "{body}");
    given_up(runs).await;
}

#[tokio::test]
async fn flagged_drift_waits_for_ack() {
    require_docker!();
    let mut d = Deployment::new("flag");
    d.write_stack("web", &["web"]);
    d.repo.commit("web");
    let api = d.start(&[("DRIFT_POLICY", "flag")]);
    let web = d.stack("web");
    api.wait_status(&web, "synced", CONVERGE).await;
    let (status, body) = api.post(&format!("/api/stacks/{web}/ack"), &[], b"").await;
    assert_eq!(status, 409, "nothing to acknowledge while synced: {body}");

    let (_, id, _) = d.containers("web").remove(0);
    docker_ok(&["stop", "-t", "1", &id]);
    api.wait_status(&web, "drifted", CONVERGE).await;
    holds_for(
        "the flag policy leaving it alone",
        Duration::from_secs(2),
        || async {
            let rows = d.containers("web");
            if rows[0].2 == "exited" {
                Ok(())
            } else {
                Err(format!("{rows:?}"))
            }
        },
    )
    .await;

    let (status, body) = api.post(&format!("/api/stacks/{web}/ack"), &[], b"").await;
    assert_eq!(status, 202, "{body}");
    api.wait_status(&web, "synced", CONVERGE).await;
    assert_eq!(d.containers("web")[0].2, "running");
}

#[tokio::test]
async fn stacks_that_leave_git_are_orphaned_or_removed() {
    require_docker!();
    let mut d = Deployment::new("remove");
    d.write_stack("keep", &["keep"])
        .write_stack("gone", &["gone"]);
    d.repo.commit("two");
    let api = d.start(&[]);
    let gone = d.stack("gone");
    api.wait_status(&gone, "synced", CONVERGE).await;
    api.wait_status(&d.stack("keep"), "synced", CONVERGE).await;

    d.repo.remove(&gone);
    d.repo.commit("remove gone");
    refresh(&api).await;
    let orphaned = api.wait_status(&gone, "orphaned", CONVERGE).await;
    assert_eq!(orphaned["desired"], false);
    assert_eq!(
        d.containers("gone").len(),
        1,
        "removal is off: still running"
    );

    d.stop();
    let api = d.start(&[("RECONCILE_REMOVE_ENABLED", "true")]);
    wait_until("gone removed", CONVERGE, || async {
        let rows = d.containers("gone");
        if rows.is_empty() {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
    wait_until("gone no longer listed", CONVERGE, || async {
        match api.stack(&gone).await {
            None => Ok(()),
            Some(stack) if stack["status"] == "missing" && stack["desired"] == false => Ok(()),
            Some(stack) => Err(stack.to_string()),
        }
    })
    .await;
    assert_eq!(d.containers("keep").len(), 1, "the desired stack stays");
}

#[tokio::test]
async fn after_a_restart_state_comes_from_labels_and_nothing_is_recreated() {
    require_docker!();
    let mut d = Deployment::new("restart");
    d.write_stack("web", &["web"]);
    let commit = d.repo.commit("web");
    let api = d.start(&[]);
    let web = d.stack("web");
    let before = api.wait_status(&web, "synced", CONVERGE).await;
    let ids_before = ids(&d.containers("web"));
    let runs_before = compose_runs(&api).await;
    assert!(runs_before >= 1);
    d.stop();

    let api = d.start(&[]);
    let after = api
        .wait_status(&web, "synced", Duration::from_secs(20))
        .await;
    assert_eq!(after["synced_revision"], commit);
    assert_eq!(
        after["synced_at"], before["synced_at"],
        "from the labels, not a new apply"
    );
    assert_eq!(ids(&d.containers("web")), ids_before, "not recreated");
    assert_eq!(
        compose_runs(&api).await,
        0,
        "the new process ran no compose"
    );
}

#[tokio::test]
async fn containers_of_other_instances_and_hand_made_ones_are_never_touched() {
    require_docker!();
    let mut d = Deployment::new("foreign");
    d.write_stack("web", &["web"]);
    d.repo.commit("web");
    // A container of another tool in the same compose project.
    let project = d.stack("web");
    let name = format!("{project}-foreign");
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.service=web",
        TEST_IMAGE,
        "sleep",
        "300",
    ]);
    let api = d.start(&[]);
    let stack: Value = api.wait_status(&project, "failed", CONVERGE).await;
    assert!(
        stack["last_result"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("did not create")),
        "{stack}"
    );
    let state = docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]);
    assert_eq!(state, "true", "the foreign container is untouched");
    let _ = docker(&["rm", "-f", &name]);
}

#[tokio::test]
async fn a_docker_outage_fails_the_apply_and_everything_recovers_when_it_is_back() {
    require_docker!();
    // A private engine, so stopping it disturbs no other test.
    let mut engine = PrivateDockerd::start();
    let mut d = Deployment::new("outage");
    let web = d.stack("web");
    let api_stack = d.stack("api");
    let isolated = |service| {
        compose(TEST_IMAGE, &[service]).replace("network_mode: bridge", "network_mode: none")
    };
    d.repo
        .write(&format!("{web}/compose.yaml"), &isolated("web"));
    d.repo
        .write(&format!("{api_stack}/compose.yaml"), &isolated("api"));
    d.repo.commit("web and api");
    let host = engine.host();
    let api = d.start(&[("DOCKER_HOST", host.as_str())]);
    api.wait_status(&web, "synced", CONVERGE).await;
    api.wait_status(&api_stack, "synced", CONVERGE).await;

    engine.stop();
    wait_until("readyz 503 while Docker is down", CONVERGE, || async {
        let (status, body) = api.get("/readyz").await;
        if status == 503 {
            Ok(())
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    d.repo.write(&format!("{web}/.env"), "CHANGED=1\n");
    let commit = d.repo.commit("change while Docker is down");
    refresh(&api).await;
    let failed = api.wait_status(&web, "failed", CONVERGE).await;
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.to_lowercase().contains("docker")),
        "the error names Docker: {failed}"
    );

    // The engine stopped every container (the test image exits 0 on TERM, as
    // real servers do); after the restart the re-list shows them exited, and
    // both stacks come back within 30 s of the engine answering: the changed
    // one at the new revision, the other one running again.
    engine.launch();
    wait_until(
        "both stacks synced and running after Docker came back",
        Duration::from_secs(30),
        || async {
            let mut problems = Vec::new();
            for name in [&web, &api_stack] {
                let stack = api.stack(name).await.expect("stack");
                let at_commit = name != &web || stack["synced_revision"] == commit;
                // One line: exactly one container, so nothing was created twice.
                let filter = format!("label=com.docker.compose.project={name}");
                let states =
                    engine.docker_ok(&["ps", "-a", "--filter", &filter, "--format", "{{.State}}"]);
                if stack["status"] != "synced" || !at_commit || states != "running" {
                    problems.push(format!("{stack} containers: {states:?}"));
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("; "))
            }
        },
    )
    .await;
}
