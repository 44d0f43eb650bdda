//! Starting a compose process and waiting for it: its own process group, and a
//! deadline. Secret settings are not in its environment: `main` removed them
//! from docker-cd's own before anything started.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::ComposeCli;

/// Why a process gave no exit status.
pub(super) enum RunError {
    /// It could not be started or waited for.
    Spawn(std::io::Error),
    /// It ran past its deadline and was killed.
    Timeout,
}

/// What a finished process said.
pub(super) struct Exit {
    /// Exit code; -1 when a signal ended it.
    pub code: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Exit {
    /// Stdout then stderr, as a terminal would have shown them.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// The compose command, quiet on stdin, in its own process group.
pub(super) fn base_command(cli: &ComposeCli, docker_host: Option<&str>) -> Command {
    let mut cmd = Command::new(&cli.program);
    cmd.args(&cli.leading_args);
    if let Some(host) = docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: the terminal's Ctrl-C (SIGINT to the foreground
        // group) must not kill a compose run that shutdown lets finish.
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

/// Runs to completion, or kills it after `timeout`.
pub(super) async fn run_to_end(
    mut cmd: Command,
    program: &str,
    timeout: Duration,
) -> Result<Exit, RunError> {
    let child = cmd.spawn().map_err(RunError::Spawn)?;
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => Ok(Exit {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
        Ok(Err(e)) => Err(RunError::Spawn(e)),
        Err(_) => {
            tracing::warn!(program, "compose timed out and was killed");
            Err(RunError::Timeout)
        }
    }
}

/// The last `max` bytes of `text`, on a character boundary.
pub(super) fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.trim().to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", text[start..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_on_a_character_boundary() {
        assert_eq!(tail("short", 10), "short");
        let long = format!("{}é-end", "x".repeat(20));
        let cut = tail(&long, 5);
        assert!(cut.ends_with("-end") && cut.starts_with('…'), "{cut}");
    }
}
