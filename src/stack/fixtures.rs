//! Desired stacks for unit tests across the crate.

use std::sync::Arc;

use super::DesiredStack;

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
