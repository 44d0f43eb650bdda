//! The plan diff never panics and never shows the value of a secret-looking
//! environment variable.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use docker_cd::plan::diff::{Actual, diff};
use docker_cd::plan::spec::desired_services;
use docker_cd::redact::is_secret;
use libfuzzer_sys::fuzz_target;

fn services(text: &[u8]) -> BTreeMap<String, docker_cd::plan::spec::ServiceSpec> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| serde_saphyr::from_str::<serde_json::Value>(t).ok())
        .map(|v| desired_services(&v, "fuzz", &BTreeMap::new()))
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    // <desired compose>\0<running compose>
    let mut halves = data.splitn(2, |b| *b == 0);
    let desired = services(halves.next().unwrap_or_default());
    let running = services(halves.next().unwrap_or_default());
    let required: BTreeSet<String> = desired.keys().cloned().collect();
    let actual: BTreeMap<String, Actual> = running
        .into_iter()
        .map(|(name, spec)| {
            (
                name,
                Actual {
                    spec,
                    stack_hash: Some("h".into()),
                },
            )
        })
        .collect();
    let changes = diff(&desired, &required, "h", &actual);
    for change in &changes {
        for field in &change.fields {
            if field.field.starts_with("environment.")
                && is_secret(&field.field["environment.".len()..])
            {
                for side in [&field.old, &field.new] {
                    assert!(
                        side.is_null() || side == "(redacted)",
                        "secret shown in {field:?}"
                    );
                }
            }
        }
    }
});
