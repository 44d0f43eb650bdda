//! Reading the values of a `compose config` document: compose prints a field as
//! a string, a number, a list or a map depending on how it was written.

use std::collections::BTreeMap;

use serde_json::Value;

/// Compose writes `$$` for a literal `$` in its `config` output.
fn unescape(text: &str) -> String {
    text.replace("$$", "$")
}

/// A scalar as text (`$$` unescaped); `None` for `null`.
pub(super) fn string_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(unescape(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A command-like field: a list, or a string compose splits with a shell's
/// quoting rules (`sh -c "trap 'exit 0' TERM; …"` is three words). A string
/// the shell rules reject is kept whole, as compose would refuse it anyway.
pub(super) fn words(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::Array(items) => Some(items.iter().filter_map(string_of).collect()),
        Value::String(s) => {
            let text = unescape(s);
            Some(shlex::split(&text).unwrap_or_else(|| vec![text]))
        }
        _ => None,
    }
}

/// A healthcheck `test`: a string is run by the shell (`CMD-SHELL`), as compose does.
pub(super) fn health_test(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(vec!["CMD-SHELL".into(), unescape(s)]),
        other => words(Some(other)),
    }
}

/// `environment` or `labels`: a map, or a list of `KEY=VALUE`.
pub(super) fn key_values(value: Option<&Value>) -> BTreeMap<String, String> {
    match value {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), string_of(v).unwrap_or_default()))
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(string_of)
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (item, String::new()),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}
