//! The diff against services added, changed, removed and left to the image.

use super::fields::{compare, field};
use super::*;
use crate::redact::REDACTED;

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
