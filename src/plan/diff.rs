//! The per-service difference between desired and actual specs: a pure function.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use super::spec::ServiceSpec;

use crate::named::named_enum;
use crate::redact::{REDACTED, is_secret};

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

/// What a new service takes from the host, for a reviewer of a `+`: its image,
/// published ports, bind mounts and host powers.
fn exposure(spec: &ServiceSpec) -> Vec<FieldChange> {
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

/// How many of `changes` are `action`s.
pub fn count(changes: &[Change], action: Effect) -> usize {
    changes.iter().filter(|c| c.action == action).count()
}

fn short(hash: &str) -> String {
    hash.chars().take(12).collect()
}

fn field(name: &str, old: impl Into<Value>, new: impl Into<Value>) -> FieldChange {
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
fn compare(want: &ServiceSpec, have: &ServiceSpec) -> Vec<FieldChange> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(image: &str) -> ServiceSpec {
        ServiceSpec {
            image: Some(image.into()),
            networks: vec!["default".into()],
            restart: "no".into(),
            state: "running".into(),
            ..ServiceSpec::default()
        }
    }

    fn running(spec: ServiceSpec, hash: &str) -> Actual {
        Actual {
            spec,
            stack_hash: Some(hash.into()),
        }
    }

    fn required(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn first_deploy_is_all_additions() {
        let desired = BTreeMap::from([
            ("web".into(), spec("nginx:1.27")),
            ("db".into(), spec("pg:16")),
        ]);
        let changes = diff(&desired, &required(&["web", "db"]), "h1", &BTreeMap::new());
        let actions: Vec<_> = changes
            .iter()
            .map(|c| (c.action, c.service.as_str(), c.source))
            .collect();
        assert_eq!(
            actions,
            [
                (Effect::Add, "db", Source::Git),
                (Effect::Add, "web", Source::Git)
            ]
        );
    }

    #[test]
    fn an_addition_lists_what_it_takes_from_the_host() {
        let agent = ServiceSpec {
            ports: vec![":8080:80/tcp".into()],
            volumes: vec![
                "bind /var/run/docker.sock:/var/run/docker.sock:rw".into(),
                "volume data:/data:rw".into(),
            ],
            privileges: vec!["privileged: true".into(), "pid: host".into()],
            ..spec("ghcr.io/acme/agent:1")
        };
        let desired = BTreeMap::from([("agent".into(), agent)]);
        let changes = diff(&desired, &required(&["agent"]), "h1", &BTreeMap::new());
        let fields: Vec<(&str, &Value)> = changes[0]
            .fields
            .iter()
            .map(|f| (f.field.as_str(), &f.new))
            .collect();
        assert_eq!(
            fields,
            [
                ("image", &json!("ghcr.io/acme/agent:1")),
                ("ports", &json!([":8080:80/tcp"])),
                (
                    "volumes",
                    &json!(["bind /var/run/docker.sock:/var/run/docker.sock:rw"])
                ),
                ("privileged", &json!("true")),
                ("pid", &json!("host")),
            ]
        );
    }

    #[test]
    fn an_up_to_date_stack_has_an_empty_plan() {
        let desired = BTreeMap::from([("web".into(), spec("nginx:1.27"))]);
        let actual = BTreeMap::from([("web".into(), running(spec("nginx:1.27"), "h1"))]);
        assert!(diff(&desired, &required(&["web"]), "h1", &actual).is_empty());
    }

    #[test]
    fn image_change_added_and_removed_services() {
        let desired = BTreeMap::from([
            ("web".into(), spec("nginx:1.27")),
            ("cache".into(), spec("redis:7")),
        ]);
        let actual = BTreeMap::from([
            ("web".into(), running(spec("nginx:1.26"), "h1")),
            ("old".into(), running(spec("x"), "h1")),
        ]);
        let changes = diff(&desired, &required(&["web", "cache"]), "h2", &actual);
        assert_eq!(changes.len(), 3);
        assert_eq!(
            (changes[0].action, changes[0].service.as_str()),
            (Effect::Add, "cache")
        );
        assert_eq!(
            (
                changes[1].action,
                changes[1].service.as_str(),
                changes[1].source
            ),
            (Effect::Change, "web", Source::Git)
        );
        assert_eq!(
            changes[1].fields,
            [field("image", "nginx:1.26", "nginx:1.27")]
        );
        assert_eq!(
            (changes[2].action, changes[2].service.as_str()),
            (Effect::Remove, "old")
        );
    }

    #[test]
    fn actions_and_sources_keep_their_json_names() {
        let desired = BTreeMap::from([("web".into(), spec("nginx:1.27"))]);
        let actual = BTreeMap::from([
            ("web".into(), running(spec("nginx:1.26"), "h1")),
            ("old".into(), running(spec("x"), "h1")),
        ]);
        let changes = diff(&desired, &required(&[]), "h1", &actual);
        let json = serde_json::to_value(&changes).unwrap();
        let shown: Vec<(&str, &str)> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["action"].as_str().unwrap(), c["source"].as_str().unwrap()))
            .collect();
        assert_eq!(shown, [("~", "runtime"), ("-", "git")]);
        assert_eq!(
            (
                count(&changes, Effect::Change),
                count(&changes, Effect::Add)
            ),
            (1, 0)
        );
    }

    #[test]
    fn drift_is_a_runtime_change() {
        let desired = BTreeMap::from([("web".into(), spec("nginx:1.27"))]);
        let mut stopped = spec("nginx:1.27");
        stopped.state = "exited".into();
        let actual = BTreeMap::from([("web".into(), running(stopped, "h1"))]);
        let changes = diff(&desired, &required(&["web"]), "h1", &actual);
        assert_eq!(changes[0].source, Source::Runtime);
        assert_eq!(changes[0].fields, [field("state", "exited", "running")]);
    }

    #[test]
    fn only_files_changed_is_still_a_change() {
        let desired = BTreeMap::from([("web".into(), spec("nginx"))]);
        let actual = BTreeMap::from([("web".into(), running(spec("nginx"), "aaaaaaaaaaaaaaaa"))]);
        let changes = diff(&desired, &required(&["web"]), "bbbbbbbbbbbbbbbb", &actual);
        assert_eq!(
            changes[0].fields,
            [field("files", "aaaaaaaaaaaa", "bbbbbbbbbbbb")]
        );
    }

    #[test]
    fn secret_looking_values_are_redacted() {
        let mut want = spec("app");
        want.environment = BTreeMap::from([
            ("DB_PASSWORD".into(), "new-pass".into()),
            ("api_key".into(), "k2".into()),
            ("MODE".into(), "prod".into()),
        ]);
        let mut have = spec("app");
        have.environment = BTreeMap::from([
            ("DB_PASSWORD".into(), "old-pass".into()),
            ("MODE".into(), "dev".into()),
        ]);
        let desired = BTreeMap::from([("app".into(), want)]);
        let actual = BTreeMap::from([("app".into(), running(have, "h"))]);
        let changes = diff(&desired, &required(&["app"]), "h", &actual);
        let text = serde_json::to_string(&changes).unwrap();
        assert!(!text.contains("pass") && !text.contains("k2"), "{text}");
        assert_eq!(
            changes[0].fields,
            [
                field("environment.DB_PASSWORD", REDACTED, REDACTED),
                field("environment.MODE", "dev", "prod"),
                field("environment.api_key", Value::Null, REDACTED),
            ]
        );
    }

    #[test]
    fn what_the_compose_file_leaves_out_is_not_compared() {
        let want = spec("app");
        let mut have = spec("app");
        have.command = Some(vec!["run".into()]);
        have.healthcheck = Some(vec!["CMD".into(), "true".into()]);
        assert!(compare(&want, &have).is_empty());
        let mut want = want;
        want.healthcheck = Some(vec!["NONE".into()]);
        assert_eq!(
            compare(&want, &have),
            [field(
                "healthcheck",
                json!(["CMD", "true"]),
                json!(["NONE"])
            )]
        );
    }

    #[test]
    fn optional_services_are_not_added() {
        let desired = BTreeMap::from([("debug".into(), spec("busybox"))]);
        assert!(diff(&desired, &required(&[]), "h", &BTreeMap::new()).is_empty());
    }
}
