//! The Docker side of tests: reachability, the local test image, and cleanup.
//!
//! Tests talk to the engine through the docker CLI, as an operator would, so a
//! bug in docker-cd's own client cannot hide in the test's view of the world.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The image every Docker test runs (built by `tests/setup`, or here if missing).
pub const TEST_IMAGE: &str = "docker-cd-test/busybox:1";

/// Path of the docker CLI: Debian's 20.10 client speaks the engine's API 1.41.
pub fn docker_bin() -> &'static str {
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    }
}

/// Runs `docker <args>` and returns its output (never panics on a failed command).
pub fn docker(args: &[&str]) -> Output {
    Command::new(docker_bin())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", docker_bin()))
}

/// Runs `docker <args>`, panics with stderr unless it succeeds, returns trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    super::run_ok(Command::new(docker_bin()).args(args))
}

/// Whether the engine answers and the test image exists (building it if needed).
/// `Err` carries the reason when it does not.
fn check_engine() -> Result<(), String> {
    let out = Command::new(docker_bin())
        .args(["version", "--format", "{{.Server.APIVersion}}"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", docker_bin()))?;
    if !out.status.success() {
        return Err(format!(
            "the Docker engine does not answer: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // The script rebuilds the image only when its files changed.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/image/build");
    let out = Command::new(script)
        .arg(TEST_IMAGE)
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "building {TEST_IMAGE} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Checks the engine once per test process.
///
/// Returns `false` (after printing why) when the engine is unusable outside CI;
/// under `CI=true` it panics instead, so CI never passes by skipping.
pub fn available() -> bool {
    static STATE: OnceLock<Result<(), String>> = OnceLock::new();
    match STATE.get_or_init(check_engine) {
        Ok(()) => true,
        Err(reason) if super::in_ci() => panic!("Docker is required under CI=true: {reason}"),
        Err(reason) => {
            eprintln!("SKIPPED: this test needs Docker: {reason} (run tests/setup)");
            false
        }
    }
}

/// Returns from the calling test when Docker is unusable (outside CI only).
#[macro_export]
macro_rules! require_docker {
    () => {
        if !$crate::support::docker::available() {
            return;
        }
    };
}

/// Removes, on drop (also when the test panics), every container, network and
/// volume a test made: containers by instance label, networks and volumes by
/// compose project name prefix.
pub struct Cleanup {
    instance: String,
    project_prefix: String,
}

impl Cleanup {
    /// Cleans up containers labelled `io.docker-cd.instance=<instance>` and compose
    /// networks/volumes whose project starts with `project_prefix`.
    pub fn new(instance: &str, project_prefix: &str) -> Self {
        Self {
            instance: instance.to_string(),
            project_prefix: project_prefix.to_string(),
        }
    }

    /// Names (or ids) of `kind` objects whose compose project starts with the prefix.
    fn by_project_prefix(&self, kind: &str, name_field: &str) -> Vec<String> {
        if self.project_prefix.is_empty() {
            return Vec::new();
        }
        let format =
            format!("{{{{.{name_field}}}}}\t{{{{.Label \"com.docker.compose.project\"}}}}");
        let mut args = vec![
            kind,
            "ls",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            &format,
        ];
        if kind == "container" {
            args.push("-a");
        }
        let out = docker(&args);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter(|(_, project)| project.starts_with(&self.project_prefix))
            .map(|(name, _)| name.to_string())
            .collect()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let instance_filter = format!("label=io.docker-cd.instance={}", self.instance);
        let out = docker(&["container", "ls", "-aq", "--filter", &instance_filter]);
        let mut containers: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        // Containers made in a test by plain compose, without our labels.
        containers.extend(self.by_project_prefix("container", "ID"));
        containers.sort();
        containers.dedup();
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(containers.iter().map(String::as_str));
            let _ = docker(&args);
        }
        for kind in ["network", "volume"] {
            let names = self.by_project_prefix(kind, "Name");
            if !names.is_empty() {
                let mut args = vec![kind, "rm"];
                args.extend(names.iter().map(String::as_str));
                let _ = docker(&args);
            }
        }
    }
}
