//! The override file docker-cd adds to every compose run: the contract's labels
//! on every service.
//!
//! It is JSON, which every YAML parser compose uses reads as YAML, so no YAML is
//! ever generated. It names only services of the base file: compose v1 fails on
//! an override entry for a service the base file does not define.

use serde_json::{Map, Value, json};

use crate::labels::StackLabels;

/// File name of the generated override inside the stack's working folder.
pub const OVERRIDE_FILE: &str = ".docker-cd.override.yaml";

/// The override document for `services`, repeating the base file's `version`
/// (compose v1 refuses files of different versions).
pub fn render(services: &[String], version: Option<&str>, labels: &StackLabels) -> Vec<u8> {
    let service_labels: Map<String, Value> = labels
        .pairs()
        .into_iter()
        // Compose interpolates `$` in every file, the override included.
        .map(|(k, v)| (k.to_string(), Value::String(v.replace('$', "$$"))))
        .collect();
    let services: Map<String, Value> = services
        .iter()
        .map(|name| (name.clone(), json!({ "labels": service_labels })))
        .collect();
    let mut doc = Map::new();
    if let Some(version) = version {
        doc.insert("version".into(), Value::String(version.to_string()));
    }
    doc.insert("services".into(), Value::Object(services));
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(doc)).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync() -> StackLabels {
        StackLabels {
            instance: "docker-cd".into(),
            stack_path: "apps/we$b".into(),
            synced: crate::labels::Synced {
                revision: "abc".into(),
                compose_hash: "c".into(),
                stack_hash: "s".into(),
                synced_at: "2026-11-23T00:00:00Z".into(),
                good_revision: None,
                rolled_back_from: None,
                held: false,
                rollback_reason: None,
            },
        }
    }

    #[test]
    fn every_service_gets_every_label_and_dollars_are_escaped() {
        let bytes = render(&["web".into(), "db".into()], Some("2.4"), &sync());
        let doc: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(doc["version"], "2.4");
        for service in ["web", "db"] {
            let labels = &doc["services"][service]["labels"];
            assert_eq!(labels["io.docker-cd.managed"], "true");
            assert_eq!(labels["io.docker-cd.stack"], "apps/we$$b");
            assert_eq!(labels["io.docker-cd.stack-hash"], "s");
            assert_eq!(labels.as_object().map(Map::len), Some(7));
        }
    }

    #[test]
    fn the_override_is_valid_compose_yaml() {
        let bytes = render(&["web".into()], None, &sync());
        let parsed = crate::compose::file::parse(&bytes).expect("compose can read it");
        assert_eq!(parsed.services, vec!["web".to_string()]);
    }
}
