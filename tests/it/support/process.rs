//! The binary under test: started with a clean environment, its output captured.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::api::Api;
use super::repo::TestRepo;
use super::wait::{poll_until_blocking, wait_until_blocking};

/// How long a run of the binary that should end by itself may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the binary may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How a test runs `docker-cd`: settings and arguments, then [`Builder::start`]
/// for a server or [`Builder::run_to_exit`] for a command that ends by itself.
///
/// The environment is empty but for `PATH`, `HOME`, `DOCKER_HOST`,
/// `COMPOSE_COMMAND` (CI runs suites once more on compose v1 with it) and what
/// the test sets, so other settings of the developer's shell cannot leak in.
pub struct Builder {
    command: Command,
}

impl Builder {
    /// Sets `key`; a later value of the same key wins.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Sets each of `envs`, in order.
    pub fn envs(mut self, envs: &[(&str, &str)]) -> Self {
        self.command.envs(envs.iter().copied());
        self
    }

    /// Leaves `key` unset, whatever was set before.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Adds a command-line argument.
    pub fn arg(mut self, arg: &str) -> Self {
        self.command.arg(arg);
        self
    }

    /// Adds command-line arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.command.args(args);
        self
    }

    /// Whether the test set `key` (to a value, not removed it).
    fn sets(&self, key: &str) -> bool {
        self.command
            .get_envs()
            .any(|(k, v)| k == key && v.is_some())
    }

    /// Starts the binary as a server and waits until it says where it listens:
    /// on a free loopback port, and with a fresh `DATA_DIR` unless the test
    /// chose one.
    pub fn start(mut self) -> DockerCd {
        if !self.sets("LISTEN_ADDR") {
            self.command.env("LISTEN_ADDR", "127.0.0.1:0");
        }
        let data = if self.sets("DATA_DIR") {
            None
        } else {
            let dir = tempfile::tempdir().expect("tempdir for DATA_DIR");
            self.command.env("DATA_DIR", dir.path());
            Some(dir)
        };
        let output = Arc::new(Mutex::new(String::new()));
        // Both streams into one text: the order of lines is the order of events.
        let mut app = self.spawn(output.clone(), output, data);
        let line = app.wait_for_log("listening", START_TIMEOUT);
        // 0.0.0.0 for tests of listening beyond loopback; reached on 127.0.0.1.
        let port = ["127.0.0.1:", "0.0.0.0:"]
            .iter()
            .find_map(|ip| line.split(ip).nth(1))
            .map(|rest| {
                rest.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        app.base_url = format!("http://127.0.0.1:{port}");
        app
    }

    /// Runs the binary until it exits by itself (killed, and the test failed,
    /// after 30 s); returns its exit code and output.
    pub fn run_to_exit(self) -> Exit {
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let status = self
            .spawn(stdout.clone(), stderr.clone(), None)
            .wait_exit(RUN_TIMEOUT);
        Exit {
            code: status.code(),
            stdout: text(&stdout),
            stderr: text(&stderr),
        }
    }

    /// Spawns the binary with its stdout read into `stdout` and its stderr
    /// into `stderr` (which its `logs` show), owning `data` until it is gone.
    fn spawn(
        mut self,
        stdout: Arc<Mutex<String>>,
        stderr: Arc<Mutex<String>>,
        data: Option<tempfile::TempDir>,
    ) -> DockerCd {
        let mut child = self
            .command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start docker-cd");
        let readers = vec![
            capture(child.stdout.take(), stdout),
            capture(child.stderr.take(), stderr.clone()),
        ];
        DockerCd {
            child,
            output: stderr,
            readers,
            base_url: String::new(),
            _data: data,
        }
    }
}

/// How a run of [`Builder::run_to_exit`] ended.
#[derive(Debug)]
pub struct Exit {
    /// The exit code (`None` when a signal ended it).
    pub code: Option<i32>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

/// A running `docker-cd`; killed on drop.
pub struct DockerCd {
    child: Child,
    // What `logs` shows: both streams of a server, stderr of a run to exit.
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    // Dropped after the process is killed in `drop`.
    _data: Option<tempfile::TempDir>,
}

impl DockerCd {
    /// The one way tests run the binary: settings and arguments, then start or run.
    pub fn builder() -> Builder {
        let mut command = Command::new(env!("CARGO_BIN_EXE_docker-cd"));
        command.env_clear();
        for keep in ["PATH", "HOME", "DOCKER_HOST", "COMPOSE_COMMAND"] {
            if let Ok(value) = std::env::var(keep) {
                command.env(keep, value);
            }
        }
        command.env("RUST_LOG", "info,docker_cd=debug");
        Builder { command }
    }

    /// A builder for docker-cd deploying from `repo`, polling off (tests refresh
    /// on purpose).
    pub fn on(repo: &TestRepo) -> Builder {
        Self::builder()
            .env("GIT_REPO_URL", repo.url())
            .env("POLL_INTERVAL", "0")
    }

    /// A client for this process's API.
    pub fn api(&self) -> Api {
        Api::new(&self.base_url)
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything the process printed so far.
    pub fn logs(&self) -> String {
        text(&self.output)
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

    /// Waits for the process to exit, and for what it printed last to be read.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let status = wait_until_blocking("docker-cd to exit", timeout, || {
            match self.child.try_wait().expect("try_wait") {
                Some(status) => Ok(status),
                None => Err(format!("still running; the log so far:\n{}", self.logs())),
            }
        });
        // Bounded: a child of docker-cd that outlives it may hold the pipes open.
        let _ = poll_until_blocking(Duration::from_secs(5), || {
            if self.readers.iter().all(JoinHandle::is_finished) {
                Ok(())
            } else {
                Err(())
            }
        });
        status
    }
}

impl Drop for DockerCd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends each line of `stream` to `into` as it comes, on a thread of its own.
fn capture(stream: Option<impl Read + Send + 'static>, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let Some(stream) = stream else { return };
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut out = into.lock().unwrap_or_else(PoisonError::into_inner);
            out.push_str(&line);
            out.push('\n');
        }
    })
}

fn text(output: &Mutex<String>) -> String {
    output
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}
