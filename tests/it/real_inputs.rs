//! Inputs nobody on the project wrote: push payloads the forges publish, and
//! compose files of well-known projects (their sources are named in
//! `tests/fixtures/*/SOURCES.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::docker::{TEST_IMAGE, docker_bin};
use crate::support::process::DockerCd;
use crate::support::repo::TestRepo;
use crate::support::run_ok;
use crate::support::webhook;

const SECRET: &str = "real-inputs-secret";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A published payload, byte for byte.
fn payload(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("webhooks").join(name)).expect("payload fixture")
}

/// How `forge` sends a push of `body`, signed with `SECRET`, as JSON.
fn push_headers(forge: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let event = if forge == "gitlab" {
        "Push Hook"
    } else {
        "push"
    };
    let mut headers = webhook::headers(forge, event, SECRET, body);
    headers.push(("Content-Type", "application/json".into()));
    headers
}

#[tokio::test]
async fn published_push_payloads_refresh_for_the_tracked_branch_and_are_ignored_for_others() {
    // The payloads push to `master` (GitHub, GitLab) and `develop` (Gitea).
    let repo = TestRepo::with_stack("web", &["web"]);
    repo.git(&["branch", "master"]);
    repo.git(&["branch", "develop"]);
    let mut apps = Vec::new();
    for branch in ["master", "develop"] {
        let app = DockerCd::on(&repo)
            .env("GIT_REF", branch)
            .env("RECONCILE_ENABLED", "false")
            .env("WEBHOOK_SECRET", SECRET)
            .start();
        let api = app.api();
        api.refreshed_after(None).await;
        apps.push((branch, api, app));
    }

    for (file, forge, pushed) in [
        ("github-push.json", "github", "master"),
        ("gitlab-push.json", "gitlab", "master"),
        ("gitea-push.json", "gitea", "develop"),
    ] {
        let body = payload(file);
        let headers = push_headers(forge, &body);
        for (branch, api, _) in &apps {
            let (status, answer) = webhook::post(api, &headers, &body).await;
            if *branch == pushed {
                assert_eq!(status, 202, "{file} to a docker-cd on {branch}: {answer}");
                assert!(
                    ["refreshing", "queued"].contains(&answer["status"].as_str().unwrap_or("")),
                    "{answer}"
                );
            } else {
                assert_eq!(
                    (status, answer["status"].as_str()),
                    (200, Some("ignored")),
                    "{file} to a docker-cd on {branch}: {answer}"
                );
            }
        }
    }

    let (_, master, _) = &apps[0];
    let ping = payload("github-ping.json");
    let signature = webhook::github_signature(SECRET, &ping);
    let (status, answer) = webhook::github(master, "ping", &signature, &ping).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("pong")),
        "{answer}"
    );

    // `curl -d @push.json` sends JSON as application/x-www-form-urlencoded.
    let body = payload("github-push.json");
    let mut headers = webhook::headers("github", "push", SECRET, &body);
    headers.push((
        "Content-Type",
        "application/x-www-form-urlencoded".to_string(),
    ));
    let (status, answer) = webhook::post(master, &headers, &body).await;
    assert_eq!(status, 202, "JSON under a form content type: {answer}");
}

/// Every stack folder of the corpus, by name.
fn corpus() -> BTreeMap<String, PathBuf> {
    let root = fixtures().join("compose-corpus");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&root).expect("corpus") {
        let path = entry.expect("entry").path();
        if path.join("compose.yaml").is_file() {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            out.insert(name, path);
        }
    }
    out
}

/// Copies a folder tree (the corpus stacks hold configs and `.env` files too).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The services `compose up` starts in `dir`, as compose itself lists them
/// (an oracle independent of docker-cd's own parser).
fn started_services(dir: &Path) -> Vec<String> {
    let listed = run_ok(
        Command::new(docker_bin())
            .args(["compose", "config", "--services"])
            .current_dir(dir),
    );
    let mut names: Vec<String> = listed.lines().map(str::to_string).collect();
    names.sort();
    names
}

/// Values of secret-looking keys anywhere in a compose document (environment
/// maps and `KEY=value` lists, `x-` blocks, labels), with their keys.
fn secret_values(value: &Value, out: &mut Vec<(String, String)>) {
    let secret = |key: &str| docker_cd::redact::is_secret(key);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if secret(k) => out.push((k.clone(), s.clone())),
                    Value::Number(n) if secret(k) => out.push((k.clone(), n.to_string())),
                    _ => secret_values(v, out),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                // `KEY=value` entries; a command word like `--password=$$(…)` is not one.
                if let Some((k, v)) = item.as_str().and_then(|s| s.split_once('='))
                    && secret(k)
                    && !k.contains(char::is_whitespace)
                {
                    out.push((k.to_string(), v.to_string()));
                }
                secret_values(item, out);
            }
        }
        _ => {}
    }
}

