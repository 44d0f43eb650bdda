//! Settings: every one is an environment variable with an equal command-line flag.
//!
//! A bad or missing setting is reported as one line naming it (see [`ConfigError`]);
//! the binary then exits with status 2.

mod duration;
mod repo_url;
mod secret;

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser, ValueEnum};

pub use duration::parse_duration;
pub use repo_url::{RepoUrl, Transport};
pub use secret::Secret;

/// What to do when the runtime differs from the desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftPolicy {
    /// Correct drift at once.
    Revert,
    /// Mark the stack `drifted` and leave it alone until acknowledged.
    Flag,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The raw command line and environment, as clap reads them.
#[derive(Debug, Parser)]
#[command(
    name = "docker-cd",
    version,
    about = "GitOps continuous deployment for Docker Compose: keeps this Docker host matching the stacks in a Git repository.",
    after_help = "Every option can also be set by the environment variable shown beside it."
)]
struct Args {
    /// Git repository with the stacks: https://, http://, ssh://, git://, user@host:path, file:// or a local path.
    #[arg(long, env = "GIT_REPO_URL", value_name = "URL")]
    git_repo_url: String,

    /// Branch, tag or full commit id to deploy [default: the remote's HEAD branch].
    #[arg(long, env = "GIT_REF", value_name = "REF")]
    git_ref: Option<String>,

    /// Token for HTTP(S) basic auth; never logged.
    #[arg(
        long,
        env = "GIT_ACCESS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    git_access_token: Option<String>,

    /// User name sent with the token.
    #[arg(
        long,
        env = "GIT_USERNAME",
        value_name = "NAME",
        default_value = "x-access-token"
    )]
    git_username: String,

    /// Private key for ssh URLs.
    #[arg(long, env = "GIT_SSH_KEY_FILE", value_name = "PATH")]
    git_ssh_key_file: Option<PathBuf>,

    /// Folder inside the repository that holds the stacks.
    #[arg(long, env = "DEPLOY_DIR", value_name = "PATH", default_value = ".")]
    deploy_dir: String,

    /// Periodic refresh (30s, 5m, …); 0 turns polling off.
    #[arg(long, env = "POLL_INTERVAL", value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    poll_interval: Duration,

    /// Secret for webhook signatures; unset refuses every webhook (403).
    #[arg(
        long,
        env = "WEBHOOK_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    webhook_secret: Option<String>,

    /// Apply changes automatically; false: only report (plan/apply still work).
    #[arg(long, env = "RECONCILE_ENABLED", value_name = "BOOL", default_value = "true", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    reconcile_enabled: bool,

    /// Remove running stacks that left the desired state.
    #[arg(long, env = "RECONCILE_REMOVE_ENABLED", value_name = "BOOL", default_value = "false", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set)]
    reconcile_remove_enabled: bool,

    /// revert: correct runtime drift at once; flag: mark the stack drifted until acknowledged.
    #[arg(
        long,
        env = "DRIFT_POLICY",
        value_name = "POLICY",
        default_value = "revert",
        ignore_case = true
    )]
    drift_policy: DriftPolicy,

    /// HTTP listen address.
    #[arg(long, env = "LISTEN_ADDR", value_name = "ADDR", default_value = "0.0.0.0:8080", value_parser = parse_listen_addr)]
    listen_addr: SocketAddr,

    /// Git cache and the working folders compose runs in.
    #[arg(long, env = "DATA_DIR", value_name = "PATH", default_value = "./data")]
    data_dir: PathBuf,

    /// Compose command: auto (docker compose, else docker-compose) or an explicit command.
    #[arg(
        long,
        env = "COMPOSE_COMMAND",
        value_name = "COMMAND",
        default_value = "auto"
    )]
    compose_command: String,

    /// Written to io.docker-cd.instance; an instance never touches another instance's containers.
    #[arg(
        long,
        env = "INSTANCE_NAME",
        value_name = "NAME",
        default_value = "docker-cd"
    )]
    instance_name: String,

    /// Reconcile workers.
    #[arg(long, env = "RECONCILE_CONCURRENCY", value_name = "N", default_value = "1", value_parser = clap::value_parser!(u16).range(1..=64))]
    reconcile_concurrency: u16,

    /// When set, every POST except /api/webhook needs `Authorization: Bearer <token>`.
    #[arg(long, env = "API_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    api_token: Option<String>,

    /// Log format; the level comes from RUST_LOG (default info).
    #[arg(
        long,
        env = "LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text",
        ignore_case = true
    )]
    log_format: LogFormat,

    /// OTLP/HTTP endpoint; when set, traces are exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    otel_exporter_otlp_endpoint: Option<String>,

    /// Docker daemon, for the API client and for compose [default: the local socket].
    #[arg(long, env = "DOCKER_HOST", value_name = "URL")]
    docker_host: Option<String>,
}

