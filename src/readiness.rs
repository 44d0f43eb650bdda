//! Named readiness conditions: `/readyz` answers 200 once all of them hold.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// A shared set of conditions, each `false` until its owner marks it.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    conditions: Arc<Mutex<BTreeMap<&'static str, bool>>>,
}

impl Readiness {
    /// Readiness that waits for each of `names`.
    pub fn new(names: &[&'static str]) -> Self {
        let conditions = names.iter().map(|n| (*n, false)).collect();
        Self {
            conditions: Arc::new(Mutex::new(conditions)),
        }
    }

    /// Records whether condition `name` holds now.
    pub fn set(&self, name: &'static str, ready: bool) {
        self.conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, ready);
    }

    /// The conditions that do not hold yet, in name order.
    pub fn waiting(&self) -> Vec<&'static str> {
        self.conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, ready)| !**ready)
            .map(|(name, _)| *name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_condition_holds() {
        let readiness = Readiness::new(&["git", "docker"]);
        assert_eq!(readiness.waiting(), vec!["docker", "git"]);
        readiness.set("git", true);
        assert_eq!(readiness.waiting(), vec!["docker"]);
        readiness.set("docker", true);
        assert!(readiness.waiting().is_empty());
        readiness.set("docker", false);
        assert_eq!(readiness.waiting(), vec!["docker"]);
    }
}
