//! The Helm chart's structure, checked without helm (not packaged for this
//! machine): every `.Values` reference in a template exists in values.yaml,
//! and values.schema.json describes exactly the keys values.yaml has.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts/docker-cd")
}

fn values() -> Value {
    let text = std::fs::read_to_string(chart().join("values.yaml")).expect("values.yaml");
    serde_saphyr::from_str(&text).expect("values.yaml is YAML")
}

/// Every `.Values.a.b.c` path in the templates.
fn referenced_paths() -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for entry in std::fs::read_dir(chart().join("templates")).expect("templates") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("template");
        for (i, _) in text.match_indices(".Values.") {
            let rest = &text[i + ".Values.".len()..];
            let reference: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                .collect();
            paths.insert(reference.trim_end_matches('.').to_string());
        }
    }
    paths
}

#[test]
fn every_values_reference_in_the_templates_exists_in_values_yaml() {
    let values = values();
    let paths = referenced_paths();
    assert!(paths.len() > 20, "{paths:?}");
    for path in &paths {
        let mut node = &values;
        for part in path.split('.') {
            node = node.get(part).unwrap_or_else(|| {
                panic!(".Values.{path} is used in a template but not in values.yaml")
            });
        }
    }
}

/// Walks values.yaml and the schema side by side: same keys at every object level.
fn same_keys(values: &Value, schema: &Value, at: &str) {
    let Some(map) = values.as_object() else {
        return;
    };
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return; // a free-form object (resources, labels)
    };
    let in_values: BTreeSet<&String> = map.keys().collect();
    let in_schema: BTreeSet<&String> = props.keys().collect();
    assert_eq!(in_values, in_schema, "keys under {at}");
    for (key, value) in map {
        same_keys(value, &props[key], &format!("{at}.{key}"));
    }
}

#[test]
fn the_schema_describes_values_yaml_exactly() {
    let text = std::fs::read_to_string(chart().join("values.schema.json")).expect("schema");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    same_keys(&values(), &schema, "values");
    assert_eq!(
        schema["properties"]["reconcile"]["properties"]["driftPolicy"]["enum"],
        serde_json::json!(["revert", "flag"])
    );
}

#[test]
fn chart_yaml_is_a_v2_application_chart() {
    let text = std::fs::read_to_string(chart().join("Chart.yaml")).expect("Chart.yaml");
    let chart: Value = serde_saphyr::from_str(&text).expect("Chart.yaml is YAML");
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "docker-cd");
    assert_eq!(chart["type"], "application");
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "appVersion follows the crate"
    );
}
