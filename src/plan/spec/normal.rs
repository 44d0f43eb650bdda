//! The forms both sides are written in, so a diff is plain equality.

use std::collections::BTreeMap;

use crate::labels;

/// `nginx`, `library/nginx:latest` and `docker.io/library/nginx:latest` are one
/// image: the form Docker records on a container depends on the compose version.
pub(super) fn normal_image(reference: &str) -> String {
    let short = reference
        .strip_prefix("docker.io/")
        .or_else(|| reference.strip_prefix("index.docker.io/"))
        .unwrap_or(reference);
    let short = short.strip_prefix("library/").unwrap_or(short);
    let last = short.rsplit('/').next().unwrap_or(short);
    if last.contains(':') || last.contains('@') {
        short.to_string()
    } else {
        format!("{short}:latest")
    }
}

/// Labels a user set: compose's own and docker-cd's (including the
/// `io.docker-cd.oneshot` a user writes) are compared elsewhere or not at all.
pub(super) fn user_labels(labels: BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .into_iter()
        .filter(|(k, _)| !k.starts_with("com.docker.compose.") && !k.starts_with(labels::PREFIX))
        .collect()
}

/// A network's name as a plan shows it: without the project prefix compose adds.
pub(super) fn short_network(project: &str, name: &str) -> String {
    name.strip_prefix(project)
        .and_then(|rest| rest.strip_prefix('_'))
        .unwrap_or(name)
        .to_string()
}

/// `service:db` (compose) and `container:<id>` (Docker) are one mode.
pub(super) fn network_mode(mode: &str) -> String {
    if mode.starts_with("service:") || mode.starts_with("container:") {
        "mode:container".into()
    } else {
        format!("mode:{mode}")
    }
}

/// `KEY=VALUE` as a pair; a bare `KEY` has an empty value.
pub(super) fn split_pair(pair: &str) -> (String, String) {
    match pair.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (pair.to_string(), String::new()),
    }
}
