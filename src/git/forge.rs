//! The web page of a commit on a known forge, from `GIT_REPO_URL`.
//!
//! Only hosts whose URL layout is known get links; the link is built from the
//! host and the repository path alone, so credentials in the URL never reach it.

use super::repo_url::{RepoUrl, Transport};

/// How a forge lays out a commit's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `/owner/repo/commit/<id>` (GitHub, Gitea, Forgejo).
    Commit,
    /// `/group/…/repo/-/commit/<id>` (GitLab: groups nest).
    GitLab,
    /// `/owner/repo/commits/<id>` (Bitbucket).
    Bitbucket,
}

/// The repository's home on a known forge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forge {
    /// `https://host/owner/repo`.
    home: String,
    layout: Layout,
}

impl Forge {
    /// The forge `url` lives on; `None` for an unknown host, a local path, or a
    /// path that is not plainly `owner/repo`.
    pub fn of(url: &RepoUrl) -> Option<Self> {
        if url.transport() == Transport::Local {
            return None;
        }
        let (host, path) = host_and_path(url.as_str())?;
        let host = host.to_ascii_lowercase();
        let layout = match host.as_str() {
            "github.com" | "codeberg.org" | "gitea.com" => Layout::Commit,
            "gitlab.com" => Layout::GitLab,
            "bitbucket.org" => Layout::Bitbucket,
            _ => return None,
        };
        let path = path.trim_matches('/');
        let path = path.strip_suffix(".git").unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        let depth_ok = match layout {
            Layout::GitLab => segments.len() >= 2,
            Layout::Commit | Layout::Bitbucket => segments.len() == 2,
        };
        if !depth_ok || !segments.iter().all(|s| plain_segment(s)) {
            return None;
        }
        Some(Self {
            home: format!("https://{host}/{path}"),
            layout,
        })
    }

    /// The page of commit `id` (a full hex id, else `None`).
    pub fn commit_url(&self, id: &str) -> Option<String> {
        let full = matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit());
        if !full {
            return None;
        }
        let route = match self.layout {
            Layout::Commit => "commit",
            Layout::GitLab => "-/commit",
            Layout::Bitbucket => "commits",
        };
        Some(format!("{}/{route}/{id}", self.home))
    }
}

/// A path segment of letters, digits, `.`, `_` and `-`, not `.` or `..`: safe
/// inside a web or API URL, where `..`, `?` or `%` would reach another route.
pub(crate) fn plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Host (no user, no port) and path of a `scheme://` or scp-like URL.
pub(crate) fn host_and_path(raw: &str) -> Option<(&str, &str)> {
    let (authority, path) = if let Some((_, rest)) = raw.split_once("://") {
        rest.split_at(rest.find('/')?)
    } else {
        // scp-like `user@host:path` (RepoUrl tells it from a local path).
        let (head, path) = raw.split_once(':')?;
        if head.contains('/') {
            return None;
        }
        (head, path)
    };
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?;
    Some((host, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const ID: &str = "0123456789abcdef0123456789abcdef01234567";

    #[rstest]
    #[case(
        "https://github.com/acme/stacks.git",
        "https://github.com/acme/stacks/commit/"
    )]
    #[case(
        "https://github.com/acme/stacks",
        "https://github.com/acme/stacks/commit/"
    )]
    #[case(
        "https://GitHub.com/acme/stacks/",
        "https://github.com/acme/stacks/commit/"
    )]
    #[case(
        "https://x-access-token@github.com/acme/stacks.git",
        "https://github.com/acme/stacks/commit/"
    )]
    #[case(
        "git@github.com:acme/stacks.git",
        "https://github.com/acme/stacks/commit/"
    )]
    #[case(
        "ssh://git@github.com:22/acme/stacks.git",
        "https://github.com/acme/stacks/commit/"
    )]
    #[case(
        "ssh://git:s3cret@github.com/acme/stacks.git",
        "https://github.com/acme/stacks/commit/"
    )]
    #[case(
        "https://gitlab.com/acme/infra/stacks.git",
        "https://gitlab.com/acme/infra/stacks/-/commit/"
    )]
    #[case(
        "git@gitlab.com:acme/stacks",
        "https://gitlab.com/acme/stacks/-/commit/"
    )]
    #[case(
        "https://codeberg.org/acme/stacks.git",
        "https://codeberg.org/acme/stacks/commit/"
    )]
    #[case(
        "ssh://git@codeberg.org/acme/stacks.git",
        "https://codeberg.org/acme/stacks/commit/"
    )]
    #[case(
        "https://user@bitbucket.org/acme/stacks.git",
        "https://bitbucket.org/acme/stacks/commits/"
    )]
    #[case(
        "git@bitbucket.org:acme/stacks.git",
        "https://bitbucket.org/acme/stacks/commits/"
    )]
    fn known_forges_link_the_commit_page(#[case] url: &str, #[case] prefix: &str) {
        let forge = Forge::of(&RepoUrl::parse(url).expect(url)).expect(url);
        assert_eq!(forge.commit_url(ID), Some(format!("{prefix}{ID}")));
    }

    #[rstest]
    #[case("https://git.example.com/acme/stacks.git")]
    #[case("git@git.example.com:acme/stacks.git")]
    #[case("https://github.com.evil.example/acme/stacks.git")]
    #[case("/srv/git/stacks")]
    #[case("file:///srv/git/github.com/acme/stacks")]
    #[case("https://github.com/acme")]
    #[case("https://github.com/acme/stacks/tree/main")]
    #[case("https://github.com/acme/stacks?x=<script>")]
    #[case("https://github.com/acme/../stacks")]
    fn anything_else_has_no_link(#[case] url: &str) {
        let parsed = RepoUrl::parse(url).expect(url);
        assert_eq!(Forge::of(&parsed), None, "{url}");
    }

    #[test]
    fn the_link_never_carries_credentials() {
        let url = RepoUrl::parse("ssh://deploy:tok3n@github.com/acme/stacks.git").expect("valid");
        let link = Forge::of(&url)
            .and_then(|f| f.commit_url(ID))
            .expect("a link");
        assert!(
            !link.contains("tok3n") && !link.contains("deploy"),
            "{link}"
        );
    }

    #[rstest]
    #[case("main")]
    #[case("0123456")]
    #[case("0123456789abcdef0123456789abcdef0123456z")]
    fn only_a_full_commit_id_is_linked(#[case] id: &str) {
        let url = RepoUrl::parse("https://github.com/acme/stacks").expect("valid");
        assert_eq!(Forge::of(&url).and_then(|f| f.commit_url(id)), None);
    }
}
