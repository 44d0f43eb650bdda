//! Desired state from Git.

pub mod refresh;
pub mod repository;
pub mod snapshot;
pub mod tree;
