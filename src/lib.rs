//! docker-cd: GitOps continuous deployment for Docker Compose.
//!
//! Informers (Git, Docker) emit stack keys into a deduplicating, rate-limited work
//! queue; one worker (by default) runs a level-triggered reconcile per stack that
//! makes the Docker host match the Git snapshot.
//!
//! The README's "Layout" names the file of each box.
//!
//! | box of the picture | where |
//! |---|---|
//! | settings | each component's `*Args`, gathered by [`config::Config`] |
//! | Git informer | `informer::git` over the pure source `git`; desired state in `stack` |
//! | Docker informer | `informer::docker` over `docker` (client, connection, runtime cache) |
//! | queue, workers, resync | the `controller` crate |
//! | reconcile | `reconcile` (pure `assess` and `decide`, effects behind `executor`), `compose`, `labels`, `status`, `history` |
//! | commands | `commands`: sync, ack, plan, apply (changes through the work queue); `plan` |
//! | API | `api`, `webhook`, `events`, `metrics`, `readiness` |
//! | notifications | `notify`, reading the `transitions` feed |
//! | client commands | [`cli`]: `docker-cd status\|plan\|…` over the API |
//! | wiring | `app` starts each of them into one `runtime::Runtime` |
#![forbid(unsafe_code)]

pub(crate) mod admission;
pub(crate) mod api;
pub mod app;
pub mod cli;
pub(crate) mod commands;
pub(crate) mod commit_status;
pub mod compose;
pub mod config;
pub(crate) mod docker;
pub(crate) mod events;
pub mod git;
pub mod healthcheck;
pub(crate) mod history;
pub(crate) mod informer;
pub(crate) mod known;
pub(crate) mod labels;
pub(crate) mod metrics;
pub(crate) mod named;
pub(crate) mod notify;
pub mod plan;
pub(crate) mod readiness;
pub(crate) mod reconcile;
pub mod redact;
pub(crate) mod runtime;
pub mod secret;
pub(crate) mod setting;
pub mod shutdown;
pub mod stack;
pub(crate) mod status;
pub mod telemetry;
pub(crate) mod text;
pub(crate) mod tls;
pub(crate) mod transitions;
pub mod webhook;
