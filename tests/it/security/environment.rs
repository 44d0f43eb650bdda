//! Issue 22, item 4: compose runs with a minimal environment plus the stack's
//! own `.env`, so no variable of docker-cd's reaches a container.

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::docker::{TEST_IMAGE, docker_ok};

/// A stack that asks for docker-cd's variables every way compose offers — a
/// bare `environment` entry, interpolation into the environment and into a
/// label — gets none of them, while its own `.env` still arrives, both as a
/// bare entry and interpolated.
#[tokio::test]
async fn no_variable_of_docker_cd_reaches_a_container() {
    require_docker!();
    let mut d = Deployment::new("hostenv");
    // Only the headers variable: its endpoint would turn the exporter on.
    let host_value = format!("host-only-{}", d.instance);
    let headers = format!("Authorization=Bearer {host_value}-otel");
    let stack = d.stack("web");
    let compose = format!(
        "services:
  web:
    image: {TEST_IMAGE}
    network_mode: bridge
    environment:
      - HOST_ONLY_VALUE
      - OTEL_EXPORTER_OTLP_HEADERS
      - FROM_HOST=${{HOST_ONLY_VALUE:-unset}}
      - HEADERS_FROM_HOST=${{OTEL_EXPORTER_OTLP_HEADERS:-unset}}
      - STACK_VALUE
      - FROM_STACK=${{STACK_VALUE:-missing}}
    labels:
      from-host: ${{HOST_ONLY_VALUE:-unset}}
"
    );
    d.repo
        .write(&format!("{stack}/compose.yaml"), &compose)
        .write(&format!("{stack}/.env"), "STACK_VALUE=from-the-stack\n");
    d.repo
        .commit("a stack that asks for the host's environment");
    let api = d.start(&[
        ("HOST_ONLY_VALUE", &host_value),
        ("OTEL_EXPORTER_OTLP_HEADERS", &headers),
    ]);

    api.wait_status(&stack, "synced", CONVERGE).await;
    let rows = d.containers("web");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let id = &rows[0].1;
    let inspect = docker_ok(&["inspect", id]);
    assert!(
        !inspect.contains(&host_value),
        "a value of docker-cd's environment reached the container:\n{inspect}"
    );
    let env = docker_ok(&["inspect", "-f", "{{json .Config.Env}}", id]);
    for expected in [
        "\"FROM_HOST=unset\"",
        "\"HEADERS_FROM_HOST=unset\"",
        "\"STACK_VALUE=from-the-stack\"",
        "\"FROM_STACK=from-the-stack\"",
    ] {
        assert!(env.contains(expected), "{expected} in {env}");
    }
    assert_eq!(d.label(id, "from-host"), "unset");
}
