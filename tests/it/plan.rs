//! Plan and apply through the API against a real dockerd (seed phase 6).
//! `RECONCILE_ENABLED=false`: plan/apply is the only way anything is deployed.

use serde_json::Value;

use crate::require_docker;
use crate::support::api::Api;
use crate::support::deployment::{CONVERGE, Deployment, refresh};
use crate::support::docker::{TEST_IMAGE, docker_ok};
use crate::support::repo::compose;
use crate::support::wait::wait_until;

const MANUAL: [(&str, &str); 1] = [("RECONCILE_ENABLED", "false")];

async fn plan(api: &Api, stack: &str) -> Value {
    api.wait_ready().await;
    let (status, body) = api
        .post(&format!("/api/stacks/{stack}/plan"), &[], b"")
        .await;
    assert_eq!(status, 200, "plan: {body}");
    body
}

async fn apply(api: &Api, stack: &str, token: &Value) -> (u16, Value) {
    let body = serde_json::json!({ "token": token }).to_string();
    api.post(
        &format!("/api/stacks/{stack}/apply"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
}

fn actions(plan: &Value) -> Vec<(String, String, String)> {
    plan["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or_default().to_string(),
                c["service"].as_str().unwrap_or_default().to_string(),
                c["source"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn first_plan_adds_everything_apply_deploys_and_then_the_plan_is_empty() {
    require_docker!();
    let mut d = Deployment::new("plan1");
    d.write_stack("web", &["web", "worker"]);
    let commit = d.repo.commit("web");
    let api = d.start(&MANUAL);
    let web = d.stack("web");
    api.wait_status(&web, "missing", CONVERGE).await;

    let first = plan(&api, &web).await;
    assert_eq!(first["stack"], web);
    assert_eq!(first["desired_revision"], commit);
    assert_eq!(
        actions(&first),
        [
            ("+".into(), "web".into(), "git".into()),
            ("+".into(), "worker".into(), "git".into())
        ]
    );
    assert_eq!(
        first["summary"],
        serde_json::json!({"add": 2, "change": 0, "remove": 0})
    );
    assert!(d.containers("web").is_empty(), "a plan changes nothing");

    let (status, result) = apply(&api, &web, &first["token"]).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["outcome"], "success", "{result}");
    api.wait_status(&web, "synced", CONVERGE).await;
    assert_eq!(d.containers("web").len(), 2);

    let after = plan(&api, &web).await;
    assert_eq!(
        after["changes"],
        serde_json::json!([]),
        "up to date: {after}"
    );
}

#[tokio::test]
async fn image_change_added_and_removed_services_and_a_stale_token() {
    require_docker!();
    let retag = format!("{}-planb", TEST_IMAGE.replace(":1", ":2"));
    docker_ok(&["tag", TEST_IMAGE, &retag]);
    let mut d = Deployment::new("plan2");
    d.write_stack("app", &["web", "old"]);
    d.repo.commit("app");
    let api = d.start(&MANUAL);
    let app = d.stack("app");
    api.wait_status(&app, "missing", CONVERGE).await;
    let first = plan(&api, &app).await;
    assert_eq!(apply(&api, &app, &first["token"]).await.0, 200);
    api.wait_status(&app, "synced", CONVERGE).await;

    let text =
        compose(&retag, &["web"]) + &compose(TEST_IMAGE, &["cache"]).replace("services:\n", "");
    d.repo.write(&format!("{app}/compose.yaml"), &text);
    d.repo.commit("new image, cache in, old out");
    refresh(&api).await;
    let changed = plan(&api, &app).await;
    assert_eq!(
        actions(&changed),
        [
            ("+".into(), "cache".into(), "git".into()),
            ("~".into(), "web".into(), "git".into()),
            ("-".into(), "old".into(), "git".into()),
        ],
        "{changed}"
    );
    let web = &changed["changes"][1];
    let image = web["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["field"] == "image")
        .unwrap_or_else(|| panic!("image field: {web}"));
    assert_eq!(
        (image["old"].as_str(), image["new"].as_str()),
        (Some(TEST_IMAGE), Some(retag.as_str()))
    );

    // The runtime changes after the plan: its token is stale.
    let (_, id, _) = d.containers("app").remove(0);
    docker_ok(&["stop", "-t", "1", &id]);
    api.wait_stack(&app, "the stop is seen", CONVERGE, |stack| {
        stack["services"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["containers"].as_array().cloned().unwrap_or_default())
            .any(|c| c["state"] == "exited")
    })
    .await;
    let (status, body) = apply(&api, &app, &changed["token"]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("plan is stale")),
        "{body}"
    );

    let fresh = plan(&api, &app).await;
    let (status, result) = apply(&api, &app, &fresh["token"]).await;
    assert_eq!(
        (status, result["outcome"].as_str()),
        (200, Some("success")),
        "{result}"
    );
    api.wait_status(&app, "synced", CONVERGE).await;
    let services: Vec<String> = d.containers("app").into_iter().map(|(s, _, _)| s).collect();
    assert_eq!(services, ["cache", "web"]);
    docker_ok(&["rmi", &retag]);
}

#[tokio::test]
async fn two_simultaneous_applies_of_one_plan_give_one_200_and_one_409() {
    require_docker!();
    let mut d = Deployment::new("plan3");
    d.write_stack("web", &["web"]);
    d.repo.commit("web");
    let api = d.start(&MANUAL);
    let web = d.stack("web");
    api.wait_status(&web, "missing", CONVERGE).await;
    let planned = plan(&api, &web).await;
    let (a, b) = tokio::join!(
        apply(&api, &web, &planned["token"]),
        apply(&api, &web, &planned["token"])
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let refused = if a.0 == 409 { &a.1 } else { &b.1 };
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(
        ["Stack is being applied by another session", "plan is stale"].contains(&error),
        "{refused}"
    );
    api.wait_status(&web, "synced", CONVERGE).await;
    assert_eq!(d.containers("web").len(), 1, "applied once");
}

#[tokio::test]
async fn secret_values_never_appear_in_a_plan_and_drift_shows_as_runtime() {
    require_docker!();
    let mut d = Deployment::new("plan4");
    let app = d.stack("app");
    let text = compose(TEST_IMAGE, &["app"])
        + "    env_file: app.env\n    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n      MODE: one\n";
    d.repo.write(&format!("{app}/compose.yaml"), &text);
    d.repo
        .write(&format!("{app}/.env"), "DB_PASSWORD=hunter2-first\n");
    d.repo.write(
        &format!("{app}/app.env"),
        "API_TOKEN=tok-first-77\nLEVEL=info\n",
    );
    d.repo.commit("app with secrets");
    let api = d.start(&MANUAL);
    api.wait_status(&app, "missing", CONVERGE).await;
    let first = plan(&api, &app).await;
    assert_eq!(apply(&api, &app, &first["token"]).await.0, 200);
    api.wait_status(&app, "synced", CONVERGE).await;

    d.repo
        .write(&format!("{app}/.env"), "DB_PASSWORD=hunter2-second\n");
    d.repo.write(
        &format!("{app}/app.env"),
        "API_TOKEN=tok-second-88\nLEVEL=debug\n",
    );
    d.repo.commit("rotate secrets");
    refresh(&api).await;
    let rotated = plan(&api, &app).await;
    let text = rotated.to_string();
    for secret in ["hunter2", "tok-first", "tok-second"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let fields: Vec<(String, Value, Value)> = rotated["changes"][0]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap_or_default().to_string(),
                f["old"].clone(),
                f["new"].clone(),
            )
        })
        .collect();
    let redacted = Value::from("(redacted)");
    assert!(
        fields.contains(&(
            "environment.DB_PASSWORD".into(),
            redacted.clone(),
            redacted.clone()
        )),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("environment.API_TOKEN".into(), redacted.clone(), redacted)),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("environment.LEVEL".into(), "info".into(), "debug".into())),
        "{fields:?}"
    );

    // Drift, with the desired state unchanged: a runtime change.
    let fresh = plan(&api, &app).await;
    assert_eq!(apply(&api, &app, &fresh["token"]).await.0, 200);
    api.wait_status(&app, "synced", CONVERGE).await;
    let (_, id, _) = d.containers("app").remove(0);
    docker_ok(&["stop", "-t", "1", &id]);
    let drift = wait_until("a runtime change", CONVERGE, || async {
        let p = plan(&api, &app).await;
        if p["changes"].as_array().is_some_and(|c| !c.is_empty()) {
            Ok(p)
        } else {
            Err(p.to_string())
        }
    })
    .await;
    assert_eq!(drift["changes"][0]["source"], "runtime", "{drift}");
    assert_eq!(
        drift["changes"][0]["fields"],
        serde_json::json!([{"field": "state", "old": "exited", "new": "running"}])
    );
}

#[tokio::test]
async fn plan_of_an_unknown_stack_is_404_and_apply_needs_a_token() {
    require_docker!();
    let mut d = Deployment::new("plan5");
    d.write_stack("web", &["web"]);
    d.repo.commit("web");
    let api = d.start(&MANUAL);
    let web = d.stack("web");
    api.wait_status(&web, "missing", CONVERGE).await;
    let (status, body) = api.post("/api/stacks/nope/plan", &[], b"").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = api
        .post(
            &format!("/api/stacks/{web}/apply"),
            &[("Content-Type", "application/json")],
            b"{}",
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("token")),
        "{body}"
    );
}
