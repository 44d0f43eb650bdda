//! The Git informer's settings: where the repository is, how to reach it, what
//! to deploy from it, and how often to look.

use std::path::PathBuf;
use std::time::Duration;

use crate::git::credentials::{KeyFile, Username};
use crate::git::repository::GitSettings;
use crate::git::{DeployDir, GitRef, RepoUrl};
use crate::secret::Secret;
use crate::setting::{Invalid, parse_duration};

/// `GIT_*`, `DEPLOY_DIR` and `POLL_INTERVAL`.
#[derive(Debug, Clone, clap::Args)]
pub struct GitArgs {
    /// Git repository with the stacks: https://, http://, ssh://, git://, user@host:path, file:// or a local path.
    #[arg(
        long = "git-repo-url",
        env = "GIT_REPO_URL",
        value_name = "URL",
        display_order = 1
    )]
    pub repo_url: RepoUrl,

    /// Branch, tag or full commit id to deploy [default: the remote's HEAD branch].
    #[arg(
        long = "git-ref",
        env = "GIT_REF",
        value_name = "REF",
        display_order = 2
    )]
    pub reference: Option<GitRef>,

    /// Token for HTTP(S) basic auth; never logged.
    #[arg(
        long = "git-access-token",
        env = "GIT_ACCESS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        display_order = 3
    )]
    pub access_token: Option<Secret>,

    /// Allow sending GIT_ACCESS_TOKEN over a plain http:// remote, readable by anyone on the way.
    #[arg(
        long = "git-allow-insecure-http",
        env = "GIT_ALLOW_INSECURE_HTTP",
        value_name = "BOOL",
        default_value = "false",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::Set,
        display_order = 3
    )]
    pub allow_insecure_http: bool,

    /// User name sent with the token.
    #[arg(
        long = "git-username",
        env = "GIT_USERNAME",
        value_name = "NAME",
        default_value = "x-access-token",
        display_order = 4
    )]
    pub username: Username,

    /// Private key for ssh URLs.
    #[arg(
        long = "git-ssh-key-file",
        env = "GIT_SSH_KEY_FILE",
        value_name = "PATH",
        display_order = 5
    )]
    pub ssh_key_file: Option<KeyFile>,

    /// Folder inside the repository that holds the stacks.
    #[arg(
        long = "deploy-dir",
        env = "DEPLOY_DIR",
        value_name = "PATH",
        default_value = ".",
        display_order = 6
    )]
    pub deploy_dir: DeployDir,

    /// Periodic refresh (30s, 5m, …); 0 turns polling off.
    #[arg(long = "poll-interval", env = "POLL_INTERVAL", value_name = "DURATION", default_value = "60s", value_parser = parse_duration, display_order = 7)]
    pub poll_interval: Duration,
}

impl GitArgs {
    /// Refuses a token that would travel in clear text, unless the operator
    /// said it may.
    ///
    /// # Errors
    /// When `GIT_ACCESS_TOKEN` is set, `GIT_REPO_URL` is `http://` and
    /// `GIT_ALLOW_INSECURE_HTTP` is not true.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.access_token.is_some() && self.repo_url.is_plain_http() && !self.allow_insecure_http
        {
            return Err(Invalid::new(
                "would be sent in clear text to the http:// GIT_REPO_URL: use an https:// URL, or set GIT_ALLOW_INSECURE_HTTP=true to send it anyway",
            ));
        }
        Ok(())
    }

    /// How the Git source reaches the repository.
    pub fn source_settings(&self) -> GitSettings {
        GitSettings {
            url: self.repo_url.clone(),
            reference: self.reference.as_ref().map(ToString::to_string),
            token: self.access_token.clone(),
            username: self.username.to_string(),
            ssh_key_file: self.ssh_key_file.clone().map(KeyFile::into_path),
        }
    }

    /// The polling period; `None` when polling is off.
    pub fn poll(&self) -> Option<Duration> {
        (!self.poll_interval.is_zero()).then_some(self.poll_interval)
    }

    /// The deploy folder, for logs.
    pub fn deploy_path(&self) -> PathBuf {
        self.deploy_dir.as_path().to_path_buf()
    }
}
