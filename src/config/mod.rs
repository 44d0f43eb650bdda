//! Settings: every one is an environment variable with an equal command-line flag.
//!
//! Each component declares its own settings (`GitArgs`, `DockerArgs`, …) and
//! checks them in the `FromStr` of the types they produce; [`Config`] only
//! gathers them into one command line. A bad or missing setting is reported as
//! one line naming it (see [`ConfigError`]); the binary then exits with status 2.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

pub use crate::api::args::ApiArgs;
pub use crate::reconcile::args::ReconcileArgs;

use crate::commit_status::args::CommitStatusArgs;
use crate::compose::command::ComposeArgs;
use crate::docker::DockerArgs;
use crate::informer::git::GitArgs;
use crate::notify::NotifyArgs;
use crate::setting::Invalid;
use crate::telemetry::TelemetryArgs;

/// The whole command line: every component's settings. The display orders keep
/// `--help` in the order operators know.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "docker-cd",
    version,
    about = "GitOps continuous deployment for Docker Compose: keeps this Docker host matching the stacks in a Git repository.",
    after_help = "Every option can also be set by the environment variable shown beside it.\n\n\
Commands that ask a running docker-cd over its API (docker-cd <command> --help):\n  \
status, plan, apply, sync, history, rollback, refresh"
)]
pub struct Config {
    /// The Git informer.
    #[command(flatten)]
    pub git: GitArgs,
    /// The HTTP API.
    #[command(flatten)]
    pub api: ApiArgs,
    /// The reconciler.
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
    /// Which compose command runs (`COMPOSE_COMMAND`).
    #[command(flatten)]
    pub compose: ComposeArgs,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
    /// The Docker daemon.
    #[command(flatten)]
    pub docker: DockerArgs,
    /// Notifications.
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// Commit statuses on the forge.
    #[command(flatten)]
    pub commit_status: CommitStatusArgs,
}

/// Why the settings are unusable: one line naming the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `--help` or `--version` was asked for; print the text and exit 0.
    #[error("{0}")]
    Info(String),
    /// A setting is missing or invalid.
    #[error("error: {setting} (--{flag}): {message}")]
    Invalid {
        /// Environment variable name.
        setting: String,
        /// Flag name without dashes.
        flag: String,
        /// What is wrong.
        message: String,
    },
    /// Anything clap reports that is not tied to one setting (e.g. an unknown flag).
    #[error("error: {0}")]
    Other(String),
}

impl ConfigError {
    fn invalid(setting: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            flag: setting.to_ascii_lowercase().replace('_', "-"),
            setting: setting.to_string(),
            message: message.into(),
        }
    }

    /// The process exit status for this outcome: 0 for help/version, 2 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Info(_) => 0,
            Self::Invalid { .. } | Self::Other(_) => 2,
        }
    }
}

impl Config {
    /// Reads the process's arguments and environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_args(std::env::args_os())
    }

    /// Reads the given arguments (first is the program name) and the process environment.
    pub fn from_args<I, T>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let config = Self::try_parse_from(args).map_err(|e| one_line(&e))?;
        config
            .git
            .check()
            .map_err(|refused| ConfigError::invalid("GIT_ACCESS_TOKEN", refused.to_string()))?;
        config
            .commit_status
            .target(&config.git.repo_url, config.git.access_token.as_ref())
            .map_err(|(setting, refused)| ConfigError::invalid(setting, refused.to_string()))?;
        Ok(config)
    }
}

/// Turns clap's multi-line report into one line naming the setting.
fn one_line(err: &clap::Error) -> ConfigError {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        return ConfigError::Info(err.render().to_string());
    }
    match setting_of(err) {
        Some(setting) => ConfigError::invalid(&setting, what_is_wrong(err)),
        None => ConfigError::Other(first_line(err, "invalid arguments")),
    }
}

/// The environment variable of the argument clap complains about.
fn setting_of(err: &clap::Error) -> Option<String> {
    let arg = match err.get(ContextKind::InvalidArg)? {
        ContextValue::String(s) => s.clone(),
        ContextValue::Strings(v) => v.first()?.clone(),
        _ => return None,
    };
    let long = arg.split_whitespace().next()?.trim_start_matches("--");
    let command = Config::command();
    let found = command
        .get_arguments()
        .find(|candidate| candidate.get_long() == Some(long))?;
    found
        .get_env()
        .map(|env| env.to_string_lossy().into_owned())
}

