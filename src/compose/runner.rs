//! Running the compose command: detection of v1/v2, `up -d`, `down`.
//!
//! Compose v1 prints its usage and exits 0 on an unknown sub-command flag, so
//! only flags both versions know are ever passed, and callers confirm every
//! result through the Docker API rather than trusting the exit status alone.

mod detect;
mod metrics;
mod process;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use tracing::Instrument as _;

use self::detect::detect;
pub use self::detect::{ComposeCli, Flavor};
pub use self::metrics::ComposeMetrics;
use self::process::{RunError, base_command, run_to_end, tail};
use crate::compose::command::ComposeCommand;

/// Longest a compose command may run: image pulls over slow links take minutes;
/// beyond this something hangs, and the stack is better failed and retried.
pub const COMPOSE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How much of compose's output goes into a stack's error: enough for the
/// failing step and Docker's message, short enough for a status line.
const ERROR_TAIL_BYTES: usize = 4000;

/// Why compose could not be run or failed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// No usable compose command was found.
    #[error("no compose command works: {0}")]
    NotFound(String),
    /// The process could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It ran longer than [`COMPOSE_TIMEOUT`] and was killed.
    #[error("compose {command} did not finish within {}s", COMPOSE_TIMEOUT.as_secs())]
    Timeout {
        /// `up` or `down`.
        command: &'static str,
    },
    /// It exited with a failure.
    #[error("compose {command} failed (exit {code}): {output}")]
    Failed {
        /// `up` or `down`.
        command: &'static str,
        /// Exit status (-1 when killed by a signal).
        code: i32,
        /// The end of its output.
        output: String,
    },
}

/// One project to run compose for.
#[derive(Debug, Clone)]
pub struct Project<'a> {
    /// Compose project name (the stack name).
    pub name: &'a str,
    /// Folder compose runs in (the stack's materialised working folder).
    pub workdir: &'a Path,
    /// Compose files, relative to `workdir`, in `-f` order.
    pub files: &'a [&'a str],
}

/// Output of a successful run.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// What compose printed (stdout and stderr).
    pub output: String,
    /// Its stdout alone (what `config` prints).
    pub stdout: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs compose; detects the command once, on first use, and retries detection
/// after a failure (compose may be installed while docker-cd runs).
pub struct ComposeRunner {
    setting: ComposeCommand,
    docker_host: Option<String>,
    detected: OnceCell<ComposeCli>,
    metrics: ComposeMetrics,
}

impl ComposeRunner {
    /// A runner for `COMPOSE_COMMAND` and `DOCKER_HOST`.
    pub fn new(
        setting: ComposeCommand,
        docker_host: Option<String>,
        metrics: ComposeMetrics,
    ) -> Self {
        Self {
            setting,
            docker_host,
            detected: OnceCell::new(),
            metrics,
        }
    }

    /// The compose command, detecting it on first call.
    ///
    /// # Errors
    /// [`ComposeError::NotFound`] when no candidate works.
    pub async fn cli(&self) -> Result<&ComposeCli, ComposeError> {
        self.detected
            .get_or_try_init(|| async {
                let cli = detect(&self.setting, self.docker_host.as_deref()).await?;
                tracing::info!(program = %cli.program, args = ?cli.leading_args, version = %cli.version(), "compose detected");
                Ok(cli)
            })
            .await
    }

    /// `up -d --remove-orphans`.
    ///
    /// Not v2's `--wait`: it would hold the worker (one by default) until every
    /// healthcheck passes; the reconciler watches health through Docker's
    /// events instead and applies the next stack meanwhile.
    ///
    /// # Errors
    /// When compose cannot run, fails, or times out.
    pub async fn up(&self, project: &Project<'_>) -> Result<RunOutput, ComposeError> {
        self.run("up", project, &["up", "-d", "--remove-orphans"])
            .await
    }

    /// `config`: the compose file as compose resolves it (interpolation, `.env`),
    /// on stdout.
    ///
    /// # Errors
    /// When compose cannot run, rejects the file, or times out.
    pub async fn config(&self, project: &Project<'_>) -> Result<RunOutput, ComposeError> {
        self.run("config", project, &["config"]).await
    }

    /// `down --remove-orphans` (volumes are kept).
    ///
    /// # Errors
    /// When compose cannot run, fails, or times out.
    pub async fn down(&self, project: &Project<'_>) -> Result<RunOutput, ComposeError> {
        self.run("down", project, &["down", "--remove-orphans"])
            .await
    }

    async fn run(
        &self,
        command: &'static str,
        project: &Project<'_>,
        args: &[&str],
    ) -> Result<RunOutput, ComposeError> {
        let cli = self.cli().await?;
        let mut cmd = base_command(cli, self.docker_host.as_deref());
        cmd.current_dir(project.workdir).arg("-p").arg(project.name);
        for file in project.files {
            cmd.arg("-f").arg(file);
        }
        cmd.args(args);
        let started = Instant::now();
        let span = tracing::info_span!("compose", command, project = project.name);
        let result = run_to_end(cmd, &cli.program, COMPOSE_TIMEOUT)
            .instrument(span)
            .await;
        let elapsed = started.elapsed();
        let success = matches!(&result, Ok(exit) if exit.code == 0);
        self.metrics.record(command, elapsed, success);
        match result {
            Ok(exit) if exit.code == 0 => {
                tracing::debug!(
                    project = project.name,
                    command,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "compose finished"
                );
                Ok(RunOutput {
                    output: exit.output(),
                    stdout: exit.stdout,
                    elapsed,
                })
            }
            Ok(exit) => Err(ComposeError::Failed {
                command,
                code: exit.code,
                output: tail(&exit.output(), ERROR_TAIL_BYTES),
            }),
            Err(RunError::Spawn(source)) => Err(ComposeError::Spawn {
                program: cli.program.clone(),
                source,
            }),
            Err(RunError::Timeout) => Err(ComposeError::Timeout { command }),
        }
    }
}

/// Where a stack's working folder lives under `DATA_DIR`.
pub fn workdir(data_dir: &Path, stack: &str) -> PathBuf {
    data_dir.join("stacks").join(stack)
}