/// The compose command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeCommand {
    /// `docker compose` when that works, else `docker-compose`.
    Auto,
    /// Program and leading arguments, e.g. `["docker", "compose"]`.
    Explicit(Vec<String>),
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the stacks come from.
    pub repo_url: RepoUrl,
    /// Branch, tag or commit; `None` follows the remote's HEAD branch.
    pub git_ref: Option<String>,
    /// HTTP(S) token.
    pub git_access_token: Option<Secret>,
    /// User name sent with the token.
    pub git_username: String,
    /// Private key for ssh URLs.
    pub git_ssh_key_file: Option<PathBuf>,
    /// Folder inside the repository holding the stacks, normalised (`""` for the root).
    pub deploy_dir: PathBuf,
    /// Periodic refresh; `None` when polling is off.
    pub poll_interval: Option<Duration>,
    /// Webhook signature secret.
    pub webhook_secret: Option<Secret>,
    /// Apply automatically.
    pub reconcile_enabled: bool,
    /// Remove stacks that left the desired state.
    pub remove_enabled: bool,
    /// Drift handling.
    pub drift_policy: DriftPolicy,
    /// HTTP listen address.
    pub listen_addr: SocketAddr,
    /// Data folder.
    pub data_dir: PathBuf,
    /// Compose command.
    pub compose_command: ComposeCommand,
    /// This instance's name.
    pub instance_name: String,
    /// Reconcile workers (at least 1).
    pub concurrency: usize,
    /// Bearer token for POSTs.
    pub api_token: Option<Secret>,
    /// Log format.
    pub log_format: LogFormat,
    /// OTLP endpoint.
    pub otlp_endpoint: Option<String>,
    /// Docker daemon address.
    pub docker_host: Option<String>,
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
        let args = Args::try_parse_from(args).map_err(|e| one_line(&e))?;
        Self::validate(args)
    }

    fn validate(args: Args) -> Result<Self, ConfigError> {
        // Destructured without `..` so a setting added to `Args` cannot be forgotten here.
        let Args {
            git_repo_url,
            git_ref,
            git_access_token,
            git_username,
            git_ssh_key_file,
            deploy_dir,
            poll_interval,
            webhook_secret,
            reconcile_enabled,
            reconcile_remove_enabled,
            drift_policy,
            listen_addr,
            data_dir,
            compose_command,
            instance_name,
            reconcile_concurrency,
            api_token,
            log_format,
            otel_exporter_otlp_endpoint,
            docker_host,
        } = args;

        let repo_url =
            RepoUrl::parse(&git_repo_url).map_err(|m| ConfigError::invalid("GIT_REPO_URL", m))?;
        let git_ref = git_ref
            .map(|r| validate_ref(&r).map(|()| r))
            .transpose()
            .map_err(|m| ConfigError::invalid("GIT_REF", m))?;
        let git_access_token = secret(git_access_token, "GIT_ACCESS_TOKEN")?;
        if git_username.trim().is_empty() || git_username.contains(':') {
            return Err(ConfigError::invalid(
                "GIT_USERNAME",
                "must be a non-empty name without ':'",
            ));
        }
        if let Some(path) = &git_ssh_key_file
            && !path.is_file()
        {
            return Err(ConfigError::invalid(
                "GIT_SSH_KEY_FILE",
                format!("no readable file at {}", path.display()),
            ));
        }
        let deploy_dir =
            normalise_deploy_dir(&deploy_dir).map_err(|m| ConfigError::invalid("DEPLOY_DIR", m))?;
        let webhook_secret = secret(webhook_secret, "WEBHOOK_SECRET")?;
        if data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("DATA_DIR", "must not be empty"));
        }
        let compose_command = parse_compose_command(&compose_command)
            .map_err(|m| ConfigError::invalid("COMPOSE_COMMAND", m))?;
        validate_instance_name(&instance_name)
            .map_err(|m| ConfigError::invalid("INSTANCE_NAME", m))?;
        let api_token = secret(api_token, "API_TOKEN")?;
        let otlp_endpoint = otel_exporter_otlp_endpoint
            .filter(|e| !e.trim().is_empty())
            .map(|e| validate_http_url(&e).map(|()| e))
            .transpose()
            .map_err(|m| ConfigError::invalid("OTEL_EXPORTER_OTLP_ENDPOINT", m))?;
        let docker_host = docker_host
            .filter(|h| !h.trim().is_empty())
            .map(|h| validate_docker_host(&h).map(|()| h))
            .transpose()
            .map_err(|m| ConfigError::invalid("DOCKER_HOST", m))?;

        Ok(Self {
            repo_url,
            git_ref,
            git_access_token,
            git_username,
            git_ssh_key_file,
            deploy_dir,
            poll_interval: (!poll_interval.is_zero()).then_some(poll_interval),
            webhook_secret,
            reconcile_enabled,
            remove_enabled: reconcile_remove_enabled,
            drift_policy,
            listen_addr,
            data_dir,
            compose_command,
            instance_name,
            concurrency: usize::from(reconcile_concurrency),
            api_token,
            log_format,
            otlp_endpoint,
            docker_host,
        })
    }
}

