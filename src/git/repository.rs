//! The Git source: a bare mirror of `GIT_REPO_URL` in `DATA_DIR`, kept with gix.
//!
//! The first fetch clones, later ones fetch; the configured ref is resolved after
//! every fetch and the deploy folder is read straight from the object database,
//! so no work tree exists and nothing is checked out. All calls block: the
//! refresh coordinator runs them on tokio's blocking pool.
//!
//! Credentials never reach the disk: a token travels as an in-memory
//! `http.extraHeader`, an ssh key as an in-memory `core.sshCommand`.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest as _, Sha256};

use super::credentials::{basic_credentials, overrides};
use super::repo_url::RepoUrl;
use crate::secret::Secret;

/// Where remote branches land in the mirror.
const BRANCHES: &str = "refs/remotes/origin/";
/// Fetched on every refresh: branches, tags, and the remote's HEAD (to follow
/// its default branch when `GIT_REF` is unset).
const REFSPECS: [&str; 3] = [
    "+refs/heads/*:refs/remotes/origin/*",
    "+refs/tags/*:refs/tags/*",
    "+HEAD:refs/remotes/origin/HEAD",
];

/// How to reach the repository.
#[derive(Debug, Clone)]
pub struct GitSettings {
    /// `GIT_REPO_URL`.
    pub url: RepoUrl,
    /// `GIT_REF`; `None` follows the remote's HEAD branch.
    pub reference: Option<String>,
    /// `GIT_ACCESS_TOKEN` (HTTP(S) only).
    pub token: Option<Secret>,
    /// `GIT_USERNAME`, sent with the token.
    pub username: String,
    /// `GIT_SSH_KEY_FILE`.
    pub ssh_key_file: Option<PathBuf>,
}

/// What a fetch resolved `GIT_REF` to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Full commit id.
    pub commit: String,
    /// `refs/heads/main`, `refs/tags/v1`, or the commit id itself.
    pub reference: String,
}

/// Why the repository could not be fetched or read. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The first clone failed.
    #[error("cannot clone {url}: {message}")]
    Clone {
        /// The repository (no password).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A fetch failed.
    #[error("cannot fetch {url}: {message}")]
    Fetch {
        /// The repository (no password).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server refused the credentials (or asked for some).
    #[error("authentication to {url} failed: {message}")]
    Auth {
        /// The repository (no password).
        url: String,
        /// What went wrong.
        message: String,
    },
    /// `GIT_REF` names nothing in the repository.
    #[error("GIT_REF '{0}' was not found in the repository")]
    RefNotFound(String),
    /// The deploy folder does not exist at this commit.
    #[error("DEPLOY_DIR '{dir}' does not exist at commit {commit}")]
    DeployDirMissing {
        /// The folder.
        dir: String,
        /// The commit.
        commit: String,
    },
    /// The local mirror could not be read or written.
    #[error("git mirror {path}: {message}")]
    Local {
        /// The mirror folder.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Reading objects failed.
    #[error("cannot read commit {commit}: {message}")]
    Read {
        /// The commit.
        commit: String,
        /// What went wrong.
        message: String,
    },
}

impl GitError {
    /// A short label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Clone { .. } => "clone",
            Self::Fetch { .. } => "fetch",
            Self::Auth { .. } => "auth",
            Self::RefNotFound(_) => "ref_not_found",
            Self::DeployDirMissing { .. } => "deploy_dir_missing",
            Self::Local { .. } => "local",
            Self::Read { .. } => "read",
        }
    }
}

/// A bare mirror of one repository.
#[derive(Debug)]
pub struct GitSource {
    settings: GitSettings,
    mirror: PathBuf,
    /// In-memory configuration for every clone and fetch (credentials, ssh).
    overrides: Vec<String>,
}

impl GitSource {
    /// A source mirroring `settings.url` under `cache_dir`. Does no I/O; makes
    /// sure a TLS provider is installed.
    pub fn new(settings: GitSettings, cache_dir: PathBuf) -> Self {
        // gix's HTTP transport builds a reqwest client, which panics without one.
        crate::tls::install_crypto_provider();
        // One folder per URL: pointing docker-cd at another repository must not
        // reuse (or fetch into) the mirror of the previous one.
        let digest = Sha256::digest(settings.url.as_str().as_bytes());
        let mirror = cache_dir.join(format!("{}.git", &hex::encode(digest)[..16]));
        let overrides = overrides(&settings, &cache_dir);
        Self {
            settings,
            mirror,
            overrides,
        }
    }

    /// The mirror folder.
    pub fn mirror_path(&self) -> &Path {
        &self.mirror
    }

