//! What `GIT_REF` may name, and what `DEPLOY_DIR` may point at, checked before
//! anything is fetched.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use crate::setting::Invalid;

/// A branch, tag or commit name that passes `git check-ref-format`'s checks
/// that matter for a user-typed ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef(String);

impl GitRef {
    /// The ref as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for GitRef {
    type Err = Invalid;

    fn from_str(reference: &str) -> Result<Self, Invalid> {
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
            Err(Invalid::new("not a valid branch, tag or commit name"))
        } else {
            Ok(Self(reference.to_string()))
        }
    }
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The folder inside the repository that holds the stacks, normalised (`""` for
/// the root). It stays inside the repository: relative, no `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployDir(PathBuf);

impl DeployDir {
    /// The folder relative to the repository root.
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl FromStr for DeployDir {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let mut out = PathBuf::new();
        for component in Path::new(text.trim()).components() {
            match component {
                Component::CurDir => {}
                Component::Normal(part) => out.push(part),
                Component::ParentDir => {
                    return Err(Invalid::new("must stay inside the repository (no '..')"));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(Invalid::new(
                        "must be a path relative to the repository root",
                    ));
                }
            }
        }
        if out.to_str().is_none() {
            return Err(Invalid::new("must be valid UTF-8"));
        }
        Ok(Self(out))
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
        let got = text.parse::<DeployDir>().map(|d| d.0).map_err(|_| ());
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
        assert_eq!(reference.parse::<GitRef>().is_ok(), ok);
    }
}