/// The message after the setting's name.
fn what_is_wrong(err: &clap::Error) -> String {
    // A component's own check: its message stands alone, without the value
    // (which may be a token, or a URL with a password).
    if let Some(refused) = refusal(err) {
        return refused.to_string();
    }
    match err.kind() {
        ErrorKind::MissingRequiredArgument => "is required".to_string(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let value = match err.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(v)) => v.clone(),
                _ => String::new(),
            };
            let reason = match err.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => {
                    format!("expected one of {}", valid.join(", "))
                }
                _ => std::error::Error::source(err)
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "invalid".to_string()),
            };
            format!("invalid value '{value}': {reason}")
        }
        _ => first_line(err, "invalid"),
    }
}

/// The first line of clap's report, without its `error: ` prefix.
fn first_line(err: &clap::Error, fallback: &str) -> String {
    let text = err.render().to_string();
    text.lines()
        .next()
        .unwrap_or(fallback)
        .trim_start_matches("error: ")
        .to_string()
}

/// The component's refusal behind a clap error, if a setting's own check failed.
fn refusal(err: &clap::Error) -> Option<&Invalid> {
    std::error::Error::source(err)?.downcast_ref::<Invalid>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::command::ComposeCommand;

    #[test]
    fn defaults_fill_every_setting_but_the_repository() {
        let config = Config::from_args(["docker-cd", "--git-repo-url", "."]).expect("valid");
        assert_eq!(config.git.poll(), Some(std::time::Duration::from_secs(60)));
        assert_eq!(config.git.username.as_str(), "x-access-token");
        assert_eq!(config.api.listen_addr.get().to_string(), "0.0.0.0:8080");
        assert_eq!(config.reconcile.concurrency(), 1);
        assert_eq!(
            config.reconcile.drift_policy,
            crate::reconcile::args::DriftPolicy::Revert
        );
        assert_eq!(config.compose.command, ComposeCommand::Auto);
    }

    #[test]
    fn blank_docker_host_and_otlp_endpoint_mean_unset() {
        let config = Config::from_args([
            "docker-cd",
            "--git-repo-url",
            ".",
            "--docker-host",
            " ",
            "--otel-exporter-otlp-endpoint",
            "",
        ])
        .expect("valid");
        assert_eq!(config.docker.host(), None);
        assert_eq!(config.telemetry.otlp_endpoint(), None);
    }

    #[test]
    fn a_refused_value_is_named_but_not_echoed() {
        let url = "https://user:hunter2@example.com/repo.git";
        let err = Config::from_args(["docker-cd", "--git-repo-url", url]).expect_err("password");
        let text = err.to_string();
        assert!(
            text.starts_with("error: GIT_REPO_URL (--git-repo-url): the URL carries a password"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn a_token_over_plain_http_needs_git_allow_insecure_http() {
        let args = [
            "docker-cd",
            "--git-repo-url",
            "HTTP://git.example.com/repo.git",
            "--git-access-token",
            "tok-5ecret",
        ];
        let err = Config::from_args(args).expect_err("token over http");
        let text = err.to_string();
        assert!(
            text.starts_with("error: GIT_ACCESS_TOKEN (--git-access-token): would be sent in clear text to the http:// GIT_REPO_URL")
                && text.contains("GIT_ALLOW_INSECURE_HTTP=true")
                && !text.contains("tok-5ecret"),
            "{text}"
        );
        assert_eq!(err.exit_code(), 2);
        let allowed = [&args[..], &["--git-allow-insecure-http", "true"]].concat();
        assert!(Config::from_args(allowed).is_ok());
        let https = [
            "docker-cd",
            "--git-repo-url",
            "https://git.example.com/r.git",
            "--git-access-token",
            "t",
        ];
        assert!(Config::from_args(https).is_ok());
    }

    #[test]
    fn a_value_clap_refuses_is_echoed() {
        let err = Config::from_args([
            "docker-cd",
            "--git-repo-url",
            ".",
            "--poll-interval",
            "banana",
        ])
        .expect_err("bad duration");
        assert_eq!(
            err.to_string(),
            "error: POLL_INTERVAL (--poll-interval): invalid value 'banana': expected a duration such as 30s, 5m or 0"
        );
    }
}
