//! `COMMIT_STATUS`, `FORGE_API_URL`, `FORGE_REPO` and `FORGE_TOKEN`, and where
//! the forge's API and the repository come from when they are not given.

use std::str::FromStr;

use crate::git::forge::{host_and_path, plain_segment};
use crate::git::{RepoUrl, Transport};
use crate::named::named_enum;
use crate::secret::Secret;
use crate::setting::{Blankable, Invalid};

named_enum! {
    /// The forge commit statuses are posted to: the `forge` label of
    /// `dockercd_commit_statuses_total`.
    pub enum ForgeKind {
        /// GitHub or GitHub Enterprise Server.
        GitHub = "github",
        /// Gitea.
        Gitea = "gitea",
        /// Forgejo (Gitea's API).
        Forgejo = "forgejo",
        /// GitLab.
        GitLab = "gitlab",
    }
}

/// `COMMIT_STATUS`: a forge's name, in any case (`GitHub` as the forge writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ForgeName(ForgeKind);

impl FromStr for ForgeName {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        let names = || ForgeKind::ALL.iter().map(|kind| kind.as_str());
        ForgeKind::ALL
            .iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text))
            .map(|kind| Self(*kind))
            .ok_or_else(|| {
                let expected = names().collect::<Vec<_>>().join(", ");
                Invalid::new(format!("unknown forge '{text}' (one of: {expected})"))
            })
    }
}

/// An http(s) URL without credentials, query or fragment; a trailing `/` dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl(String);

impl FromStr for ApiUrl {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let text = text.trim().trim_end_matches('/');
        let lower = text.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .ok_or_else(|| {
                Invalid::new("expected an http(s) URL such as https://git.example.com")
            })?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains('@') || rest.contains(['?', '#']) {
            return Err(Invalid::new(
                "expected an http(s) URL without credentials, query or fragment",
            ));
        }
        Ok(Self(text.to_string()))
    }
}

/// `owner/name` (on GitLab `group/…/project`): plain path segments only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPath(String);

impl RepoPath {
    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its segments.
    fn depth(&self) -> usize {
        self.0.split('/').count()
    }
}

impl FromStr for RepoPath {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let path = text.trim().trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        if path.split('/').count() < 2 || !path.split('/').all(plain_segment) {
            return Err(Invalid::new(
                "expected owner/name (on GitLab group/…/project) of letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Self(path.to_string()))
    }
}

/// Commit statuses: which forge, its API, the repository and the token.
#[derive(Debug, Clone, clap::Args)]
pub struct CommitStatusArgs {
    /// Post a commit status per stack and revision to this forge: github, gitea, forgejo or gitlab.
    #[arg(
        long = "commit-status",
        env = "COMMIT_STATUS",
        value_name = "FORGE",
        display_order = 30
    )]
    commit_status: Option<Blankable<ForgeName>>,

    /// The forge's API [default: derived from GIT_REPO_URL]: GitHub's API root (https://api.github.com, https://host/api/v3), else the server's URL.
    #[arg(
        long = "forge-api-url",
        env = "FORGE_API_URL",
        value_name = "URL",
        display_order = 31
    )]
    api_url: Option<Blankable<ApiUrl>>,

    /// The repository on the forge, owner/name (GitLab: the project path) [default: derived from GIT_REPO_URL].
    #[arg(
        long = "forge-repo",
        env = "FORGE_REPO",
        value_name = "OWNER/NAME",
        display_order = 32
    )]
    repo: Option<Blankable<RepoPath>>,

    /// Token for the forge's API [default: GIT_ACCESS_TOKEN]; never logged.
    #[arg(
        long = "forge-token",
        env = "FORGE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        display_order = 33
    )]
    token: Option<Secret>,
}

/// Where statuses go: the forge, its API base, the repository and the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// Which API.
    pub kind: ForgeKind,
    /// GitHub's API root, or the server's URL (no trailing `/`).
    pub base: String,
    /// `owner/name` or the GitLab project path.
    pub repo: RepoPath,
    /// The token sent in the forge's auth header.
    pub token: Secret,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.kind, self.base, self.repo.as_str())
    }
}

