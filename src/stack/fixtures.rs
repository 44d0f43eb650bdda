//! Desired stacks for unit tests across the crate.

use std::collections::HashMap;
use std::sync::Arc;

use super::DesiredStack;
use super::model::{StackFiles, inside};

/// A stack's files without links: what lands inside is what is inside as text.
pub struct PlainFiles(HashMap<String, Arc<[u8]>>);

impl PlainFiles {
    /// Files by path (relative to the stack folder) and text.
    pub fn of(list: &[(&str, &str)]) -> Self {
        Self(
            list.iter()
                .map(|(path, text)| ((*path).to_string(), Arc::from(text.as_bytes())))
                .collect(),
        )
    }
}

impl StackFiles for PlainFiles {
    fn read(&self, path: &str) -> Result<Arc<[u8]>, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| "no such file in the stack".to_string())
    }

    fn lands_inside(&self, path: &str) -> bool {
        inside("", path).is_some()
    }
}

/// A valid stack `name` with `services` (all expected, none one-shot) at `stack_hash`.
pub fn desired(name: &str, services: &[&str], stack_hash: &str) -> DesiredStack {
    let services: Vec<String> = services.iter().map(|s| (*s).to_string()).collect();
    DesiredStack {
        name: name.parse().expect("a stack name"),
        path: name.into(),
        compose_file: "compose.yaml".into(),
        compose_hash: format!("c-{stack_hash}"),
        stack_hash: stack_hash.into(),
        expected_services: services.clone(),
        services,
        oneshot_services: Vec::new(),
        compose_version: None,
        health_timeout: None,
        rollback: None,
        files: Arc::new([]),
        error: None,
        clashes_with: Vec::new(),
        secrets: crate::redact::Secrets::default(),
    }
}
