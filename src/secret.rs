//! A string that never shows itself in logs, `Debug` output or API answers.

use std::fmt;
use std::str::FromStr;

use crate::setting::Invalid;

/// A secret setting (token, webhook secret). `Debug` and `Display` print `(redacted)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: call only where it is sent or compared, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this secret. Compares SHA-256 digests in constant
    /// time, not the texts: a byte compare of unequal lengths returns early and
    /// tells an attacker the secret's length.
    pub fn matches(&self, presented: &[u8]) -> bool {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let expected = Sha256::digest(self.0.as_bytes());
        bool::from(
            Sha256::digest(presented)
                .as_slice()
                .ct_eq(expected.as_slice()),
        )
    }
}

impl FromStr for Secret {
    type Err = Invalid;

    /// A set but blank secret is refused: it is almost always a templating slip,
    /// and an empty token or webhook secret would quietly weaken a check.
    fn from_str(text: &str) -> Result<Self, Invalid> {
        if text.trim().is_empty() {
            Err(Invalid::new("is set but empty: unset it or give a value"))
        } else {
            Ok(Self::new(text))
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_digest() {
        let secret = Secret::new("tok");
        assert!(secret.matches(b"tok"));
        assert!(!secret.matches(b"tok2"));
        assert!(!secret.matches(b""));
    }

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "(redacted) (redacted)");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn a_blank_secret_is_refused() {
        assert!(" ".parse::<Secret>().is_err());
        assert_eq!(
            "s".parse::<Secret>().map(|s| s.expose().to_string()),
            Ok("s".into())
        );
    }
}
