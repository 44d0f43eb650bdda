//! A second, private Docker engine for fault tests: it can be stopped and
//! started again without disturbing the tests that share the main engine.
//!
//! Its own socket, data and exec roots, and its own network namespace
//! (`unshare --net`): a second dockerd in the host's namespace would fight the
//! first over `docker0` (with `--bridge none` it even deletes it). Stacks in it
//! use `network_mode: none`. The test image is copied in from the main engine.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::docker::{TEST_IMAGE, docker_bin};
use super::wait::{poll_until_blocking, wait_until_blocking};

/// A dockerd under a temporary folder; stopped (and its containers removed) on drop.
pub struct PrivateDockerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateDockerd {
    /// Starts the engine, waits until it answers and loads the test image.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dcd-dockerd-")
            .tempdir_in("/tmp") // a short path: unix socket paths are limited to 108 bytes
            .expect("tempdir");
        let mut engine = Self { dir, child: None };
        engine.launch();
        let mut save = Command::new(docker_bin())
            .args(["save", TEST_IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save");
        let load = Command::new(docker_bin())
            .args(["-H", &engine.host(), "load", "-q"])
            .stdin(save.stdout.take().expect("save stdout"))
            .output()
            .expect("docker load");
        assert!(save.wait().is_ok_and(|s| s.success()), "docker save failed");
        assert!(
            load.status.success(),
            "loading the test image: {}",
            String::from_utf8_lossy(&load.stderr)
        );
        engine
    }

    /// `DOCKER_HOST` of this engine.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    fn root(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts dockerd (again) and waits until it answers.
    pub fn launch(&mut self) {
        assert!(self.child.is_none(), "already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root("dockerd.log"))
            .expect("log file");
        let child = Command::new("unshare")
            .args(["--net", "--", "dockerd"])
            .arg("--host")
            .arg(self.host())
            .arg("--data-root")
            .arg(self.root("data"))
            .arg("--exec-root")
            .arg(self.root("exec"))
            .arg("--pidfile")
            .arg(self.root("docker.pid"))
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start dockerd");
        self.child = Some(child);
        wait_until_blocking(
            "the private dockerd to answer",
            Duration::from_secs(60),
            || {
                if self.answers() {
                    Ok(())
                } else {
                    Err(format!(
                        "no answer; log:\n{}",
                        std::fs::read_to_string(self.root("dockerd.log")).unwrap_or_default()
                    ))
                }
            },
        );
    }

    /// Stops dockerd (SIGTERM, as an operator's `systemctl stop docker`) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let exited = poll_until_blocking(Duration::from_secs(60), || {
                child.try_wait().ok().flatten().ok_or("running")
            });
            if exited.is_err() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Whether the engine answers now.
    pub fn answers(&self) -> bool {
        Command::new(docker_bin())
            .args(["-H", &self.host(), "version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `docker -H <this engine> <args>`; panics unless it succeeds; trimmed stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        super::run_ok(
            Command::new(docker_bin())
                .args(["-H", &self.host()])
                .args(args),
        )
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = Command::new(docker_bin())
                .args(["-H", &self.host(), "ps", "-aq"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = Command::new(docker_bin())
                    .args(["-H", &self.host(), "rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        self.stop();
        // Overlay mounts may outlive dockerd briefly; the folder is best-effort.
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.root("data"))
            .stderr(Stdio::null())
            .status();
    }
}
