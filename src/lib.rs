//! docker-cd: GitOps continuous deployment for Docker Compose.
//!
//! Informers (Git, Docker) emit stack keys into a deduplicating, rate-limited work
//! queue; one worker (by default) runs a level-triggered reconcile per stack that
//! makes the Docker host match the Git snapshot.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod compose;
pub mod config;
pub mod docker;
pub mod events;
pub mod git;
pub mod healthcheck;
pub mod informer;
pub mod labels;
pub mod metrics;
pub mod named;
pub mod plan;
pub mod readiness;
pub mod reconcile;
pub mod redact;
pub mod runtime;
pub mod secret;
pub mod setting;
pub mod shutdown;
pub mod stack;
pub mod status;
pub mod telemetry;
pub mod tls;
pub mod webhook;
