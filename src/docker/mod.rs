//! Actual state from Docker.

pub mod client;
pub mod informer;
pub mod state;
