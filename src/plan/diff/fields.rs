//! Which fields of one service differ, as a reviewer reads them: secret-looking
//! values redacted, fields the compose file leaves to the image not compared.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::FieldChange;
use crate::plan::spec::ServiceSpec;
use crate::redact::{REDACTED, is_secret};

/// What a new service takes from the host, for a reviewer of a `+`: its image,
/// published ports, bind mounts and host powers.
pub(super) fn exposure(spec: &ServiceSpec) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if let Some(image) = &spec.image {
        out.push(field("image", Value::Null, image.clone()));
    }
    if !spec.ports.is_empty() {
        out.push(field("ports", Value::Null, spec.ports.clone()));
    }
    let binds: Vec<&String> = spec
        .volumes
        .iter()
        .filter(|v| v.starts_with("bind "))
        .collect();
    if !binds.is_empty() {
        out.push(field("volumes", Value::Null, json!(binds)));
    }
    for power in &spec.privileges {
        let (name, value) = power.split_once(": ").unwrap_or((power.as_str(), "true"));
        out.push(field(name, Value::Null, value));
    }
    out
}

pub(super) fn field(name: &str, old: impl Into<Value>, new: impl Into<Value>) -> FieldChange {
    FieldChange {
        field: name.into(),
        old: old.into(),
        new: new.into(),
    }
}

/// One `<section>.<key>` change per differing key; secret-looking values redacted.
fn key_value_changes(
    out: &mut Vec<FieldChange>,
    section: &str,
    want: &BTreeMap<String, String>,
    have: &BTreeMap<String, String>,
) {
    let keys: BTreeSet<&String> = want.keys().chain(have.keys()).collect();
    for key in keys {
        let (old, new) = (have.get(key), want.get(key));
        if old != new {
            let shown = |v: Option<&String>| match v {
                None => Value::Null,
                Some(_) if is_secret(key) => json!(REDACTED),
                Some(v) => json!(v),
            };
            out.push(field(&format!("{section}.{key}"), shown(old), shown(new)));
        }
    }
}

/// Field by field; `None` on the desired side means "the image decides".
pub(super) fn compare(want: &ServiceSpec, have: &ServiceSpec) -> Vec<FieldChange> {
    let mut out = Vec::new();
    unless_left_to_image(&mut out, "image", &want.image, &have.image);
    unless_left_to_image(&mut out, "command", &want.command, &have.command);
    unless_left_to_image(&mut out, "entrypoint", &want.entrypoint, &have.entrypoint);
    key_value_changes(
        &mut out,
        "environment",
        &want.environment,
        &have.environment,
    );
    differs(&mut out, "ports", &want.ports, &have.ports);
    differs(&mut out, "volumes", &want.volumes, &have.volumes);
    differs(&mut out, "networks", &want.networks, &have.networks);
    key_value_changes(&mut out, "labels", &want.labels, &have.labels);
    differs(&mut out, "restart", &want.restart, &have.restart);
    unless_left_to_image(
        &mut out,
        "healthcheck",
        &want.healthcheck,
        &have.healthcheck,
    );
    differs(&mut out, "state", &want.state, &have.state);
    out
}

/// A `name` change when the desired value differs from the running one.
fn differs<T>(out: &mut Vec<FieldChange>, name: &str, want: &T, have: &T)
where
    T: PartialEq + Clone + Into<Value>,
{
    if want != have {
        out.push(field(name, have.clone(), want.clone()));
    }
}

/// Like [`differs`] when the service sets the field; `None` leaves it to the image.
fn unless_left_to_image<T>(
    out: &mut Vec<FieldChange>,
    name: &str,
    want: &Option<T>,
    have: &Option<T>,
) where
    T: PartialEq + Clone + Into<Value>,
{
    if want.is_some() {
        differs(out, name, want, have);
    }
}
