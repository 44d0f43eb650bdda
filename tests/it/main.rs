//! End-to-end tests: the real binary, real git repositories, a real Docker engine.
//!
//! One test target on purpose: every target is a separate link of the whole
//! dependency tree.

mod chart;
mod cli;
mod client;
mod commit_info;
mod commit_status;
mod dashboard;
mod desired_state;
mod docker_support;
mod failed_apply;
mod faults;
mod health_gate;
mod history;
mod kill_once;
mod notify;
mod observability;
mod one_compose;
mod plan;
mod quick_start;
mod real_inputs;
mod reconcile;
mod rollback;
mod security;
mod support;
mod transports;
