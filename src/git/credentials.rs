//! Credentials for the remote, and how they travel: a token as an in-memory
//! `http.extraHeader`, an ssh key as an in-memory `core.sshCommand`, so neither
//! ever reaches the disk.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;

use super::repo_url::Transport;
use super::repository::GitSettings;
use crate::secret::Secret;
use crate::setting::Invalid;

/// The user name sent with the token: non-empty, no `:` (it would end the user
/// part of Basic credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Username {
    type Err = Invalid;

    fn from_str(name: &str) -> Result<Self, Invalid> {
        if name.trim().is_empty() || name.contains(':') {
            Err(Invalid::new("must be a non-empty name without ':'"))
        } else {
            Ok(Self(name.to_string()))
        }
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A private key file for ssh, checked to exist at start rather than at the
/// first fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile(PathBuf);

impl KeyFile {
    /// The key's path.
    pub fn into_path(self) -> PathBuf {
        self.0
    }
}

impl FromStr for KeyFile {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let path = PathBuf::from(text);
        if path.is_file() {
            Ok(Self(path))
        } else {
            Err(Invalid::new(format!(
                "no readable file at {}",
                path.display()
            )))
        }
    }
}

/// The in-memory configuration for clones and fetches.
pub(super) fn overrides(settings: &GitSettings, cache_dir: &Path) -> Vec<String> {
    let mut values = vec![
        // Never wait for a human: there is no terminal.
        "core.askPass=".to_string(),
        "credential.helper=".to_string(),
    ];
    if let (Some(token), Transport::Http) = (&settings.token, settings.url.transport()) {
        if settings.url.is_plain_http() {
            tracing::warn!(
                "GIT_ACCESS_TOKEN is sent in clear text to an http:// remote (GIT_ALLOW_INSECURE_HTTP=true)"
            );
        }
        let encoded = basic_credentials(&settings.username, token);
        values.push(format!("http.extraHeader=Authorization: Basic {encoded}"));
    }
    if settings.ssh_key_file.is_some() || settings.url.transport() == Transport::Ssh {
        // BatchMode: ssh must fail rather than ask for a password or a host key
        // confirmation; new hosts are trusted on first use and remembered in the cache.
        let known_hosts = cache_dir.join("known_hosts");
        let mut command = String::from("core.sshCommand=ssh");
        if let Some(key) = &settings.ssh_key_file {
            let _ = write!(
                command,
                " -i {} -o IdentitiesOnly=yes",
                shell_quote(&key.to_string_lossy())
            );
        }
        let _ = write!(
            command,
            " -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={}",
            shell_quote(&known_hosts.to_string_lossy()),
        );
        values.push(command);
        values.push("ssh.variant=ssh".into());
    }
    values
}

/// base64 of `user:token`, the value of a Basic `Authorization` header.
pub(super) fn basic_credentials(username: &str, token: &Secret) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{}", token.expose()))
}

/// `'text'` for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