/// Which setting is wrong, and why.
pub type Refusal = (&'static str, Invalid);

impl CommitStatusArgs {
    /// Where statuses go; `None` when `COMMIT_STATUS` is unset.
    ///
    /// # Errors
    /// The setting to name when the API, the repository or the token can be
    /// neither derived from `repo_url` nor read from their settings.
    pub fn target(
        &self,
        repo_url: &RepoUrl,
        git_token: Option<&Secret>,
    ) -> Result<Option<Target>, Refusal> {
        let Some(ForgeName(kind)) = self.commit_status.as_ref().and_then(Blankable::as_option)
        else {
            return Ok(None);
        };
        let derived = derive(*kind, repo_url);
        let base = match self.api_url.as_ref().and_then(Blankable::as_option) {
            Some(url) => given_base(*kind, &url.0),
            None => derived.as_ref().map(|(base, _)| base.clone()).ok_or((
                "FORGE_API_URL",
                Invalid::new(
                    "is required with COMMIT_STATUS when GIT_REPO_URL names no forge host",
                ),
            ))?,
        };
        let repo = match self.repo.as_ref().and_then(Blankable::as_option) {
            Some(repo) => repo.clone(),
            None => derived.and_then(|(_, repo)| repo).ok_or((
                "FORGE_REPO",
                Invalid::new(
                    "is required with COMMIT_STATUS when GIT_REPO_URL names no repository",
                ),
            ))?,
        };
        if *kind != ForgeKind::GitLab && repo.depth() != 2 {
            return Err((
                "FORGE_REPO",
                Invalid::new(format!("{kind} expects owner/name")),
            ));
        }
        let token = self.token.clone().or_else(|| git_token.cloned()).ok_or((
            "FORGE_TOKEN",
            Invalid::new("is required with COMMIT_STATUS (or GIT_ACCESS_TOKEN)"),
        ))?;
        Ok(Some(Target {
            kind: *kind,
            base,
            repo,
            token,
        }))
    }
}

/// `FORGE_API_URL` as the request builder wants it: the API version's path is
/// added there, so a URL given with it (as Gitea's and GitLab's docs show) loses it.
fn given_base(kind: ForgeKind, url: &str) -> String {
    let suffix = match kind {
        ForgeKind::GitHub => return url.to_string(),
        ForgeKind::Gitea | ForgeKind::Forgejo => "/api/v1",
        ForgeKind::GitLab => "/api/v4",
    };
    url.strip_suffix(suffix).unwrap_or(url).to_string()
}

/// The API base and the repository `repo_url` names, for a forge of `kind`.
/// Always `https://`: a token goes with every request, and an `http://` API
/// must be asked for by name in `FORGE_API_URL`.
fn derive(kind: ForgeKind, repo_url: &RepoUrl) -> Option<(String, Option<RepoPath>)> {
    let (host, path) = match repo_url.transport() {
        Transport::Local => return None,
        Transport::Http => {
            // The web port is the API's too (an ssh or git port is not).
            let rest = repo_url.as_str().split_once("://")?.1;
            let (authority, path) = rest.split_at(rest.find('/')?);
            (authority.rsplit('@').next()?.to_ascii_lowercase(), path)
        }
        Transport::Ssh | Transport::Git => {
            let (host, path) = host_and_path(repo_url.as_str())?;
            (host.to_ascii_lowercase(), path)
        }
    };
    if host.is_empty() {
        return None;
    }
    let base = match (kind, host.as_str()) {
        (ForgeKind::GitHub, "github.com") => "https://api.github.com".to_string(),
        (ForgeKind::GitHub, _) => format!("https://{host}/api/v3"),
        _ => format!("https://{host}"),
    };
    Some((base, path.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use rstest::rstest;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CommitStatusArgs,
    }

    fn target(url: &str, flags: &[&str]) -> Result<Option<Target>, Refusal> {
        let cli = Cli::try_parse_from([&["docker-cd"], flags].concat()).expect("flags");
        let token = Secret::new("git-tok");
        cli.args
            .target(&RepoUrl::parse(url).expect("url"), Some(&token))
    }

    #[rstest]
    #[case(
        "https://github.com/acme/stacks.git",
        "github",
        "https://api.github.com",
        "acme/stacks"
    )]
    #[case(
        "git@github.com:acme/stacks.git",
        "github",
        "https://api.github.com",
        "acme/stacks"
    )]
    #[case(
        "https://ghe.corp:8443/acme/stacks",
        "github",
        "https://ghe.corp:8443/api/v3",
        "acme/stacks"
    )]
    #[case(
        "ssh://git@codeberg.org:22/acme/stacks.git",
        "forgejo",
        "https://codeberg.org",
        "acme/stacks"
    )]
    #[case(
        "http://git.lan:3000/acme/stacks.git",
        "gitea",
        "https://git.lan:3000",
        "acme/stacks"
    )]
    #[case(
        "https://gitlab.com/acme/infra/stacks.git",
        "gitlab",
        "https://gitlab.com",
        "acme/infra/stacks"
    )]
    fn the_api_and_repository_come_from_the_repository_url(
        #[case] url: &str,
        #[case] forge: &str,
        #[case] base: &str,
        #[case] repo: &str,
    ) {
        let t = target(url, &["--commit-status", forge])
            .expect("valid")
            .expect("on");
        assert_eq!((t.base.as_str(), t.repo.as_str()), (base, repo));
        assert_eq!(t.token.expose(), "git-tok");
    }

    #[test]
    fn given_settings_win_and_keep_http() {
        let flags = [
            "--commit-status",
            "gitlab",
            "--forge-api-url",
            "http://127.0.0.1:9/api/v4/",
            "--forge-repo",
            "a/b/c",
            "--forge-token",
            "forge-tok",
        ];
        let t = target("/srv/git/stacks", &flags)
            .expect("valid")
            .expect("on");
        assert_eq!(
            (t.base.as_str(), t.repo.as_str()),
            ("http://127.0.0.1:9", "a/b/c")
        );
        assert_eq!(t.token.expose(), "forge-tok");
        assert!(!format!("{t:?}").contains("forge-tok"));
    }

    #[rstest]
    #[case("/srv/git/stacks", &["--commit-status", "gitea"], "FORGE_API_URL")]
    #[case("/srv/git/stacks", &["--commit-status", "gitea", "--forge-api-url", "https://g"], "FORGE_REPO")]
    #[case("https://github.com/acme", &["--commit-status", "github"], "FORGE_REPO")]
    #[case("https://gitlab.com/a/b/c", &["--commit-status", "github"], "FORGE_REPO")]
    fn what_cannot_be_found_is_named(
        #[case] url: &str,
        #[case] flags: &[&str],
        #[case] setting: &str,
    ) {
        assert_eq!(target(url, flags).expect_err("refused").0, setting);
    }

    #[test]
    fn the_forge_is_named_in_any_case() {
        let t = target("https://github.com/a/b", &["--commit-status", "GitHub"])
            .expect("valid")
            .expect("on");
        assert_eq!(t.kind, ForgeKind::GitHub);
    }

    #[test]
    fn off_unless_asked_and_a_token_is_needed() {
        assert_eq!(
            target("https://github.com/a/b", &[]).map(|t| t.is_none()),
            Ok(true)
        );
        let cli = Cli::try_parse_from(["d", "--commit-status", "github"]).expect("flags");
        let url = RepoUrl::parse("https://github.com/a/b").expect("url");
        assert_eq!(
            cli.args.target(&url, None).expect_err("no token").0,
            "FORGE_TOKEN"
        );
    }

    #[test]
    fn the_command_line_names_the_bad_setting_in_one_line() {
        use crate::config::Config;
        let bad = [
            "docker-cd",
            "--git-repo-url",
            ".",
            "--commit-status",
            "bitbucket",
        ];
        let err = Config::from_args(bad).expect_err("unknown forge");
        assert_eq!(
            err.to_string(),
            "error: COMMIT_STATUS (--commit-status): unknown forge 'bitbucket' (one of: github, gitea, forgejo, gitlab)"
        );
        let local = [
            "docker-cd",
            "--git-repo-url",
            ".",
            "--commit-status",
            "gitea",
            "--forge-token",
            "t0k",
        ];
        let err = Config::from_args(local).expect_err("no API");
        let text = err.to_string();
        assert!(
            text.starts_with("error: FORGE_API_URL (--forge-api-url): is required"),
            "{text}"
        );
        assert!(
            !text.contains("t0k") && !text.contains('\n') && err.exit_code() == 2,
            "{text}"
        );
    }

    #[rstest]
    #[case("ftp://x")]
    #[case("https://u:p@x")]
    #[case("https://x/?q")]
    fn bad_api_urls_are_refused(#[case] text: &str) {
        assert!(text.parse::<ApiUrl>().is_err());
    }

    #[rstest]
    #[case("acme")]
    #[case("acme/../x")]
    #[case("acme/st%2e")]
    fn bad_repositories_are_refused(#[case] text: &str) {
        assert!(text.parse::<RepoPath>().is_err());
    }
}
