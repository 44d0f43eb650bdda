//! The `io.docker-cd.*` labels written on every container of a deployed stack,
//! and the compose labels docker-cd reads.

/// Every docker-cd label starts with this.
pub const PREFIX: &str = "io.docker-cd.";

/// `true` on every container docker-cd deployed.
pub const MANAGED: &str = "io.docker-cd.managed";
/// `INSTANCE_NAME`: an instance never touches containers of another instance.
pub const INSTANCE: &str = "io.docker-cd.instance";
/// The stack path.
pub const STACK: &str = "io.docker-cd.stack";
/// Full commit id the stack was last applied from.
pub const REVISION: &str = "io.docker-cd.revision";
/// `compose_hash` at that apply.
pub const COMPOSE_HASH: &str = "io.docker-cd.compose-hash";
/// `stack_hash` at that apply.
pub const STACK_HASH: &str = "io.docker-cd.stack-hash";
/// RFC 3339 time of that apply.
pub const SYNCED_AT: &str = "io.docker-cd.synced-at";
/// Set by the user on a service (`"true"`): a one-shot job whose `exited (0)` is
/// done, not drift.
pub const ONESHOT: &str = "io.docker-cd.oneshot";

/// Compose's project label: the stack name.
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// Compose's service label.
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
/// Compose's one-off label (`docker compose run` containers are not part of a stack's services).
pub const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";