/// Turns clap's multi-line report into one line naming the setting.
fn one_line(err: &clap::Error) -> ConfigError {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            return ConfigError::Info(err.render().to_string());
        }
        _ => {}
    }
    let arg = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => v.first().cloned(),
        _ => None,
    };
    let setting = arg.as_deref().and_then(|a| {
        let long = a.split_whitespace().next()?.trim_start_matches("--");
        let command = Args::command();
        let found = command
            .get_arguments()
            .find(|candidate| candidate.get_long() == Some(long))?;
        found
            .get_env()
            .map(|env| env.to_string_lossy().into_owned())
    });
    let Some(setting) = setting else {
        let text = err.render().to_string();
        let first = text.lines().next().unwrap_or("invalid arguments");
        return ConfigError::Other(first.trim_start_matches("error: ").to_string());
    };
    let message = match err.kind() {
        ErrorKind::MissingRequiredArgument => "is required".to_string(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let value = match err.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(v)) => v.clone(),
                _ => String::new(),
            };
            let reason = match (err.kind(), err.get(ContextKind::ValidValue)) {
                (_, Some(ContextValue::Strings(valid))) => {
                    format!("expected one of {}", valid.join(", "))
                }
                _ => std::error::Error::source(err)
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "invalid".to_string()),
            };
            format!("invalid value '{value}': {reason}")
        }
        _ => {
            let text = err.render().to_string();
            text.lines()
                .next()
                .unwrap_or("invalid")
                .trim_start_matches("error: ")
                .to_string()
        }
    };
    ConfigError::invalid(&setting, message)
}

fn secret(value: Option<String>, setting: &str) -> Result<Option<Secret>, ConfigError> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Err(ConfigError::invalid(
            setting,
            "is set but empty: unset it or give a value",
        )),
        Some(v) => Ok(Some(Secret::new(v))),
    }
}

fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    // `:8080` is the common shorthand for every interface.
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_string()
    };
    full.parse()
        .map_err(|_| "expected IP:PORT such as 0.0.0.0:8080 or [::1]:8080".to_string())
}

