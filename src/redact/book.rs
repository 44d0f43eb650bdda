//! Every stack's secrets, shared by the components that record or send text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::Secrets;

/// The secret values known per stack, and all of them together for the logs.
///
/// A value once known stays known for the life of the process: a password
/// replaced in Git is still the old containers' password (the plan's old
/// side), and an old secret is no less secret for being old. A set grows only
/// when a commit brings new secret values.
#[derive(Clone, Default)]
pub struct SecretBook {
    inner: Arc<RwLock<Book>>,
}

#[derive(Default)]
struct Book {
    stacks: HashMap<String, Secrets>,
    /// Every stack's values, and their JSON-escaped forms (a JSON log line
    /// writes a `"` inside a value as `\"`).
    everywhere: Secrets,
}

impl SecretBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `secrets` to what is known of `stack`.
    pub fn learn(&self, stack: &str, secrets: &Secrets) {
        let new = {
            let book = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            secrets
                .iter()
                .any(|v| !book.stacks.get(stack).is_some_and(|s| s.contains(v)))
        };
        if !new {
            return;
        }
        let mut book = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        book.stacks
            .entry(stack.to_string())
            .or_default()
            .extend(secrets);
        for value in secrets.iter() {
            book.everywhere.insert(value);
            let escaped = serde_json::to_string(value).unwrap_or_default();
            book.everywhere
                .insert(escaped.trim_start_matches('"').trim_end_matches('"'));
        }
    }

    /// What is known of `stack`.
    pub fn of(&self, stack: &str) -> Secrets {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .stacks
            .get(stack)
            .cloned()
            .unwrap_or_default()
    }

    /// What is known of `stack`, and `more` (a revision's own values, known
    /// to the book or not).
    pub fn of_with(&self, stack: &str, more: &Secrets) -> Secrets {
        let mut secrets = self.of(stack);
        secrets.extend(more);
        secrets
    }

    /// `text` with `stack`'s secrets masked.
    pub fn mask(&self, stack: &str, text: &str) -> String {
        let book = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match book.stacks.get(stack) {
            Some(secrets) => secrets.mask(text).into_owned(),
            None => text.to_string(),
        }
    }

    /// Masks `stack`'s secrets in an optional message, in place.
    pub fn mask_option(&self, stack: &str, text: &mut Option<String>) {
        let book = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(secrets) = book.stacks.get(stack) {
            secrets.mask_option(text);
        }
    }

    /// `bytes` with every stack's secrets masked (a log line names no stack
    /// reliably).
    pub fn mask_everywhere<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let book = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match book.everywhere.mask_bytes(bytes) {
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
            Cow::Owned(masked) => Cow::Owned(masked),
        }
    }
}

impl std::fmt::Debug for SecretBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBook")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[&str]) -> Secrets {
        values.iter().collect()
    }

    #[test]
    fn each_stack_is_masked_with_its_own_values_and_keeps_old_ones() {
        let book = SecretBook::new();
        book.learn("web", &set(&["old-web-pw"]));
        book.learn("web", &set(&["new-web-pw"]));
        book.learn("db", &set(&["db-only-pw"]));
        assert_eq!(
            book.mask("web", "old-web-pw new-web-pw db-only-pw"),
            "(redacted) (redacted) db-only-pw"
        );
        let mut error = Some("db-only-pw".to_string());
        book.mask_option("db", &mut error);
        assert_eq!(error.as_deref(), Some("(redacted)"));
        assert_eq!(book.of("nothing"), Secrets::default());
    }

    #[test]
    fn logs_are_masked_with_every_stack_s_values_raw_and_json_escaped() {
        let book = SecretBook::new();
        book.learn("web", &set(&["web-pw-1"]));
        book.learn("db", &set(&["quo\"ted-pw"]));
        let line = br#"{"error":"web-pw-1 and quo\"ted-pw"} quo"ted-pw"#;
        assert_eq!(
            book.mask_everywhere(line).as_ref(),
            br#"{"error":"(redacted) and (redacted)"} (redacted)"#
        );
    }
}
