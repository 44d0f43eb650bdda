//! Everything about compose: reading compose files, the generated override, and
//! running the compose command.

pub mod command;
pub mod file;
pub mod overlay;
pub mod prefetch;
pub mod runner;
pub mod workdir;
pub mod workspace;
