//! What the parsers of settings share: the error that names what is wrong
//! without echoing the value, blank-means-unset, and durations.
//!
//! A leaf module, so every component can check its own settings next to the
//! types they produce without depending on the command line that gathers them.

mod duration;

use std::str::FromStr;

pub use duration::parse_duration;

/// Why a setting's value is refused. Shown after the setting's name and, unlike
/// clap's own errors, without the value: it may be a token or carry a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(String);

impl Invalid {
    /// A refusal saying what is wrong (not repeating the value).
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A setting whose blank value means unset, as the docker CLI reads `DOCKER_HOST=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blankable<T>(Option<T>);

impl<T> Blankable<T> {
    /// The value, borrowed; `None` when it was blank.
    pub fn as_option(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<T: FromStr> FromStr for Blankable<T> {
    type Err = T::Err;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().is_empty() {
            Ok(Self(None))
        } else {
            text.parse().map(|value| Self(Some(value)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_unset_and_anything_else_is_parsed() {
        assert_eq!(" ".parse::<Blankable<u8>>(), Ok(Blankable(None)));
        assert_eq!("7".parse::<Blankable<u8>>(), Ok(Blankable(Some(7))));
        assert!("x".parse::<Blankable<u8>>().is_err());
    }
}
