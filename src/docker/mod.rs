//! Actual state from Docker: the API client, the connection handle and the runtime cache.

pub mod client;
pub mod connection;
pub mod host;
pub mod state;

pub use connection::DockerHandle;
pub use host::{DockerArgs, InstanceName};
