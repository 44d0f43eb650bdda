//! The reconciler's settings: whether and how it acts, how many stacks at once,
//! and where it works.

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::admission::policy::Policy;
use crate::docker::InstanceName;
use crate::setting::parse_duration;

/// What to do when the runtime differs from the desired state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DriftPolicy {
    /// Correct drift at once.
    Revert,
    /// Mark the stack `drifted` and leave it alone until acknowledged.
    Flag,
}

/// `RECONCILE_*`, `DRIFT_POLICY`, `HEALTH_TIMEOUT`, `DATA_DIR` and `INSTANCE_NAME`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    /// Apply changes automatically; false: only report (plan/apply still work).
    #[arg(long = "reconcile-enabled", env = "RECONCILE_ENABLED", value_name = "BOOL", default_value = "true", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set, display_order = 9)]
    pub enabled: bool,

    /// Remove running stacks that left the desired state.
    #[arg(long = "reconcile-remove-enabled", env = "RECONCILE_REMOVE_ENABLED", value_name = "BOOL", default_value = "false", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set, display_order = 10)]
    pub remove_enabled: bool,

    /// revert: correct runtime drift at once; flag: mark the stack drifted until acknowledged.
    #[arg(
        long = "drift-policy",
        env = "DRIFT_POLICY",
        value_name = "POLICY",
        default_value = "revert",
        ignore_case = true,
        display_order = 11
    )]
    pub drift_policy: DriftPolicy,

    /// What a commit may ask of the host, comma-separated: deny-privileged, deny-host-mounts, allowed-registries=<a;b> [default: no limits].
    #[arg(
        long = "policy",
        env = "POLICY",
        value_name = "RULES",
        default_value = "",
        hide_default_value = true,
        display_order = 8
    )]
    pub policy: Policy,

    /// How long an applied stack may take to run and pass its healthchecks (per stack: label io.docker-cd.health-timeout).
    #[arg(long = "health-timeout", env = "HEALTH_TIMEOUT", value_name = "DURATION", default_value = "120s", value_parser = parse_duration, display_order = 21)]
    pub health_timeout: Duration,

    /// Re-apply a stack's last revision that passed its health gate when a new one fails it (per stack: label io.docker-cd.rollback).
    #[arg(long = "rollback-enabled", env = "ROLLBACK_ENABLED", value_name = "BOOL", default_value = "false", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::Set, display_order = 22)]
    pub rollback_enabled: bool,

    /// Git cache and the working folders compose runs in.
    #[arg(
        long = "data-dir",
        env = "DATA_DIR",
        value_name = "PATH",
        default_value = "./data",
        display_order = 13
    )]
    pub data_dir: PathBuf,

    /// Written to io.docker-cd.instance; an instance never touches another instance's containers.
    #[arg(
        long = "instance-name",
        env = "INSTANCE_NAME",
        value_name = "NAME",
        default_value = "docker-cd",
        display_order = 15
    )]
    pub instance_name: InstanceName,

    /// Reconcile workers.
    #[arg(long = "reconcile-concurrency", env = "RECONCILE_CONCURRENCY", value_name = "N", default_value = "1", value_parser = clap::value_parser!(u16).range(1..=64), display_order = 16)]
    concurrency: u16,
}

impl ReconcileArgs {
    /// Reconcile workers (at least 1).
    pub fn concurrency(&self) -> usize {
        usize::from(self.concurrency)
    }
}