    /// Clones on first use, fetches after; resolves `GIT_REF`.
    ///
    /// # Errors
    /// When the remote cannot be reached, refuses the credentials, or lacks the ref.
    pub fn fetch(&self, interrupt: &AtomicBool) -> Result<Fetched, GitError> {
        let (repo, remote_head) = match self.open_mirror() {
            Some(repo) => match self.fetch_into(repo, interrupt) {
                Ok(done) => done,
                // A mirror that opens but lost objects (a truncated pack after a
                // crash or a full disk) fails every fetch: start it over.
                Err(error)
                    if !matches!(error, GitError::Auth { .. })
                        && !interrupt.load(Ordering::Relaxed)
                        && !self.mirror_is_intact() =>
                {
                    tracing::warn!(path = %self.mirror.display(), %error, "git mirror lost objects; cloning again");
                    std::fs::remove_dir_all(&self.mirror).map_err(|e| self.local_error(e))?;
                    self.clone_mirror(interrupt)?
                }
                Err(error) => return Err(error),
            },
            None => self.clone_mirror(interrupt)?,
        };
        self.resolve(&repo, remote_head.as_deref())
    }

    /// Opens the mirror with the in-memory overrides; `None` when it is missing or
    /// unusable (then it is cloned again).
    fn open_mirror(&self) -> Option<gix::Repository> {
        if !self.mirror.exists() {
            return None;
        }
        let options = gix::open::Options::isolated()
            .config_overrides(self.overrides.iter().map(String::as_str));
        match gix::open_opts(&self.mirror, options) {
            Ok(repo) => Some(repo),
            Err(e) => {
                tracing::warn!(path = %self.mirror.display(), error = %chain(&e), "git mirror unusable; cloning again");
                let _ = std::fs::remove_dir_all(&self.mirror);
                None
            }
        }
    }

    /// A failure of the mirror's folder on this machine.
    fn local_error(&self, message: impl ToString) -> GitError {
        GitError::Local {
            path: self.mirror.display().to_string(),
            message: message.to_string(),
        }
    }

    /// Whether every ref of the mirror still leads to an object it holds.
    fn mirror_is_intact(&self) -> bool {
        let Some(repo) = self.open_mirror() else {
            return false;
        };
        let Ok(platform) = repo.references() else {
            return false;
        };
        let Ok(all) = platform.all() else {
            return false;
        };
        for reference in all {
            let Ok(mut reference) = reference else {
                return false;
            };
            match reference.peel_to_id() {
                Ok(id) if repo.has_object(id) => {}
                _ => return false,
            }
        }
        true
    }