/// Plan fields that name a secret-looking key but show its value.
fn shown_in_plan(plan: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for change in plan["changes"].as_array().into_iter().flatten() {
        for field in change["fields"].as_array().into_iter().flatten() {
            let name = field["field"].as_str().unwrap_or_default();
            let key = name.split_once('.').map_or(name, |(_, k)| k);
            if !docker_cd::redact::is_secret(key) {
                continue;
            }
            for side in [&field["old"], &field["new"]] {
                if !side.is_null() && side != "(redacted)" {
                    out.push(format!("{name}: {side}"));
                }
            }
        }
    }
    out
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("compose file");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn published_compose_files_are_discovered_and_planned_without_leaking_secrets() {
    require_docker!();
    let corpus = corpus();
    assert!(corpus.len() >= 30, "the corpus has {} stacks", corpus.len());
    let repo = TestRepo::new();
    for (name, dir) in &corpus {
        copy_tree(dir, &repo.path().join("stacks").join(name));
    }
    repo.commit("published compose files");
    let app = DockerCd::on(&repo)
        .env("DEPLOY_DIR", "stacks")
        .env("RECONCILE_ENABLED", "false")
        .start();
    let api = app.api();
    api.refreshed_after(None).await;
    let listed = api.stacks().await;
    let known: Vec<&str> = listed["stacks"]
        .as_array()
        .expect("stacks")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();

    let mut problems = Vec::new();
    let mut secrets_seen = 0;
    api.wait_ready().await;
    for (name, dir) in &corpus {
        if !known.contains(&name.as_str()) {
            problems.push(format!("{name}: not discovered"));
            continue;
        }
        let (status, plan) = api
            .post(&format!("/api/stacks/{name}/plan"), &[], b"")
            .await;
        if status != 200 {
            problems.push(format!("{name}: plan answered {status}: {plan}"));
            continue;
        }
        let mut added: Vec<String> = plan["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter(|c| c["action"] == "+")
            .filter_map(|c| c["service"].as_str().map(str::to_string))
            .collect();
        added.sort();
        let expected = started_services(dir);
        if added != expected
            || plan["summary"] != json!({"add": expected.len(), "change": 0, "remove": 0})
        {
            problems.push(format!(
                "{name}: plan {plan} but compose starts {expected:?}"
            ));
        }
        problems.extend(
            shown_in_plan(&plan)
                .into_iter()
                .map(|f| format!("{name}: plan shows {f}")),
        );
        // The compose file as the API and dashboard show it: still YAML, with
        // every secret-looking value replaced (and some to replace at all).
        let (_, shown) = api.get(&format!("/api/stacks/{name}/compose")).await;
        let text = shown["content"].as_str().unwrap_or_default();
        let mut original = Vec::new();
        secret_values(&read_yaml(&dir.join("compose.yaml")), &mut original);
        match serde_saphyr::from_str::<Value>(text) {
            Ok(doc) => {
                let mut redacted = Vec::new();
                secret_values(&doc, &mut redacted);
                for (key, value) in redacted {
                    if value != "(redacted)" {
                        problems.push(format!("{name}: compose file shows {key}={value}"));
                    }
                }
                secrets_seen += original.len();
            }
            Err(e) => problems.push(format!("{name}: the redacted file is not YAML: {e}")),
        }
    }
    assert!(
        secrets_seen >= 30,
        "the corpus holds secrets to hide: {secrets_seen}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A corpus stack made runnable here: every image is the test image (no
/// registry), builds, fixed container names and host ports go (parallel tests),
/// commands give way to the image's own service, and healthchecks test what the
/// test image can answer. Everything else — networks, named volumes, secrets,
/// env files, dependencies, labels — stays as published. Written as JSON, which
/// is YAML.
fn runnable(compose: &Value) -> String {
    let mut doc = compose.clone();
    if let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) {
        for service in services.values_mut() {
            let Some(service) = service.as_object_mut() else {
                continue;
            };
            service.insert("image".into(), json!(TEST_IMAGE));
            for key in [
                "build",
                "container_name",
                "command",
                "entrypoint",
                "platform",
            ] {
                service.remove(key);
            }
            if let Some(ports) = service.get_mut("ports").and_then(Value::as_array_mut) {
                for port in ports.iter_mut() {
                    if let Some(text) = port.as_str() {
                        let target = text.rsplit(':').next().unwrap_or(text).to_string();
                        *port = json!(target);
                    } else if let Some(map) = port.as_object_mut() {
                        map.remove("published");
                        map.remove("host_ip");
                    }
                }
            }
            if let Some(health) = service
                .get_mut("healthcheck")
                .and_then(Value::as_object_mut)
            {
                health.insert("test".into(), json!(["CMD", "test", "-e", "/tmp/healthy"]));
                health.insert("interval".into(), json!("1s"));
                health.remove("start_period");
                health.remove("start_interval");
            }
        }
    }
    serde_json::to_string_pretty(&doc).expect("json")
}

#[tokio::test]
async fn deployed_published_stacks_have_an_empty_plan_right_after_the_apply() {
    require_docker!();
    // Secrets from files, env files, named volumes, several networks, health
    // conditions and configs mounted from the stack folder.
    let picks = [
        "wordpress-mysql",
        "nextcloud-redis-mariadb",
        "gitea-postgres",
        "nginx-golang-mysql",
        "traefik-acme-dns-secrets",
        "postgres",
    ];
    let corpus = corpus();
    let mut d = Deployment::new("real");
    for pick in picks {
        let dir = &corpus[pick];
        let stack = d.stack(pick);
        copy_tree(dir, &d.repo.path().join(&stack));
        let doc = read_yaml(&dir.join("compose.yaml"));
        std::fs::write(
            d.repo.path().join(&stack).join("compose.yaml"),
            runnable(&doc),
        )
        .expect("write");
    }
    d.repo.commit("published stacks on the test image");
    let api = d.start(&[]);

    let mut problems = Vec::new();
    for pick in picks {
        let stack = d.stack(pick);
        let synced = api
            .wait_stack(&stack, &format!("{pick} synced"), CONVERGE, |s| {
                s["status"] == "synced" || s["status"] == "failed"
            })
            .await;
        if synced["status"] != "synced" {
            problems.push(format!("{pick}: {synced}"));
            continue;
        }
        let (status, plan) = api
            .post(&format!("/api/stacks/{stack}/plan"), &[], b"")
            .await;
        if status != 200 || plan["changes"] != json!([]) {
            problems.push(format!("{pick}: plan after apply ({status}) {plan}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
