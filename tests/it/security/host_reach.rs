//! Issue 22, items 1–3 and 5: what a commit could still reach on the host
//! under `POLICY=deny-privileged,deny-host-mounts`: a program run by compose
//! itself, link chains that climb out of the stack, volumes that mount host
//! devices or folders, and namespaces or profiles that lift confinement. Each
//! stack must be `failed`, naming the field, with nothing of it running; a
//! harmless `tmpfs` volume still deploys.

use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::Path;

use crate::require_docker;
use crate::support::deployment::{CONVERGE, Deployment};
use crate::support::docker::{TEST_IMAGE, docker_ok};

const POLICY: &str = "deny-privileged,deny-host-mounts,allowed-registries=docker.io";

/// Removes the named volume when the test ends, however it ends.
struct VolumeGuard(String);

impl Drop for VolumeGuard {
    fn drop(&mut self) {
        let _ = crate::support::docker::docker(&["volume", "rm", "-f", &self.0]);
    }
}

/// A seccomp profile that allows every syscall.
const ALLOW_ALL: &str = "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}\n";

/// One test-image service named `name` with `extra` lines.
fn service(name: &str, extra: &str) -> String {
    format!("  {name}:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n{extra}")
}

/// A chain of links in `dir` that stays inside on paper and climbs to `/` on
/// disk: `d -> .`, `e1 -> d/..`, `e2 -> e1/..`, … `e12`. Returns `e12`.
fn climbing_links(dir: &Path) -> &'static str {
    std::fs::create_dir_all(dir).expect("mkdir");
    symlink(".", dir.join("d")).expect("link d");
    symlink("d/..", dir.join("e1")).expect("link e1");
    for n in 2..=12 {
        symlink(format!("e{}/..", n - 1), dir.join(format!("e{n}"))).expect("link");
    }
    "e12"
}

/// Every container of the test's instance, by the env it runs with.
fn envs_of_instance(instance: &str) -> String {
    let ids = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.docker-cd.instance={instance}"),
    ]);
    ids.split_whitespace()
        .map(|id| docker_ok(&["inspect", "-f", "{{json .Config.Env}} {{json .Mounts}}", id]))
        .collect()
}

