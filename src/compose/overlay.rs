//! docker-cd's labels on the model compose resolved: the contract's labels on
//! every service, added to the admitted model itself, so the file `compose up`
//! runs is the model that was checked plus these labels and nothing else.
//!
//! The file is JSON, which every YAML parser compose uses reads as YAML, so no
//! YAML is ever generated.

use serde_json::{Map, Value};

use crate::labels::StackLabels;

/// The file `compose up` runs on, inside the stack's working folder: the
/// admitted model with docker-cd's labels.
pub const MODEL_FILE: &str = ".docker-cd.compose.json";

/// The override file applies of docker-cd before issue 23 ran beside the
/// stack's compose file; `down` still finds a folder left like that.
pub const OVERRIDE_FILE: &str = ".docker-cd.override.yaml";

/// `model` (what `compose config` printed, parsed) with `labels` on every
/// service, as the bytes of the file `compose up` is given.
pub fn labelled(model: &Value, labels: &StackLabels) -> Vec<u8> {
    let mut model = model.clone();
    let services = model
        .get_mut("services")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|services| services.values_mut());
    for service in services {
        let Some(service) = service.as_object_mut() else {
            continue;
        };
        let mut own = match service.remove("labels") {
            Some(Value::Object(map)) => map,
            Some(Value::Array(items)) => from_list(&items),
            _ => Map::new(),
        };
        for (key, value) in labels.pairs() {
            // Compose interpolates `$` in the file it reads; what `config`
            // printed is escaped the same way.
            own.insert(key.to_string(), Value::String(value.replace('$', "$$")));
        }
        service.insert("labels".into(), Value::Object(own));
    }
    let mut bytes = serde_json::to_vec_pretty(&model).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// `["k=v", "flag"]` as `{k: v, flag: ""}`, the list form of `labels`.
fn from_list(items: &[Value]) -> Map<String, Value> {
    items
        .iter()
        .filter_map(Value::as_str)
        .map(|item| {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            (key.to_string(), Value::String(value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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

    fn model() -> Value {
        json!({
            "name": "web",
            "version": "2.4",
            "services": {
                "web": {"image": "busybox:1.36", "labels": {"own": "x$$y", "io.docker-cd.instance": "spoofed"}},
                "db": {"image": "postgres", "labels": ["tier=data", "bare"]},
                "job": {"image": "busybox", "environment": {"A": "$$B"}},
            },
            "configs": {"app": {"file": "/data/stacks/web/app.conf"}},
        })
    }

    #[test]
    fn every_service_gets_every_label_and_dollars_are_escaped() {
        let doc: Value = serde_json::from_slice(&labelled(&model(), &sync())).expect("json");
        for service in ["web", "db", "job"] {
            let labels = &doc["services"][service]["labels"];
            assert_eq!(labels["io.docker-cd.managed"], "true");
            assert_eq!(labels["io.docker-cd.instance"], "docker-cd");
            assert_eq!(labels["io.docker-cd.stack"], "apps/we$$b");
            assert_eq!(labels["io.docker-cd.stack-hash"], "s");
        }
        assert_eq!(
            doc["services"]["job"]["labels"].as_object().map(Map::len),
            Some(7)
        );
    }

    #[test]
    fn the_model_is_kept_as_it_was_admitted_besides_the_labels() {
        let doc: Value = serde_json::from_slice(&labelled(&model(), &sync())).expect("json");
        let web = &doc["services"]["web"];
        assert_eq!(web["labels"]["own"], "x$$y");
        assert_eq!(doc["services"]["db"]["labels"]["tier"], "data");
        assert_eq!(doc["services"]["db"]["labels"]["bare"], "");
        assert_eq!(doc["services"]["job"]["environment"]["A"], "$$B");
        let mut without = doc.clone();
        for service in ["web", "db", "job"] {
            without["services"][service]
                .as_object_mut()
                .expect("service")
                .remove("labels");
        }
        let mut expected = model();
        for service in ["web", "db"] {
            expected["services"][service]
                .as_object_mut()
                .expect("service")
                .remove("labels");
        }
        assert_eq!(without, expected);
    }

    #[test]
    fn the_file_is_valid_compose_yaml() {
        let bytes = labelled(&model(), &sync());
        let parsed = crate::compose::file::parse(&bytes).expect("compose can read it");
        let mut services = parsed.services;
        services.sort();
        assert_eq!(services, vec!["db", "job", "web"]);
    }
}
