//! The forms `GIT_REPO_URL` may take, checked before anything is fetched.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::setting::Invalid;

/// How the repository is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `http://` or `https://` (smart HTTP; the token goes in a header).
    Http,
    /// `ssh://` or scp-like `user@host:path`.
    Ssh,
    /// `git://` (anonymous git daemon).
    Git,
    /// `file://` or a local path (a work tree or a bare repository).
    Local,
}

/// A validated repository location. `Display` never shows a password.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoUrl {
    raw: String,
    transport: Transport,
}

impl RepoUrl {
    /// Checks the form of `text`; the repository itself is only reached by a refresh.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let raw = text.trim();
        if raw.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if let Some((scheme, rest)) = raw.split_once("://") {
            let transport = match scheme.to_ascii_lowercase().as_str() {
                "http" | "https" => Transport::Http,
                "ssh" | "git+ssh" | "ssh+git" => Transport::Ssh,
                "git" => Transport::Git,
                "file" => Transport::Local,
                other => {
                    return Err(Invalid::new(format!(
                        "unsupported scheme '{other}': use https://, http://, ssh://, git://, file://, user@host:path or a local path"
                    )));
                }
            };
            if transport != Transport::Local {
                let authority = rest.split('/').next().unwrap_or_default();
                let host = authority.rsplit('@').next().unwrap_or_default();
                if host.is_empty() || host.starts_with(':') {
                    return Err(Invalid::new("the URL has no host"));
                }
                if transport == Transport::Http
                    && authority
                        .rsplit_once('@')
                        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
                {
                    return Err(Invalid::new(
                        "the URL carries a password: put the token in GIT_ACCESS_TOKEN instead, so it is never written to disk or logged",
                    ));
                }
            } else if rest.is_empty() {
                return Err(Invalid::new("the file:// URL has no path"));
            }
            return Ok(Self {
                raw: raw.to_string(),
                transport,
            });
        }
        let transport = if is_scp_like(raw) {
            Transport::Ssh
        } else {
            Transport::Local
        };
        Ok(Self {
            raw: raw.to_string(),
            transport,
        })
    }

    /// The URL or path as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether this is `http://`: what travels to it can be read on the way.
    pub fn is_plain_http(&self) -> bool {
        self.raw
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
    }

    /// How the repository is reached.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The local path for a `file://` URL or a plain path; `None` for network URLs.
    pub fn local_path(&self) -> Option<PathBuf> {
        if self.transport != Transport::Local {
            return None;
        }
        Some(PathBuf::from(
            self.raw
                .strip_prefix("file://")
                .unwrap_or(self.raw.as_str()),
        ))
    }
}

/// `user@host:path` as git understands it: a colon before any slash, and a host part.
fn is_scp_like(raw: &str) -> bool {
    let Some((head, path)) = raw.split_once(':') else {
        return false;
    };
    if path.is_empty() || head.contains('/') {
        return false;
    }
    let host = head.rsplit('@').next().unwrap_or_default();
    // A one-letter "host" is a Windows drive letter, not a host.
    head.contains('@') && host.len() > 1
}

impl FromStr for RepoUrl {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        Self::parse(text)
    }
}

impl fmt::Display for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl fmt::Debug for RepoUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RepoUrl({})", self.raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("https://github.com/acme/stacks.git", Transport::Http)]
    #[case("http://127.0.0.1:8080/repo.git", Transport::Http)]
    #[case("https://x-access-token@github.com/acme/stacks.git", Transport::Http)]
    #[case("ssh://git@github.com/acme/stacks.git", Transport::Ssh)]
    #[case("git@github.com:acme/stacks.git", Transport::Ssh)]
    #[case("git://127.0.0.1/repo.git", Transport::Git)]
    #[case("file:///srv/git/stacks.git", Transport::Local)]
    #[case("/srv/git/stacks", Transport::Local)]
    #[case(".", Transport::Local)]
    #[case("../stacks", Transport::Local)]
    fn recognises_every_contract_form(#[case] text: &str, #[case] transport: Transport) {
        assert_eq!(RepoUrl::parse(text).map(|u| u.transport()), Ok(transport));
    }

    #[rstest]
    #[case("", "must not be empty")]
    #[case("ftp://host/repo", "unsupported scheme 'ftp'")]
    #[case("https:///repo.git", "no host")]
    #[case("https://user:pass@github.com/acme/stacks.git", "GIT_ACCESS_TOKEN")]
    #[case("file://", "no path")]
    fn refuses_bad_forms_with_a_reason(#[case] text: &str, #[case] reason: &str) {
        let err = RepoUrl::parse(text).expect_err(text).to_string();
        assert!(err.contains(reason), "{text:?} gave {err:?}");
        assert!(!err.contains("pass@"), "the error must not echo a password");
    }

    #[test]
    fn local_path_strips_the_file_scheme() {
        let url = RepoUrl::parse("file:///srv/git/stacks.git").expect("valid");
        assert_eq!(url.local_path(), Some(PathBuf::from("/srv/git/stacks.git")));
        let url = RepoUrl::parse("git@github.com:acme/stacks.git").expect("valid");
        assert_eq!(url.local_path(), None);
    }
}