#[tokio::test]
async fn a_commit_reaches_nothing_of_the_host_under_policy() {
    require_docker!();
    let outside = tempfile::tempdir().expect("tempdir");
    let host = outside.path().display().to_string();
    let secret = "HOST_ONLY_VALUE=never-in-a-container-22";
    std::fs::write(outside.path().join("host.env"), format!("{secret}\n")).expect("host env");
    let marker = outside.path().join("provider-ran");
    let mut d = Deployment::new("reach");

    // Item 1: a provider service runs its `type` program on the host.
    let provider = d.stack("provider");
    d.repo
        .write(
            &format!("{provider}/compose.yaml"),
            &format!(
                "services:\n  db:\n    provider:\n      type: ./evil.sh\n      options: {{x: y}}\n{}",
                service("web", "    depends_on: [db]\n")
            ),
        )
        .write(
            &format!("{provider}/evil.sh"),
            &format!("#!/bin/sh\ntouch {}\n", marker.display()),
        );
    let evil = d.repo.path().join(&provider).join("evil.sh");
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    // Item 2: through a link chain, a host file as env_file, a secret, a bind.
    let through_links = [
        (
            "linkenv",
            service("web", "    env_file: {top}{host}/host.env\n"),
        ),
        (
            "linksecret",
            format!(
                "{}secrets:\n  s:\n    file: {{top}}{{host}}/host.env\n",
                service("web", "    secrets: [s]\n")
            ),
        ),
        (
            "linkbind",
            service("web", "    volumes: ['./{top}{host}:/h:ro']\n"),
        ),
    ];
    for (short, body) in &through_links {
        let stack = d.stack(short);
        let top = climbing_links(&d.repo.path().join(&stack));
        let body = body.replace("{top}", top).replace("{host}", &host);
        d.repo.write(
            &format!("{stack}/compose.yaml"),
            &format!("services:\n{body}"),
        );
    }

    // Item 3: named volumes whose driver mounts a host folder.
    let upper = tempfile::tempdir().expect("tempdir");
    let (up, work) = (upper.path().join("u"), upper.path().join("w"));
    std::fs::create_dir_all(&up).expect("mkdir");
    std::fs::create_dir_all(&work).expect("mkdir");
    let overlay = d.stack("overlay");
    d.repo.write(
        &format!("{overlay}/compose.yaml"),
        &format!(
            "services:\n{}volumes:\n  host:\n    driver_opts:\n      type: overlay\n      device: overlay\n      o: lowerdir={host},upperdir={},workdir={}\n",
            service("web", "    volumes: ['host:/h:ro']\n"),
            up.display(),
            work.display(),
        ),
    );
    // What is harmless still deploys: a tmpfs volume with size options.
    let tmpfs = d.stack("tmpfs");
    d.repo.write(
        &format!("{tmpfs}/compose.yaml"),
        &format!(
            "services:\n{}volumes:\n  scratch:\n    driver_opts: {{type: tmpfs, device: tmpfs, o: 'size=16m,uid=1000'}}\n",
            service("web", "    volumes: ['scratch:/scratch']\n")
        ),
    );

    // Item 5: ways around deny-privileged. `joins` shares the pid namespace
    // of another stack's container.
    let bypasses = [
        (
            "seccomp",
            service("web", "    security_opt: ['seccomp=./allow.json']\n"),
            "security_opt: seccomp",
        ),
        (
            "label",
            service("web", "    security_opt: ['label=disable']\n"),
            "security_opt: label",
        ),
        (
            "joins",
            format!(
                "  web:\n    image: {TEST_IMAGE}\n    network_mode: bridge\n    pid: 'container:{tmpfs}-web-1'\n"
            ),
            "pid: container:",
        ),
        (
            // Compose reads `default` as a profile file of the stack.
            "seccompdefault",
            service("web", "    security_opt: ['seccomp=default']\n"),
            "security_opt: seccomp",
        ),
        (
            "hook",
            service(
                "web",
                "    post_start:\n      - command: [sh, -c, 'true']\n        privileged: true\n",
            ),
            "post_start: privileged",
        ),
        (
            "ssh",
            service(
                "web",
                &format!("    build:\n      context: .\n      ssh: ['k={host}/id_key']\n"),
            ),
            "build ssh",
        ),
        (
            "cgrouprules",
            service("web", "    device_cgroup_rules: ['b 8:* rmw']\n"),
            "device_cgroup_rules: b 8:* rmw",
        ),
        (
            "hostnet",
            format!(
                "  web:\n    image: {TEST_IMAGE}\n    networks: [outside]\nnetworks:\n  outside:\n    external: true\n    name: host\n"
            ),
            "networks: outside (the host's network)",
        ),
    ];
    for (short, body, _) in &bypasses {
        let stack = d.stack(short);
        d.repo
            .write(
                &format!("{stack}/compose.yaml"),
                &format!("services:\n{body}"),
            )
            .write(&format!("{stack}/allow.json"), ALLOW_ALL)
            .write(&format!("{stack}/default"), ALLOW_ALL);
    }
    // Found by the outside probe: one service plants a link in the working
    // folder through a writable bind of it, a later one mounts through the
    // link; and an existing volume of the host taken by name.
    let plant = d.stack("plant");
    d.repo.write(
        &format!("{plant}/compose.yaml"),
        &format!(
            "services:\n{}{}",
            service(
                "a",
                "    volumes: ['./:/w']\n    command: [sh, -c, 'ln -sfn / /w/r; touch /tmp/healthy; sleep 3600']\n"
            ),
            service(
                "b",
                &format!(
                    "    depends_on: {{a: {{condition: service_healthy}}}}\n    volumes: ['./r:/host']\n    command: [sh, -c, 'touch /host{host}/planted; sleep 3600']\n"
                )
            ),
        ),
    );
    // A volume made beforehand under the name compose would give the stack's
    // own `data`, binding a host folder: compose would mount it as is.
    let taken = d.stack("taken");
    let volume = VolumeGuard(format!("{taken}_data"));
    docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &format!("device={host}"),
        &volume.0,
    ]);
    d.repo.write(
        &format!("{taken}/compose.yaml"),
        &format!(
            "services:\n{}volumes:\n  data: {{}}\n",
            service("web", "    volumes: ['data:/d']\n")
        ),
    );
    let extvol = d.stack("extvol");
    d.repo.write(
        &format!("{extvol}/compose.yaml"),
        &format!(
            "services:\n{}volumes:\n  data:\n    external: true\n    name: {tmpfs}_scratch\n",
            service("web", "    volumes: ['data:/d']\n")
        ),
    );
    d.repo
        .commit("stacks that reach for the host, and a tmpfs one");
    let api = d.start(&[("POLICY", POLICY)]);

    api.wait_status(&tmpfs, "synced", CONVERGE).await;
    let expectations = [
        (
            "provider".to_string(),
            "service 'db': provider: ./evil.sh is refused by POLICY deny-privileged".to_string(),
        ),
        (
            "overlay".to_string(),
            "volumes.host mounts 'overlay' as overlay, refused by POLICY deny-host-mounts"
                .to_string(),
        ),
    ]
    .into_iter()
    .chain([
        ("plant".to_string(), "service 'a': volume '".to_string()),
        (
            "plant".to_string(),
            "writable (a bind of the stack folder must be read-only)".to_string(),
        ),
        (
            "taken".to_string(),
            format!(
                "volume '{}' exists and was not created by this stack",
                volume.0
            ),
        ),
        (
            "extvol".to_string(),
            "volumes.data is external (a volume the stack did not create)".to_string(),
        ),
    ])
    .chain(through_links.iter().map(|(short, _)| {
        (
            short.to_string(),
            "symlink 'e1' -> 'd/..' leaves the stack folder".to_string(),
        )
    }))
    .chain(
        bypasses
            .iter()
            .map(|(short, _, field)| (short.to_string(), format!("service 'web': {field}"))),
    );
    for (short, expected) in expectations {
        let stack = d.stack(&short);
        let failed = api.wait_status(&stack, "failed", CONVERGE).await;
        let error = failed["error"].as_str().unwrap_or_default();
        // Compose v1 knows no `provider`, hooks or build `ssh`, and refuses them itself.
        let v1_refuses = ["provider", "hook", "ssh"].contains(&short.as_str())
            && (error.contains("Unsupported config option")
                || error.contains("unsupported option"));
        assert!(
            error.contains(&expected) || v1_refuses,
            "{stack}: {expected}\nin: {error}"
        );
        assert!(d.containers(&short).is_empty(), "{stack} runs something");
    }
    assert!(
        !marker.exists(),
        "compose ran the provider's program on the host"
    );
    assert!(
        !outside.path().join("planted").exists(),
        "a container wrote to the host through a planted link"
    );
    let seen = envs_of_instance(&d.instance);
    assert!(!seen.contains("never-in-a-container-22"), "{seen}");
    assert!(!seen.contains(&host), "a host folder is mounted: {seen}");
}