/// The checks of `git check-ref-format` that matter for a user-typed ref.
fn validate_ref(reference: &str) -> Result<(), String> {
    let bad = reference.is_empty()
        || reference.contains("..")
        || reference.contains("@{")
        || reference.starts_with('-')
        || reference.starts_with('/')
        || reference.ends_with('/')
        || reference.ends_with(".lock")
        || reference.ends_with('.')
        || reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c));
    if bad {
        Err("not a valid branch, tag or commit name".into())
    } else {
        Ok(())
    }
}

/// `DEPLOY_DIR` must stay inside the repository: relative, no `..`.
fn normalise_deploy_dir(text: &str) -> Result<PathBuf, String> {
    let path = Path::new(text.trim());
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                return Err("must stay inside the repository (no '..')".into());
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("must be a path relative to the repository root".into());
            }
        }
    }
    if out.to_str().is_none() {
        return Err("must be valid UTF-8".into());
    }
    Ok(out)
}

fn parse_compose_command(text: &str) -> Result<ComposeCommand, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("auto") {
        return Ok(ComposeCommand::Auto);
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    if words.is_empty() {
        return Err("must be 'auto' or a command such as 'docker compose'".into());
    }
    Ok(ComposeCommand::Explicit(words))
}

/// The name goes into a label and into compose project names of tests: keep it simple.
fn validate_instance_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(())
    } else {
        Err("must be 1-63 characters of [A-Za-z0-9_.-], starting with a letter or digit".into())
    }
}

fn validate_http_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must be an http:// or https:// URL")?;
    if rest.split('/').next().unwrap_or_default().is_empty() {
        return Err("the URL has no host".into());
    }
    Ok(())
}

fn validate_docker_host(host: &str) -> Result<(), String> {
    const SCHEMES: [&str; 5] = ["unix://", "tcp://", "http://", "https://", "npipe://"];
    if SCHEMES.iter().any(|s| host.starts_with(s)) {
        Ok(())
    } else {
        Err("must start with unix://, tcp://, http://, https:// or npipe://".into())
    }
}

impl fmt::Display for DriftPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Revert => "revert",
            Self::Flag => "flag",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("", Ok(""))]
    #[case(".", Ok(""))]
    #[case("./stacks/", Ok("stacks"))]
    #[case("examples/stacks", Ok("examples/stacks"))]
    #[case("../etc", Err(()))]
    #[case("/etc", Err(()))]
    #[case("a/../../b", Err(()))]
    fn deploy_dir_stays_inside_the_repository(
        #[case] text: &str,
        #[case] expected: Result<&str, ()>,
    ) {
        let got = normalise_deploy_dir(text).map_err(|_| ());
        assert_eq!(got, expected.map(PathBuf::from));
    }

    #[rstest]
    #[case("main", true)]
    #[case("release/v1.2", true)]
    #[case("0123456789abcdef0123456789abcdef01234567", true)]
    #[case("bad ref", false)]
    #[case("a..b", false)]
    #[case("-x", false)]
    #[case("x.lock", false)]
    fn git_ref_follows_check_ref_format(#[case] reference: &str, #[case] ok: bool) {
        assert_eq!(validate_ref(reference).is_ok(), ok);
    }

    #[rstest]
    #[case("auto", ComposeCommand::Auto)]
    #[case("AUTO", ComposeCommand::Auto)]
    #[case("docker compose", ComposeCommand::Explicit(vec!["docker".into(), "compose".into()]))]
    #[case(" docker-compose ", ComposeCommand::Explicit(vec!["docker-compose".into()]))]
    fn compose_command_is_auto_or_words(#[case] text: &str, #[case] expected: ComposeCommand) {
        assert_eq!(parse_compose_command(text), Ok(expected));
    }

    #[rstest]
    #[case(":8080", "0.0.0.0:8080")]
    #[case("127.0.0.1:0", "127.0.0.1:0")]
    #[case("[::1]:9000", "[::1]:9000")]
    fn listen_addr_accepts_the_port_shorthand(#[case] text: &str, #[case] expected: &str) {
        assert_eq!(
            parse_listen_addr(text).map(|a| a.to_string()),
            Ok(expected.to_string())
        );
    }
}
