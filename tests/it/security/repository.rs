//! Items 1 and 2: a commit may not read host files or ask for more than `POLICY` allows.

use serde_json::Value;

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::docker::{TEST_IMAGE, docker_ok};

/// A service of the test image, one per line group, as compose YAML.
fn service(name: &str, extra: &str) -> String {
    format!("  {name}:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n{extra}")
}

/// Waits for `stack` to be `failed` and returns its error.
async fn failed_with(api: &crate::support::api::Api, stack: &str) -> String {
    let failed = api.wait_status(stack, "failed", CONVERGE).await;
    failed["error"].as_str().unwrap_or_default().to_string()
}

/// Item 1: `env_file`, `include` and `extends` pointing at host files fail
/// their stack (nothing of them runs, the host value reaches no container),
/// while a stack that includes and reads its own files deploys with docker-cd's
/// labels on the included service too.
#[tokio::test]
async fn compose_may_not_read_files_outside_the_stack_folder() {
    require_docker!();
    let outside = tempfile::tempdir().expect("tempdir");
    let host = outside.path().display().to_string();
    std::fs::write(
        outside.path().join("host.env"),
        "HOST_SECRET_PASSWORD=hunter2\n",
    )
    .expect("host env");
    let host_compose = format!("services:\n{}", service("inc", ""));
    std::fs::write(outside.path().join("compose.yaml"), host_compose).expect("host compose");

    let mut d = Deployment::new("confine");
    let climb = "../".repeat(12);
    let bad = [
        (
            "envfile",
            format!(
                "services:\n{}",
                service("web", &format!("    env_file: {climb}{host}/host.env\n"))
            ),
            "env_file",
        ),
        (
            "include",
            format!(
                "include:\n  - {host}/compose.yaml\nservices:\n{}",
                service("web", "")
            ),
            "include",
        ),
        (
            "extends",
            format!(
                "services:\n  web:\n    extends:\n      file: {host}/compose.yaml\n      service: inc\n"
            ),
            "extends.file",
        ),
        // What compose resolves is checked on its resolved model.
        (
            "build",
            format!("services:\n  web:\n    image: {TEST_IMAGE}\n    build: {host}\n"),
            "build context",
        ),
        (
            "secret",
            format!(
                "services:\n{}secrets:\n  s:\n    file: {host}/host.env\n",
                service("web", "    secrets: [s]\n")
            ),
            "secrets.s.file",
        ),
    ];
    for (short, compose, _) in &bad {
        d.repo
            .write(&format!("{}/compose.yaml", d.stack(short)), compose);
    }
    // A variable in a path compose reads before docker-cd could see its value.
    let var = d.stack("var");
    d.repo
        .write(
            &format!("{var}/compose.yaml"),
            &format!(
                "services:\n{}",
                service("web", "    env_file: ${B}/host.env\n")
            ),
        )
        .write(&format!("{var}/.env"), &format!("B={climb}{host}\n"));
    // Compose v1 takes DOCKER_HOST from .env, written any way its parser
    // reads (issue 22: `export<TAB>`, a quoted key, a lone `\r` ending a line).
    let engines = [
        ("engine", "DOCKER_HOST=tcp://127.0.0.1:1\n"),
        ("engine-tab", "export\tDOCKER_HOST=tcp://127.0.0.1:1\n"),
        ("engine-quoted", "'DOCKER_HOST'=tcp://127.0.0.1:1\n"),
        ("engine-cr", "TZ=UTC\rDOCKER_HOST=tcp://127.0.0.1:1\n"),
    ];
    for (short, dotenv) in engines {
        let engine = d.stack(short);
        d.repo
            .write(
                &format!("{engine}/compose.yaml"),
                &format!("services:\n{}", service("web", "")),
            )
            .write(&format!("{engine}/.env"), dotenv);
    }
    let fine = d.stack("fine");
    d.repo
        .write(
            &format!("{fine}/compose.yaml"),
            &format!(
                "include:\n  - sub/extra.yaml\nservices:\n{}",
                service("web", "    env_file: conf/web.env\n")
            ),
        )
        .write(&format!("{fine}/conf/web.env"), "FROM_REPO=yes\n")
        .write(
            &format!("{fine}/sub/extra.yaml"),
            &format!("services:\n{}", service("extra", "")),
        );
    d.repo
        .commit("stacks that reach outside, and one that stays in");
    let api = d.start(&[]);

    api.wait_status(&fine, "synced", CONVERGE).await;
    let rows = d.containers("fine");
    let services: Vec<&str> = rows.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(services, ["extra", "web"], "{rows:?}");
    for (service, id, _) in &rows {
        assert_eq!(d.label(id, "io.docker-cd.managed"), "true", "{service}");
        assert_eq!(
            d.label(id, "io.docker-cd.instance"),
            d.instance,
            "{service}"
        );
    }
    let web = &rows[1].1;
    let env = docker_ok(&["inspect", "-f", "{{json .Config.Env}}", web]);
    assert!(env.contains("FROM_REPO=yes"), "{env}");

    for (short, _, field) in &bad {
        let stack = d.stack(short);
        let error = failed_with(&api, &stack).await;
        assert!(
            error.contains(field) && error.contains("is outside the stack folder"),
            "{stack}: {error}"
        );
        assert!(d.containers(short).is_empty(), "{stack} runs something");
    }
    let expected = engines
        .map(|(short, _)| (short, ".env: sets DOCKER_HOST"))
        .into_iter()
        .chain([("var", "uses variables")]);
    for (short, expected) in expected {
        let error = failed_with(&api, &d.stack(short)).await;
        assert!(error.contains(expected), "{short}: {error}");
        assert!(d.containers(short).is_empty(), "{short} runs something");
    }
    let everything = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={}", d.stack("envfile")),
    ]);
    assert!(everything.trim().is_empty(), "{everything}");
}

