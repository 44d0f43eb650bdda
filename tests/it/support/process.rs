//! The binary under test: started with a clean environment, its output captured.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::wait::wait_until_blocking;

/// Path of the built `docker-cd` binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_docker-cd")
}

/// A `docker-cd` command with an empty environment but for `PATH`, `HOME`,
/// `DOCKER_HOST`, `COMPOSE_COMMAND` (CI runs suites once more on compose v1
/// with it) and `envs`, so other settings of the developer's shell cannot leak in.
pub fn command(envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear();
    for keep in ["PATH", "HOME", "DOCKER_HOST", "COMPOSE_COMMAND"] {
        if let Ok(value) = std::env::var(keep) {
            cmd.env(keep, value);
        }
    }
    cmd.env("RUST_LOG", "info,docker_cd=debug");
    cmd.envs(envs.iter().copied());
    cmd
}

/// A running `docker-cd`; killed on drop.
pub struct DockerCd {
    child: Child,
    output: Arc<Mutex<String>>,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl DockerCd {
    /// Starts the binary listening on a free loopback port and waits until it says where.
    pub fn start(envs: &[(&str, &str)]) -> Self {
        let mut all = vec![("LISTEN_ADDR", "127.0.0.1:0")];
        all.extend_from_slice(envs);
        let mut child = command(&all)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start docker-cd");
        let output = Arc::new(Mutex::new(String::new()));
        capture(child.stdout.take(), output.clone());
        capture(child.stderr.take(), output.clone());
        let mut this = Self {
            child,
            output,
            base_url: String::new(),
        };
        let line = this.wait_for_log("listening", Duration::from_secs(30));
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        this.base_url = format!("http://127.0.0.1:{port}");
        this
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything the process printed so far.
    pub fn logs(&self) -> String {
        self.output
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until a printed line contains `needle`; returns that line.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> String {
        wait_until_blocking(&format!("a log line with {needle:?}"), timeout, || {
            let logs = self.logs();
            if let Some(line) = logs.lines().find(|l| l.contains(needle)) {
                return Ok(line.to_string());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-cd exited ({status}) before logging {needle:?}:\n{logs}");
            }
            Err(format!("the log so far:\n{logs}"))
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now, in KiB (from `/proc`).
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_until_blocking("docker-cd to exit", timeout, || {
            match self.child.try_wait().expect("try_wait") {
                Some(status) => Ok(status),
                None => Err(format!("still running; the log so far:\n{}", self.logs())),
            }
        })
    }
}

impl Drop for DockerCd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn capture(stream: Option<impl Read + Send + 'static>, into: Arc<Mutex<String>>) {
    let Some(stream) = stream else { return };
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut out = into.lock().unwrap_or_else(PoisonError::into_inner);
            out.push_str(&line);
            out.push('\n');
        }
    });
}
