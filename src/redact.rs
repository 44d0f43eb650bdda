//! Secrets are never shown: not in plans, logs, history, events nor the dashboard.
//!
//! Two layers. By key: a value is secret-looking when its key contains
//! `PASS` (`PASSWORD`, `PASSWD`, `DB_PASS`), `SECRET`, `TOKEN`, `KEY` or
//! `CREDENTIAL` (any case; not `AUTH`, which would take `AUTHENTIK_REDIS__HOST:
//! redis` for a secret and mask every `redis`); over-redacting a harmless
//! `KEYCLOAK_URL` is the price of never showing a `POSTGRES_PASSWORD`. The
//! compose view ([`compose_text`]) and the plan's `environment.*` and
//! `labels.*` fields hide such values under their key.
//!
//! By value: a secret also shows outside its key — in a URL, a `command:`, a
//! healthcheck, through a `${VAR}`, in compose's error output. So each stack
//! has a [`Secrets`] set ([`collect`] builds it: values under secret-looking
//! keys in its compose files and env files, `.env` values reached through a
//! secret-named variable, passwords in URLs, credentials written inline
//! (`password=…` in a DSN or mount options, `--password=…` and
//! `--password …` flags, the token after `Bearer`); and from running containers, the
//! same in their env and labels), and every occurrence of each value is
//! replaced by [`REDACTED`]. Values shorter than [`MIN_SECRET_LEN`] characters,
//! and booleans, are not masked by value (they would mask every `80` or `true`).
//!
//! The sets live in one [`SecretBook`], learned from every Git snapshot (the
//! git informer) and from every plan's containers; masking happens where text
//! is recorded or sent, not at each call that makes it:
//!
//! | sink | where it is masked |
//! |---|---|
//! | compose view | `api::plan::compose_file` (by key, then by value) |
//! | plan (old and new) | `plan::Planner::plan`, over every changed field, with the values of the containers and of the revisions they run |
//! | compose's error output (stack error, plan error) | `compose::workspace::Workspaces`, on every compose run it returns |
//! | a stack's undeployable-revision error | `stack::discover`, with the stack's own set |
//! | stack `error` and `last_result` | `status::StatusTable::update` |
//! | history entries | `history::History` (on write and on read) |
//! | SSE events | `events::EventBus::publish` |
//! | logs (text and JSON) | [`MaskingWriter`], around the log output |
//!
//! More values (a decrypted SOPS document, `SECRETS_DIR`) join a stack's set
//! with [`Secrets::insert`] and [`SecretBook::learn`].

pub mod book;
pub mod collect;
mod compose_text;
pub mod log_writer;
pub mod secrets;

pub use book::SecretBook;
pub use compose_text::compose_text;
pub use log_writer::MaskingWriter;
pub use secrets::Secrets;

/// Shown instead of a secret value.
pub const REDACTED: &str = "(redacted)";

/// Values shorter than this (in characters) are not masked by value.
pub const MIN_SECRET_LEN: usize = 4;

/// Whether `key` names a secret-looking value.
pub fn is_secret(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    ["PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL"]
        .iter()
        .any(|word| upper.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_recognised_in_any_case() {
        assert!(is_secret("POSTGRES_PASSWORD"));
        assert!(is_secret("api_key"));
        assert!(is_secret("GitHubToken"));
        assert!(!is_secret("LEVEL"));
    }
}
