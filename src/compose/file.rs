//! Reading a compose file: enough to know its services and to reject a broken file early.
//!
//! The parser only reads. Compose itself always gets the user's original bytes:
//! re-serialising YAML changes scalars (`yes`, `0755`, …) in every crate.

use std::time::Duration;

use serde_json::Value;

use crate::labels;
use crate::setting::parse_duration;

/// The facts docker-cd needs from a compose file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeFile {
    /// Service names, sorted.
    pub services: Vec<String>,
    /// Services `compose up` starts: not behind a profile, not scaled to zero.
    /// Only these must run for the stack to be `synced`.
    pub expected: Vec<String>,
    /// One-shot jobs, sorted: their `exited (0)` is done, not drift. A service is
    /// one when another depends on it with `condition:
    /// service_completed_successfully`, or when it is labelled
    /// `io.docker-cd.oneshot: "true"`.
    pub oneshot: Vec<String>,
    /// The top-level `version`, which compose v1 wants repeated in an override file.
    pub version: Option<String>,
    /// `io.docker-cd.health-timeout` of its services (the longest, when several set it).
    pub health_timeout: Option<Duration>,
    /// `io.docker-cd.rollback` of its services (`true` when any says so).
    pub rollback: Option<bool>,
}

impl ComposeFile {
    /// Adds the services of an included file.
    pub fn absorb(&mut self, other: ComposeFile) {
        self.health_timeout = self.health_timeout.max(other.health_timeout);
        self.rollback = self.rollback.max(other.rollback);
        for (mine, theirs) in [
            (&mut self.services, other.services),
            (&mut self.expected, other.expected),
            (&mut self.oneshot, other.oneshot),
        ] {
            mine.extend(theirs);
            mine.sort();
            mine.dedup();
        }
    }
}

/// Parses compose YAML and checks its shape.
///
/// # Errors
/// A message fit for the stack's error: YAML syntax (with line and column), a
/// missing or malformed `services` section, or an invalid service name.
pub fn parse(bytes: &[u8]) -> Result<ComposeFile, String> {
    summarize(&parse_document(bytes)?)
}

/// Parses compose YAML into a document, without checking its shape.
///
/// # Errors
/// A message fit for the stack's error: not UTF-8 or YAML syntax (with line and column).
pub fn parse_document(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("compose file is not UTF-8: {e}"))?;
    let options = serde_saphyr::options! {
        // YAML 1.2 like compose v2: `yes` and `0755` stay strings.
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| format!("invalid YAML: {e}"))
}

/// The services of a parsed compose document, after checking its shape.
///
/// # Errors
/// A missing or malformed `services` section, or an invalid service name.
pub fn summarize(doc: &Value) -> Result<ComposeFile, String> {
    let top = match doc {
        Value::Object(map) => map,
        Value::Null => return Err("compose file is empty".into()),
        _ => return Err("compose file must be a mapping at the top level".into()),
    };
    let version = match top.get("version") {
        Some(Value::String(v)) => Some(v.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let services = match top.get("services") {
        Some(Value::Object(services)) => services,
        Some(Value::Null) => {
            return Ok(ComposeFile {
                services: Vec::new(),
                expected: Vec::new(),
                oneshot: Vec::new(),
                version,
                health_timeout: None,
                rollback: None,
            });
        }
        Some(_) => return Err("'services' must be a mapping of service names".into()),
        None => return Err("compose file has no 'services' section".into()),
    };
    let mut names = Vec::with_capacity(services.len());
    let mut expected = Vec::with_capacity(services.len());
    let mut oneshot = std::collections::BTreeSet::new();
    let mut health_timeout: Option<Duration> = None;
    let mut rollback: Option<bool> = None;
    for (name, definition) in services {
        if !valid_service_name(name) {
            return Err(format!(
                "invalid service name '{name}': use letters, digits, '.', '_' and '-'"
            ));
        }
        if !definition.is_object() {
            return Err(format!("service '{name}' must be a mapping"));
        }
        if started_by_up(definition) {
            expected.push(name.clone());
        }
        if label(definition, labels::ONESHOT).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            oneshot.insert(name.clone());
        }
        if let Some(text) = label(definition, labels::HEALTH_TIMEOUT) {
            let timeout = parse_duration(&text).map_err(|why| {
                format!("service '{name}': label {}: {why}", labels::HEALTH_TIMEOUT)
            })?;
            health_timeout = health_timeout.max(Some(timeout));
        }
        if let Some(text) = label(definition, labels::ROLLBACK) {
            let on = match text.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(format!(
                        "service '{name}': label {}: expected true or false, got '{text}'",
                        labels::ROLLBACK
                    ));
                }
            };
            rollback = rollback.max(Some(on));
        }
        oneshot.extend(awaited_to_complete(definition));
        names.push(name.clone());
    }
    Ok(ComposeFile {
        services: names,
        expected,
        oneshot: oneshot.into_iter().collect(),
        version,
        health_timeout,
        rollback,
    })
}

