//! Starting a compose process and waiting for it: its own process group, a
//! deadline, and a minimal environment.
//!
//! Compose interpolates its whole environment into the files it reads
//! (`${NAME}`, a bare `environment: [NAME]`), so whatever docker-cd's
//! environment holds — its own settings, a collector's headers, the host's
//! variables — a commit could copy into a container. Compose therefore gets
//! only [`PASSED_TO_COMPOSE`] (and `DOCKER_HOST` from the setting); a stack's
//! own `.env` is read by compose itself from the folder it runs in.

use std::ffi::OsString;
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

/// The variables of docker-cd's environment compose runs with: what it needs
/// to start, to find its helpers and to reach and authenticate to the engine.
/// Each is a path, a flag or a version, never a credential, since a commit can
/// read every one of them (`${DOCKER_CONFIG}`). Left out on purpose:
/// `DOCKER_CONTEXT` (docker-cd's own client reads `DOCKER_HOST` alone, and
/// compose must act on the engine docker-cd watches), the content-trust
/// passphrases (`DOCKER_CONTENT_TRUST_*`), proxy settings (they may hold a
/// password, and the engine pulls images, not compose), `COMPOSE_*` (`COMPOSE_FILE`
/// or `COMPOSE_ENV_FILES` would make compose read other files) and the locale
/// (v2 is Go and ignores it; v1 runs on Python 3.7 or newer, which reads files
/// as UTF-8 in the C locale too).
pub(super) const PASSED_TO_COMPOSE: [&str; 8] = [
    // Finds `docker`, buildx and `docker-credential-*` helpers.
    "PATH",
    // `~/.docker`: registry logins, credential helpers' settings, CLI plugins.
    "HOME",
    // Where build contexts are packed (v1 writes them to a temporary file).
    "TMPDIR",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS",
    "DOCKER_TLS_VERIFY",
    "DOCKER_API_VERSION",
];

/// The part of `environment` compose gets: the variables in [`PASSED_TO_COMPOSE`].
fn compose_environment(
    environment: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    environment
        .into_iter()
        .filter(|(name, _)| PASSED_TO_COMPOSE.iter().any(|passed| name == *passed))
        .collect()
}

/// The compose command, quiet on stdin, in its own process group, with a
/// minimal environment.
pub(super) fn base_command(cli: &ComposeCli, docker_host: Option<&str>) -> Command {
    let mut cmd = Command::new(&cli.program);
    cmd.args(&cli.leading_args)
        .env_clear()
        .envs(compose_environment(std::env::vars_os()));
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
    fn compose_gets_only_what_it_needs_to_reach_the_engine() {
        let docker_cds = [
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/root"),
            ("DOCKER_CERT_PATH", "/etc/docker-certs"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer x"),
            ("AWS_SECRET_ACCESS_KEY", "k"),
            ("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "p"),
            ("DOCKER_CONTEXT", "remote"),
            ("DOCKER_HOST", "tcp://10.0.0.1:2376"),
            ("HTTPS_PROXY", "http://user:pw@proxy:3128"),
            ("COMPOSE_ENV_FILES", "/etc/shadow"),
            ("LANG", "C.UTF-8"),
            ("path", "/tmp"),
        ]
        .map(|(name, value)| (OsString::from(name), OsString::from(value)));
        let passed: Vec<_> = compose_environment(docker_cds)
            .into_iter()
            .map(|(name, _)| name.into_string().unwrap_or_default())
            .collect();
        assert_eq!(
            passed,
            ["PATH", "HOME", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"]
        );
    }

    #[test]
    fn tail_keeps_the_end_on_a_character_boundary() {
        assert_eq!(tail("short", 10), "short");
        let long = format!("{}é-end", "x".repeat(20));
        let cut = tail(&long, 5);
        assert!(cut.ends_with("-end") && cut.starts_with('…'), "{cut}");
    }
}
