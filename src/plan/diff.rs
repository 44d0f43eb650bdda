//! The per-service difference between desired and actual specs: a pure
//! function. Which service is added, changed or removed is decided here, which
//! of its fields differ in `fields.rs`.

mod fields;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use self::fields::{compare, exposure};
use super::spec::ServiceSpec;
use crate::named::named_enum;

named_enum! {
    /// What an apply would do to a service; the symbols are what plans show.
    pub enum Effect {
        /// Create it.
        Add = "+",
        /// Recreate it with other settings.
        Change = "~",
        /// Remove it.
        Remove = "-",
    }
}

named_enum! {
    /// Why a service differs.
    pub enum Source {
        /// The desired state changed.
        Git = "git",
        /// The containers drifted from it.
        Runtime = "runtime",
    }
}

/// One changed field of a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// `image`, `environment.FOO`, `ports`, …
    pub field: String,
    /// The running value (`null` when absent).
    pub old: Value,
    /// The desired value (`null` when it goes away).
    pub new: Value,
}

/// One service that an apply would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// `+` add, `~` modify, `-` remove.
    pub action: Effect,
    /// Service name.
    pub service: String,
    /// `git` (the desired state changed) or `runtime` (the containers drifted).
    pub source: Source,
    /// What differs; for `+`, what the new service exposes of the host (image,
    /// published ports, bind mounts, host powers); empty for `-`.
    pub fields: Vec<FieldChange>,
}

/// What runs for one service.
#[derive(Debug, Clone)]
pub struct Actual {
    /// The spec read from (the first of) its containers.
    pub spec: ServiceSpec,
    /// The `stack_hash` its labels carry.
    pub stack_hash: Option<String>,
}

/// The changes that make `actual` match `desired`; services in `desired` but
/// not in `required` (profiles, scale 0) are only compared when running.
pub fn diff(
    desired: &BTreeMap<String, ServiceSpec>,
    required: &BTreeSet<String>,
    desired_hash: &str,
    actual: &BTreeMap<String, Actual>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, want) in desired {
        match actual.get(name) {
            None if required.contains(name) => changes.push(Change {
                action: Effect::Add,
                service: name.clone(),
                source: Source::Git,
                fields: exposure(want),
            }),
            None => {}
            Some(have) => {
                let from_git = have.stack_hash.as_deref() != Some(desired_hash);
                let mut fields = compare(want, &have.spec);
                if from_git && fields.is_empty() {
                    // Only files changed (a config file, `.env` not used in this
                    // service): the apply still recreates it with the new labels.
                    fields.push(FieldChange {
                        field: "files".into(),
                        old: have.stack_hash.as_deref().map(short).into(),
                        new: json!(short(desired_hash)),
                    });
                }
                if !fields.is_empty() {
                    changes.push(Change {
                        action: Effect::Change,
                        service: name.clone(),
                        source: if from_git {
                            Source::Git
                        } else {
                            Source::Runtime
                        },
                        fields,
                    });
                }
            }
        }
    }
    for name in actual.keys().filter(|n| !desired.contains_key(*n)) {
        changes.push(Change {
            action: Effect::Remove,
            service: name.clone(),
            source: Source::Git,
            fields: Vec::new(),
        });
    }
    changes
}

/// How many of `changes` are `action`s.
pub fn count(changes: &[Change], action: Effect) -> usize {
    changes.iter().filter(|c| c.action == action).count()
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}
