//! Stack names: the stack path made into a compose project name.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

/// A stack's name: its compose project name, the work queue's key and the
/// `{name}` of the API. Only names [`stack_name`] can produce exist, so a
/// request's name outside `[a-z0-9_-]` is refused before it reaches a log line,
/// a lock or Docker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackName(Arc<str>);

/// A name no stack can have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stack name is made of a-z, 0-9, '_' and '-' only")]
pub struct NotAStackName;

impl StackName {
    /// The name of the stack at `path` (relative to `DEPLOY_DIR`).
    pub fn for_path(path: &str) -> Self {
        Self(stack_name(path).into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for StackName {
    type Err = NotAStackName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        if !text.is_empty() && text.chars().all(allowed) {
            Ok(Self(text.into()))
        } else {
            Err(NotAStackName)
        }
    }
}

impl PartialEq<&str> for StackName {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl Deref for StackName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for StackName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for StackName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StackName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for StackName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The stack name for a stack path: lower-cased, every character outside
/// `[a-z0-9_-]` replaced by `-`; the deploy folder itself (`.`) is `root`.
pub fn stack_name(path: &str) -> String {
    if path == "." || path.is_empty() {
        return "root".to_string();
    }
    path.chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Why `name` cannot be a compose project name, if it cannot.
///
/// Compose v2 requires `^[a-z0-9][a-z0-9_-]*$`; v1 would silently rewrite such a
/// name instead. Checking here makes both versions behave the same.
pub fn project_name_problem(name: &str) -> Option<String> {
    match name.chars().next() {
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => None,
        _ => Some(format!(
            "stack name '{name}' is not a valid compose project name: it must start with a letter or digit (rename the folder)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("apps/web", "apps-web")]
    #[case("apps/Web.v2", "apps-web-v2")]
    #[case(".", "root")]
    #[case("infra/db_main", "infra/db_main".replace('/', "-"))]
    #[case("Ünïcode", "-n-code")]
    #[case("a b", "a-b")]
    fn names_follow_the_contract(#[case] path: &str, #[case] name: String) {
        assert_eq!(stack_name(path), name);
    }

    #[rstest]
    #[case("apps-web", true)]
    #[case("root", true)]
    #[case("_private", true)]
    #[case("", false)]
    #[case("Web", false)]
    #[case("alpha\r\nX-Injected:1", false)]
    #[case("../etc", false)]
    fn only_names_a_stack_can_have_parse(#[case] text: &str, #[case] ok: bool) {
        assert_eq!(text.parse::<StackName>().is_ok(), ok);
        if ok {
            assert_eq!(StackName::for_path(text).as_str(), text);
        }
    }

    #[rstest]
    #[case("apps-web", true)]
    #[case("0day", true)]
    #[case("-hidden", false)]
    #[case("_private", false)]
    fn project_names_must_start_with_a_letter_or_digit(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(project_name_problem(name).is_none(), ok);
    }
}
