//! What a container has only because its image sets it.

use std::collections::{BTreeMap, BTreeSet};

use bollard::models::ImageConfig;

use super::ServiceSpec;
use super::normal::split_pair;

/// What a container inherits from its image unless the service sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    /// `ENV`.
    pub env: BTreeMap<String, String>,
    /// `LABEL`s.
    pub labels: BTreeMap<String, String>,
    /// `VOLUME` targets: each gets an anonymous volume.
    pub volumes: BTreeSet<String>,
}

impl ImageDefaults {
    /// Reads an image's config (from image inspect).
    pub fn from_config(config: Option<&ImageConfig>) -> Self {
        let Some(config) = config else {
            return Self::default();
        };
        Self {
            env: config
                .env
                .iter()
                .flatten()
                .map(|pair| split_pair(pair))
                .collect(),
            labels: config
                .labels
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            volumes: config.volumes.iter().flatten().cloned().collect(),
        }
    }
}

/// Removes from `actual` what its container has only because the image sets it:
/// variables and labels equal to the image's, and the anonymous volumes of the
/// image's `VOLUME`s, each unless the service sets the same itself.
pub fn without_inherited(
    actual: &mut ServiceSpec,
    desired: Option<&ServiceSpec>,
    image: &ImageDefaults,
) {
    let set_by_service = |map: fn(&ServiceSpec) -> &BTreeMap<String, String>, key: &str| {
        desired.is_some_and(|d| map(d).contains_key(key))
    };
    actual
        .environment
        .retain(|k, v| set_by_service(|d| &d.environment, k) || image.env.get(k) != Some(v));
    actual
        .labels
        .retain(|k, v| set_by_service(|d| &d.labels, k) || image.labels.get(k) != Some(v));
    actual.volumes.retain(|mount| {
        desired.is_some_and(|d| d.volumes.contains(mount))
            || !image
                .volumes
                .iter()
                .any(|target| *mount == format!("volume :{target}:rw"))
    });
}