    fn clone_mirror(
        &self,
        interrupt: &AtomicBool,
    ) -> Result<(gix::Repository, Option<String>), GitError> {
        let parent = self.mirror.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| self.local_error(e))?;
        // Clone next to the final place and rename: a failed clone leaves nothing behind.
        let staging = tempfile::Builder::new()
            .prefix(".clone-")
            .tempdir_in(parent)
            .map_err(|e| self.local_error(e))?;
        let target = staging.path().join("mirror.git");
        tracing::info!(url = %self.settings.url, "cloning");
        let mut prepare = gix::prepare_clone_bare(self.settings.url.as_str(), &target)
            .map_err(|e| self.remote_error(true, &e))?
            .with_in_memory_config_overrides(self.overrides.iter().map(String::as_str))
            .configure_remote(|remote| {
                remote.with_refspecs(REFSPECS, gix::remote::Direction::Fetch)
            });
        let (_, outcome) = prepare
            .fetch_only(gix::progress::Discard, interrupt)
            .map_err(|e| self.remote_error(true, &e))?;
        let remote_head = remote_head(&outcome.ref_map);
        std::fs::rename(&target, &self.mirror).map_err(|e| self.local_error(e))?;
        let repo = self
            .open_mirror()
            .ok_or_else(|| self.local_error("cannot open the fresh clone"))?;
        Ok((repo, remote_head))
    }

    fn fetch_into(
        &self,
        repo: gix::Repository,
        interrupt: &AtomicBool,
    ) -> Result<(gix::Repository, Option<String>), GitError> {
        let remote = repo
            .find_remote("origin")
            .map_err(|e| self.remote_error(false, &e))?
            .with_refspecs(REFSPECS, gix::remote::Direction::Fetch)
            .map_err(|e| self.remote_error(false, &e))?;
        let outcome = remote
            .connect(gix::remote::Direction::Fetch)
            .map_err(|e| self.remote_error(false, &e))?
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| self.remote_error(false, &e))?
            .receive(gix::progress::Discard, interrupt)
            .map_err(|e| self.remote_error(false, &e))?;
        let remote_head = remote_head(&outcome.ref_map);
        Ok((repo, remote_head))
    }

    /// Resolves `GIT_REF` (or the remote's HEAD branch) to a commit.
    fn resolve(
        &self,
        repo: &gix::Repository,
        remote_head: Option<&str>,
    ) -> Result<Fetched, GitError> {
        let not_found = |name: &str| GitError::RefNotFound(name.to_string());
        let Some(wanted) = self.settings.reference.as_deref() else {
            // The remote's default branch; without a symbolic HEAD, its HEAD commit.
            if let Some(branch) = remote_head.and_then(|h| h.strip_prefix("refs/heads/"))
                && let Some(commit) = peel(repo, &format!("{BRANCHES}{branch}"))
            {
                return Ok(Fetched {
                    commit,
                    reference: format!("refs/heads/{branch}"),
                });
            }
            if let Some(commit) = peel(repo, &format!("{BRANCHES}HEAD")) {
                return Ok(Fetched {
                    commit,
                    reference: "HEAD".into(),
                });
            }
            // A remote HEAD on an unborn branch advertises nothing: guess the usual names.
            return ["main", "master"]
                .into_iter()
                .find_map(|branch| {
                    peel(repo, &format!("{BRANCHES}{branch}")).map(|commit| Fetched {
                        commit,
                        reference: format!("refs/heads/{branch}"),
                    })
                })
                .ok_or_else(|| not_found("HEAD"));
        };
        let candidates: Vec<(String, String)> =
            if let Some(branch) = wanted.strip_prefix("refs/heads/") {
                vec![(format!("{BRANCHES}{branch}"), wanted.to_string())]
            } else if wanted.starts_with("refs/") {
                vec![(wanted.to_string(), wanted.to_string())]
            } else {
                vec![
                    (
                        format!("{BRANCHES}{wanted}"),
                        format!("refs/heads/{wanted}"),
                    ),
                    (format!("refs/tags/{wanted}"), format!("refs/tags/{wanted}")),
                ]
            };
        for (local, shown) in candidates {
            if let Some(commit) = peel(repo, &local) {
                return Ok(Fetched {
                    commit,
                    reference: shown,
                });
            }
        }
        if is_commit_id(wanted)
            && let Ok(id) = gix::ObjectId::from_hex(wanted.as_bytes())
            && repo
                .find_object(id)
                .ok()
                .and_then(|o| o.try_into_commit().ok())
                .is_some()
        {
            return Ok(Fetched {
                commit: id.to_string(),
                reference: id.to_string(),
            });
        }
        Err(not_found(wanted))
    }

    /// Turns a gix error into [`GitError`]: authentication failures get their
    /// own variant, and the token is scrubbed from the message just in case.
    fn remote_error(&self, cloning: bool, error: &dyn StdError) -> GitError {
        let mut message = chain(error);
        if let Some(token) = &self.settings.token {
            message = message.replace(token.expose(), "<token>");
            // The header carries it base64-encoded: decodable, so just as secret.
            message = message.replace(
                &basic_credentials(&self.settings.username, token),
                "<token>",
            );
        }
        let url = self.settings.url.to_string();
        if is_refusal(&message) {
            GitError::Auth { url, message }
        } else if cloning {
            GitError::Clone { url, message }
        } else {
            GitError::Fetch { url, message }
        }
    }
}

/// Whether a remote's error `message` says it refused the credentials. The
/// status codes count as words only: object ids in messages hold digits too.
fn is_refusal(message: &str) -> bool {
    let lower = message.to_lowercase();
    let phrases = [
        "credentials",
        "identity",
        "authentication",
        "permission denied",
    ];
    phrases.iter().any(|p| lower.contains(p))
        || lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == "401" || word == "403")
}

/// The branch the remote's HEAD points at, from the advertised refs.
fn remote_head(map: &gix::protocol::fetch::RefMap) -> Option<String> {
    map.remote_refs.iter().find_map(|r| match r {
        gix::protocol::handshake::Ref::Symbolic {
            full_ref_name,
            target,
            ..
        } if full_ref_name == "HEAD" => Some(target.to_string()),
        _ => None,
    })
}

/// The commit `name` ultimately points at, if it exists.
fn peel(repo: &gix::Repository, name: &str) -> Option<String> {
    let mut reference = repo.find_reference(name).ok()?;
    reference.peel_to_commit().ok().map(|c| c.id.to_string())
}

fn is_commit_id(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An error and its sources, `: `-separated (gix nests the useful part).
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            let _ = write!(text, ": {part}");
        }
        source = inner.source();
    }
    text
}

pub mod commit;
mod read;
#[cfg(test)]
mod tests;