/// Item 2: with `POLICY` set, a stack asking for privileged mode, the host's
/// root and Docker socket, or an image from another registry fails naming the
/// service and field; a plain stack still deploys. Without a policy the `+`
/// plan of such a service lists those fields for the reviewer.
#[tokio::test]
async fn policy_refuses_host_powers_and_a_plan_shows_them() {
    require_docker!();
    let mut d = Deployment::new("policy");
    let powerful = format!(
        "services:\n{}",
        service(
            "agent",
            "    privileged: true\n    volumes:\n      - /:/host:ro\n      - /var/run/docker.sock:/var/run/docker.sock\n"
        )
    );
    let root = d.stack("root");
    d.repo.write(&format!("{root}/compose.yaml"), &powerful);
    let ghcr = d.stack("ghcr");
    d.repo.write(
        &format!("{ghcr}/compose.yaml"),
        "services:\n  app:\n    image: ghcr.io/acme/app:1\n    network_mode: bridge\n",
    );
    // The same powers through .env variables and a YAML 1.1 boolean: the
    // policy reads the model compose resolved.
    let sneaky = d.stack("sneaky");
    d.repo
        .write(
            &format!("{sneaky}/compose.yaml"),
            &format!(
                "services:\n{}",
                service(
                    "agent",
                    "    pid: ${P}\n    privileged: \"yes\"\n    volumes:\n      - ${UP:-.}/x:/x\n"
                )
            ),
        )
        .write(&format!("{sneaky}/.env"), "P=host\nUP=../../../..\n");
    d.write_stack("plain", &["web"]);
    d.repo
        .commit("a powerful stack, a sneaky one, a foreign registry, a plain one");
    let api = d.start(&[(
        "POLICY",
        "deny-privileged,deny-host-mounts,allowed-registries=docker.io",
    )]);

    api.wait_status(&d.stack("plain"), "synced", CONVERGE).await;
    let error = failed_with(&api, &root).await;
    for expected in [
        "service 'agent': privileged: true is refused by POLICY deny-privileged",
        "service 'agent': volume '/' is refused by POLICY deny-host-mounts",
        "service 'agent': volume '/var/run/docker.sock' is refused by POLICY deny-host-mounts",
    ] {
        assert!(error.contains(expected), "{expected}\nin: {error}");
    }
    let error = failed_with(&api, &sneaky).await;
    for expected in [
        "service 'agent': privileged: true is refused",
        "service 'agent': pid: host is refused",
        "is refused by POLICY deny-host-mounts",
    ] {
        assert!(error.contains(expected), "{expected}\nin: {error}");
    }
    assert!(d.containers("sneaky").is_empty());
    let error = failed_with(&api, &ghcr).await;
    assert!(
        error.contains("service 'app': image 'ghcr.io/acme/app:1' (registry ghcr.io) is refused by POLICY allowed-registries"),
        "{error}"
    );
    assert!(d.containers("root").is_empty());
    d.stop();

    // No policy, nothing applied: the plan of the new service shows its powers.
    let api = d.start(&[("RECONCILE_ENABLED", "false")]);
    api.wait_status(&root, "missing", CONVERGE).await;
    api.wait_ready().await;
    let (status, plan) = api
        .post(&format!("/api/stacks/{root}/plan"), &[], b"")
        .await;
    assert_eq!(status, 200, "{plan}");
    let change = &plan["changes"][0];
    assert_eq!(change["action"], "+", "{plan}");
    let fields: Vec<(String, Value)> = change["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap_or_default().to_string(),
                f["new"].clone(),
            )
        })
        .collect();
    let named = |name: &str| {
        fields
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(named("privileged"), Some(Value::from("true")), "{fields:?}");
    let volumes = named("volumes").expect("volumes listed").to_string();
    assert!(
        volumes.contains("/var/run/docker.sock") && volumes.contains("bind /:/host"),
        "{volumes}"
    );
    assert!(named("image").is_some(), "{fields:?}");
}
