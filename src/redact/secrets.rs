//! A set of secret values and the masking of their every occurrence.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use serde_json::Value;

use super::{MIN_SECRET_LEN, REDACTED};

/// Values that are secret wherever they appear. `Debug` shows only how many.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeSet<String>,
    /// Built on the first mask after a change: most sets are masked with
    /// many times and changed rarely.
    matcher: OnceLock<Option<AhoCorasick>>,
}

impl Secrets {
    /// Adds `value` (trimmed); `false` when it is too short or a boolean to be
    /// masked by value, or already known.
    pub fn insert(&mut self, value: &str) -> bool {
        let value = value.trim();
        if !maskable(value) || self.values.contains(value) {
            return false;
        }
        self.values.insert(value.to_string());
        self.matcher = OnceLock::new();
        true
    }

    /// Adds every value of `other`; whether any was new.
    pub fn extend(&mut self, other: &Secrets) -> bool {
        let mut added = false;
        for value in &other.values {
            added |= self.insert(value);
        }
        added
    }

    /// Whether `value` is one of the secrets.
    pub fn contains(&self, value: &str) -> bool {
        self.values.contains(value)
    }

    /// How many values the set holds.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(String::as_str)
    }

    /// `text` with every occurrence of every value replaced by [`REDACTED`];
    /// where values overlap, the longest wins (a password containing another
    /// is masked whole).
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.matcher() {
            Some(matcher) if matcher.is_match(text) => {
                Cow::Owned(matcher.replace_all(text, &vec![REDACTED; self.values.len()]))
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// [`Secrets::mask`] over bytes (a log line, which need not be UTF-8).
    pub fn mask_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match self.matcher() {
            Some(matcher) if matcher.is_match(bytes) => Cow::Owned(
                matcher.replace_all_bytes(bytes, &vec![REDACTED.as_bytes(); self.values.len()]),
            ),
            _ => Cow::Borrowed(bytes),
        }
    }

    /// Masks every string inside `value`, in place.
    pub fn mask_json(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => {
                if let Cow::Owned(masked) = self.mask(s) {
                    *s = masked;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_json(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask_json(v)),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// [`Secrets::mask`] over an optional message, for error fields.
    pub fn mask_option(&self, text: &mut Option<String>) {
        if let Some(t) = text
            && let Cow::Owned(masked) = self.mask(t)
        {
            *t = masked;
        }
    }

    fn matcher(&self) -> Option<&AhoCorasick> {
        self.matcher
            .get_or_init(|| {
                if self.values.is_empty() {
                    return None;
                }
                // Only fails past the automaton's size limits, far beyond any
                // stack's secrets; then nothing is masked by value, as before.
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&self.values)
                    .ok()
            })
            .as_ref()
    }
}

/// Whether a value is masked by value: long enough, and not a boolean (a
/// `KEYCLOAK_ENABLED: "true"` would mask every `true`).
fn maskable(value: &str) -> bool {
    const BOOLEANS: [&str; 8] = ["true", "false", "yes", "no", "on", "off", "null", "none"];
    value.chars().count() >= MIN_SECRET_LEN
        && !BOOLEANS.iter().any(|b| b.eq_ignore_ascii_case(value))
}

impl PartialEq for Secrets {
    fn eq(&self, other: &Self) -> bool {
        self.values == other.values
    }
}

impl Eq for Secrets {}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} values)", self.values.len())
    }
}

impl<S: AsRef<str>> FromIterator<S> for Secrets {
    fn from_iter<I: IntoIterator<Item = S>>(values: I) -> Self {
        let mut secrets = Self::default();
        for value in values {
            secrets.insert(value.as_ref());
        }
        secrets
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    #[rstest]
    #[case::every_occurrence(&["pw-secret-1"], "a pw-secret-1 b pw-secret-1", "a (redacted) b (redacted)")]
    #[case::longest_wins(&["abcd", "abcdef"], "x abcdefg abcd", "x (redacted)g (redacted)")]
    #[case::contained_value_masked_whole(&["hunter2", "hunter2-prod"], "-P hunter2-prod", "-P (redacted)")]
    #[case::short_values_are_not_masked(&["pw1", "ab"], "pw1 ab", "pw1 ab")]
    #[case::booleans_are_not_masked(&["true", "False"], "true false", "true false")]
    #[case::four_characters_are(&["abcd"], "xabcdx", "x(redacted)x")]
    #[case::trimmed(&["  spaced-secret \n"], "is spaced-secret", "is (redacted)")]
    #[case::nothing_known(&[], "anything", "anything")]
    fn masking(#[case] values: &[&str], #[case] text: &str, #[case] shown: &str) {
        let secrets: Secrets = values.iter().collect();
        assert_eq!(secrets.mask(text), shown);
        assert_eq!(secrets.mask_bytes(text.as_bytes()), shown.as_bytes());
    }

    #[test]
    fn json_strings_are_masked_at_any_depth() {
        let secrets: Secrets = ["pw-secret-1"].into_iter().collect();
        let mut value =
            json!({"old": ["sqlcmd -P pw-secret-1"], "new": {"k": "pw-secret-1"}, "n": 1});
        secrets.mask_json(&mut value);
        assert_eq!(
            value,
            json!({"old": ["sqlcmd -P (redacted)"], "new": {"k": "(redacted)"}, "n": 1})
        );
    }

    #[test]
    fn debug_shows_no_value() {
        let secrets: Secrets = ["pw-secret-1"].into_iter().collect();
        assert_eq!(format!("{secrets:?}"), "Secrets(1 values)");
    }

    #[test]
    fn a_value_added_later_is_masked_too() {
        let mut secrets: Secrets = ["first-one"].into_iter().collect();
        assert_eq!(
            secrets.mask("first-one second-one"),
            "(redacted) second-one"
        );
        assert!(secrets.insert("second-one"));
        assert!(!secrets.insert("second-one"));
        assert_eq!(
            secrets.mask("first-one second-one"),
            "(redacted) (redacted)"
        );
    }
}
