//! The Git source: a bare mirror of the repository and the trees read from it.
//!
//! A pure source: it knows repositories, refs, trees, commits and credentials, and nothing
//! of stacks, snapshots or the controller above it.

pub mod commits;
pub mod credentials;
pub mod forge;
pub mod reference;
pub mod repo_url;
pub mod repository;
pub mod tree;

pub use reference::{DeployDir, GitRef};
pub use repo_url::{RepoUrl, Transport};
