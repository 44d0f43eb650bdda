//! One service's comparable settings, read from either side: the compose file
//! as `compose config` resolves it, or a container's inspect data.
//!
//! Both sides are normalised to the same text forms (`127.0.0.1:8080:80/tcp`,
//! `bind /src:/dst:ro`, `volume name:/dst:rw`) so a diff is plain equality.
//! A field the compose file leaves out (`command`, `entrypoint`, …) is `None`:
//! the image decides it, and it is not compared.

mod actual;
mod compose_value;
mod desired;
mod env_file;
mod image;
mod normal;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use actual::actual_service;
pub use desired::desired_services;
pub use env_file::parse_env_file;
pub use image::{ImageDefaults, without_inherited};

/// The settings of one service that a plan compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Image reference as written (`nginx:1.27`).
    pub image: Option<String>,
    /// Command, when set.
    pub command: Option<Vec<String>>,
    /// Entrypoint, when set.
    pub entrypoint: Option<Vec<String>>,
    /// Environment (for a container: without what its image sets alike).
    pub environment: BTreeMap<String, String>,
    /// Published ports, `host_ip:published:target/protocol`, sorted.
    pub ports: Vec<String>,
    /// Mounts, `bind source:target:ro|rw` or `volume name:target:ro|rw`, sorted.
    pub volumes: Vec<String>,
    /// `mode:<network_mode>`, or the networks' short names, sorted.
    pub networks: Vec<String>,
    /// User labels (compose's and docker-cd's own are left out).
    pub labels: BTreeMap<String, String>,
    /// Restart policy (`no` when unset).
    pub restart: String,
    /// Healthcheck test, when set.
    pub healthcheck: Option<Vec<String>>,
    /// `running`, `exited`, …; `running` on the desired side.
    pub state: String,
    /// Host powers it asks for (`privileged: true`, `pid: host`, …); desired
    /// side only, shown by a `+` plan, never compared.
    pub privileges: Vec<String>,
}
