//! Desired state from Git.

pub mod refresh;
pub mod snapshot;
pub mod tree;