/// The value of the label `key` of a service (map or `key=value` list form).
fn label(definition: &Value, key: &str) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        _ => None,
    };
    match definition.get("labels") {
        Some(Value::Object(map)) => map.get(key).and_then(text),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).find_map(|item| {
            let (k, v) = item.split_once('=')?;
            (k.trim() == key).then(|| v.to_string())
        }),
        _ => None,
    }
}

/// Services this one waits for with `condition: service_completed_successfully`:
/// compose runs them to completion first, so they are jobs.
fn awaited_to_complete(definition: &Value) -> Vec<String> {
    match definition.get("depends_on") {
        Some(Value::Object(map)) => map
            .iter()
            .filter(|(_, dep)| {
                dep.get("condition").and_then(Value::as_str)
                    == Some("service_completed_successfully")
            })
            .map(|(name, _)| name.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether plain `compose up` starts containers for this service: services behind
/// a profile are only started on request, and `scale: 0` / `deploy.replicas: 0`
/// start none. Without this, such services would look missing forever and every
/// reconcile would redeploy the stack.
fn started_by_up(definition: &Value) -> bool {
    let has_profiles = definition
        .get("profiles")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let zero = |v: Option<&Value>| v.and_then(Value::as_u64) == Some(0);
    let scaled_to_zero = zero(definition.get("scale"))
        || zero(definition.get("deploy").and_then(|d| d.get("replicas")));
    !has_profiles && !scaled_to_zero
}

/// The compose specification's service name pattern `[a-zA-Z0-9._-]+`.
fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn lists_services_sorted_by_name() {
        let yaml = b"services:\n  web:\n    image: nginx\n  cache:\n    image: redis\n";
        assert_eq!(
            parse(yaml).map(|f| f.services),
            Ok(vec!["cache".into(), "web".into()])
        );
    }

    #[test]
    fn services_behind_profiles_or_scaled_to_zero_are_not_expected() {
        let yaml = b"version: '2.4'\nservices:\n  web:\n    image: x\n  debug:\n    image: x\n    profiles: [debug]\n  off:\n    image: x\n    deploy:\n      replicas: 0\n  none:\n    image: x\n    scale: 0\n";
        let file = parse(yaml).expect("valid");
        assert_eq!(file.expected, vec!["web".to_string()]);
        assert_eq!(file.services.len(), 4);
        assert_eq!(file.version.as_deref(), Some("2.4"));
    }

    #[test]
    fn one_shot_jobs_are_services_awaited_to_complete_or_labelled() {
        let yaml = b"services:
  app:
    image: x
    depends_on:
      migrate:
        condition: service_completed_successfully
      db:
        condition: service_healthy
  migrate:
    image: x
  db:
    image: x
  seed:
    image: x
    labels:
      io.docker-cd.oneshot: 'true'
  backup:
    image: x
    labels: [\"io.docker-cd.oneshot=TRUE\", \"team=ops\"]
  web:
    image: x
    depends_on: [db]
    labels:
      io.docker-cd.oneshot: 'false'
";
        let file = parse(yaml).expect("valid");
        assert_eq!(file.oneshot, ["backup", "migrate", "seed"]);
    }

    #[test]
    fn merge_keys_and_extension_fields_are_understood() {
        let yaml = b"x-common: &common\n  restart: always\nservices:\n  a:\n    <<: *common\n    image: busybox\n";
        assert_eq!(parse(yaml).map(|f| f.services), Ok(vec!["a".into()]));
    }

    #[rstest]
    #[case(b"services:\n  web:\n    image: [unclosed\n" as &[u8], "invalid YAML")]
    #[case(b"", "empty")]
    #[case(b"- a\n- b\n", "mapping at the top level")]
    #[case(b"version: '3'\n", "no 'services' section")]
    #[case(b"services: [a, b]\n", "'services' must be a mapping")]
    #[case(b"services:\n  web: nginx\n", "service 'web' must be a mapping")]
    #[case(b"services:\n  'bad name':\n    image: x\n", "invalid service name")]
    #[case(b"services:\n  a:\n    image: x\n  a:\n    image: y\n", "invalid YAML")]
    #[case(b"\xff\xfe", "not UTF-8")]
    fn broken_files_get_a_clear_reason(#[case] yaml: &[u8], #[case] reason: &str) {
        let err = parse(yaml).expect_err("must fail");
        assert!(err.contains(reason), "got {err:?}");
    }
}
