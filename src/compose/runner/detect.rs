//! Finding the compose command: the v2 plugin binary, `docker compose`, or
//! `docker-compose`, and which generation it is.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ComposeError;
use super::process::{RunError, base_command, run_to_end, tail};
use crate::compose::command::ComposeCommand;

/// How long version detection may take (v1 is a Python program: ~1 s to start).
const DETECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Which compose generation the command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `docker-compose` 1.x (Python).
    V1,
    /// `docker compose` 2.x (Go), plugin or standalone.
    V2,
}

/// A detected compose command.
#[derive(Debug, Clone)]
pub struct ComposeCli {
    pub(super) program: String,
    pub(super) leading_args: Vec<String>,
    flavor: Flavor,
    version: String,
}

impl ComposeCli {
    /// Compose v1 or v2.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The version line compose printed.
    pub fn version(&self) -> &str {
        &self.version
    }
}

/// Finds a working compose command for `setting`.
pub(super) async fn detect(
    setting: &ComposeCommand,
    docker_host: Option<&str>,
) -> Result<ComposeCli, ComposeError> {
    let mut problems = Vec::new();
    for words in candidates(setting) {
        let Some((program, leading)) = words.split_first() else {
            continue;
        };
        match probe(program, leading, docker_host).await {
            Ok(cli) => return Ok(cli),
            Err(problem) => problems.push(problem),
        }
    }
    Err(ComposeError::NotFound(problems.join("; ")))
}

/// The commands to try, in order.
fn candidates(setting: &ComposeCommand) -> Vec<Vec<String>> {
    match setting {
        // The plugin binary that `docker compose` would run, run directly: the
        // Docker CLI in front of it costs ~75 ms of a 145 ms no-op `up -d`.
        ComposeCommand::Auto => plugin_paths(
            &std::env::var_os("DOCKER_CONFIG"),
            &std::env::var_os("HOME"),
        )
        .into_iter()
        .filter(|path| path.is_file())
        .map(|path| vec![path.to_string_lossy().into_owned()])
        .chain([
            vec!["docker".into(), "compose".into()],
            vec!["docker-compose".into()],
        ])
        .collect(),
        ComposeCommand::Explicit(words) => vec![words.clone()],
    }
}

/// Runs `<program> <leading> version`; the command, or why it does not work.
async fn probe(
    program: &String,
    leading: &[String],
    docker_host: Option<&str>,
) -> Result<ComposeCli, String> {
    let shown = std::iter::once(program)
        .chain(leading)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let probe = ComposeCli {
        program: program.clone(),
        leading_args: leading.to_vec(),
        flavor: Flavor::V2,
        version: String::new(),
    };
    let mut cmd = base_command(&probe, docker_host);
    cmd.arg("version");
    match run_to_end(cmd, program, DETECT_TIMEOUT).await {
        Ok(exit) if exit.code == 0 => {
            let (flavor, version) = classify(&exit.output())
                .ok_or_else(|| format!("'{shown}' printed no compose version"))?;
            Ok(ComposeCli {
                flavor,
                version,
                ..probe
            })
        }
        Ok(exit) => Err(format!(
            "'{shown} version' exited {}: {}",
            exit.code,
            tail(exit.output().trim(), 200)
        )),
        Err(RunError::Spawn(e)) => Err(format!("'{shown}': {e}")),
        Err(RunError::Timeout) => Err(format!("'{shown} version' timed out")),
    }
}

/// Where the Docker CLI looks for the `compose` plugin, in its order: the user's
/// config folder, then the system folders (docker/cli `cli-plugins/manager`).
fn plugin_paths(docker_config: &Option<OsString>, home: &Option<OsString>) -> Vec<PathBuf> {
    let user = docker_config
        .as_ref()
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| Path::new(h).join(".docker")));
    user.into_iter()
        .chain(
            [
                "/usr/local/lib/docker",
                "/usr/local/libexec/docker",
                "/usr/lib/docker",
                "/usr/libexec/docker",
            ]
            .map(PathBuf::from),
        )
        .map(|dir| dir.join("cli-plugins").join("docker-compose"))
        .collect()
}

/// Reads the flavour and version line from `version` output.
fn classify(output: &str) -> Option<(Flavor, String)> {
    let line = output.lines().map(str::trim).find(|l| {
        l.starts_with("Docker Compose version") || l.starts_with("docker-compose version")
    })?;
    let number = line
        .split_whitespace()
        .nth(if line.starts_with("Docker Compose") {
            3
        } else {
            2
        })?
        .trim_start_matches('v')
        .trim_end_matches(',');
    let flavor = if number.starts_with("1.") {
        Flavor::V1
    } else {
        Flavor::V2
    };
    Some((flavor, line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "docker-compose version 1.29.2, build unknown\ndocker-py version: 5.0.3\n",
        Flavor::V1
    )]
    #[case("Docker Compose version v2.29.1\n", Flavor::V2)]
    #[case("Docker Compose version 2.40.0\n", Flavor::V2)]
    #[case("docker-compose version 2.5.0\n", Flavor::V2)]
    fn versions_are_classified(#[case] output: &str, #[case] flavor: Flavor) {
        assert_eq!(classify(output).map(|(f, _)| f), Some(flavor));
    }

    #[test]
    fn the_plugin_is_looked_for_where_the_docker_cli_looks() {
        let paths = plugin_paths(&None, &Some("/home/op".into()));
        assert_eq!(
            paths.first().map(PathBuf::as_path),
            Some(Path::new("/home/op/.docker/cli-plugins/docker-compose"))
        );
        assert!(paths.contains(&PathBuf::from(
            "/usr/local/lib/docker/cli-plugins/docker-compose"
        )));
        let paths = plugin_paths(&Some("/etc/dcfg".into()), &Some("/home/op".into()));
        assert_eq!(
            paths.first().map(PathBuf::as_path),
            Some(Path::new("/etc/dcfg/cli-plugins/docker-compose"))
        );
    }

    #[test]
    fn unrelated_output_is_not_a_compose_version() {
        assert_eq!(classify("Usage: docker [OPTIONS] COMMAND"), None);
    }

    #[tokio::test]
    async fn detection_reports_every_failed_candidate() {
        let setting = ComposeCommand::Explicit(vec!["/nonexistent/compose".into()]);
        let err = detect(&setting, None).await.expect_err("must fail");
        assert!(err.to_string().contains("/nonexistent/compose"), "{err}");
    }

    #[tokio::test]
    async fn detection_finds_the_compose_installed_here() {
        // Both flavours are accepted; what matters is that auto detection works
        // wherever the tests run (tests/setup installs docker-compose).
        if which("docker-compose").is_none() && std::env::var_os("CI").is_none() {
            eprintln!("SKIPPED: no docker-compose on PATH (run tests/setup)");
            return;
        }
        let cli = detect(&ComposeCommand::Auto, None).await.expect("compose");
        assert!(cli.version().to_lowercase().contains("compose"));
        // tests/setup installs v2 as the CLI plugin: auto runs that binary itself.
        if Path::new("/usr/local/lib/docker/cli-plugins/docker-compose").is_file() {
            assert_eq!(cli.flavor(), Flavor::V2, "{}", cli.version());
            assert!(
                cli.program.ends_with("cli-plugins/docker-compose"),
                "{}",
                cli.program
            );
        }
    }

    fn which(program: &str) -> Option<PathBuf> {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
    }
}
