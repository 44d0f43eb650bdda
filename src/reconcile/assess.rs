//! Comparing one stack's desired state with its containers: a pure function, so
//! every rule is tested without Docker.

use std::collections::BTreeMap;
use std::fmt;

use crate::docker::state::{ContainerInfo, ContainerState, Health};
use crate::labels;
use crate::stack::DesiredStack;

/// What one service's containers look like against the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// Running (healthy where checked), or a one-shot job finished with exit 0,
    /// with current labels.
    Ready,
    /// No container.
    Missing,
    /// Created but not started: `compose up` starts it.
    Stopped(String),
    /// Exited or dead: it ran and ended (not a job's clean end).
    Exited(String),
    /// A container carries another `stack_hash` (or none): an apply recreates it.
    Outdated,
    /// Running, its healthcheck not passed yet: give it time.
    Starting(String),
    /// Unhealthy, restarting or paused: `compose up` would not change it.
    Waiting(String),
}

/// Why an apply is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// Git changed (or the stack was never deployed): apply the new desired state.
    Desired,
    /// The runtime left the applied state (stopped, removed, changed by hand).
    Drift,
}

/// The verdict on one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do.
    InSync,
    /// Compose must run.
    NeedsApply {
        /// Git change or drift.
        cause: Divergence,
        /// A container of the stack ran and ended (exited or dead), as opposed
        /// to one missing, not started yet or of another `stack_hash`.
        exited: bool,
        /// What differs, for the status and logs.
        detail: String,
    },
    /// Everything is deployed but not ready yet (or stuck in a way compose cannot fix).
    Settling {
        /// What is not ready.
        detail: String,
        /// Only healthchecks in their start period: nothing is wrong yet.
        starting_only: bool,
    },
}

/// Per-service states in name order, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// Each expected service (and each unexpected one found running).
    pub services: BTreeMap<String, ServiceState>,
    /// The verdict.
    pub verdict: Verdict,
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready => f.write_str("ready"),
            Self::Missing => f.write_str("no container"),
            Self::Stopped(why) | Self::Exited(why) | Self::Starting(why) | Self::Waiting(why) => {
                f.write_str(why)
            }
            Self::Outdated => f.write_str("labels of another stack_hash"),
        }
    }
}

/// Compares `desired` with `containers` (this instance's containers of the stack).
///
/// `applied_hash` is the `stack_hash` last applied to this stack (from the
/// status record or the labels): when it equals the desired hash, anything
/// missing is drift rather than a new deployment.
pub fn assess(
    desired: &DesiredStack,
    containers: &[ContainerInfo],
    applied_hash: Option<&str>,
) -> Assessment {
    let containers: Vec<&ContainerInfo> = containers.iter().filter(|c| !c.is_one_off()).collect();
    let services = service_states(desired, &containers);
    // Containers of services the compose file no longer has: `--remove-orphans` removes them.
    let mut orphans: Vec<&str> = containers
        .iter()
        .filter(|c| !desired.services.contains(&c.service))
        .map(|c| c.service.as_str())
        .collect();
    orphans.sort_unstable();
    orphans.dedup();

    let needs_apply: Vec<String> = services
        .iter()
        .filter(|(_, s)| {
            matches!(
                s,
                ServiceState::Missing
                    | ServiceState::Stopped(_)
                    | ServiceState::Exited(_)
                    | ServiceState::Outdated
            )
        })
        .map(|(name, s)| format!("{name}: {s}"))
        .chain(
            orphans
                .iter()
                .map(|name| format!("{name}: not in the compose file")),
        )
        .collect();
    let waiting: Vec<String> = services
        .iter()
        .filter(|(_, s)| matches!(s, ServiceState::Starting(_) | ServiceState::Waiting(_)))
        .map(|(name, s)| format!("{name}: {s}"))
        .collect();
    let starting_only = !services
        .values()
        .any(|s| matches!(s, ServiceState::Waiting(_)));

    let verdict = if !needs_apply.is_empty() {
        let applied_current = applied_hash == Some(desired.stack_hash.as_str())
            || containers
                .iter()
                .any(|c| c.label(labels::STACK_HASH) == Some(desired.stack_hash.as_str()));
        Verdict::NeedsApply {
            cause: if applied_current {
                Divergence::Drift
            } else {
                Divergence::Desired
            },
            exited: services
                .values()
                .any(|s| matches!(s, ServiceState::Exited(_))),
            detail: needs_apply.join("; "),
        }
    } else if !waiting.is_empty() {
        Verdict::Settling {
            detail: waiting.join("; "),
            starting_only,
        }
    } else {
        Verdict::InSync
    };
    Assessment { services, verdict }
}

/// The state of each expected service.
fn service_states(
    desired: &DesiredStack,
    containers: &[&ContainerInfo],
) -> BTreeMap<String, ServiceState> {
    desired
        .expected_services
        .iter()
        .map(|service| {
            let own: Vec<&ContainerInfo> = containers
                .iter()
                .copied()
                .filter(|c| &c.service == service)
                .collect();
            let oneshot = desired.oneshot_services.contains(service);
            let state = service_state(&own, &desired.stack_hash, oneshot);
            (service.clone(), state)
        })
        .collect()
}

/// `oneshot`: the service is a job, so a clean exit is its end, not a stop.
fn service_state(containers: &[&ContainerInfo], stack_hash: &str, oneshot: bool) -> ServiceState {
    if containers.is_empty() {
        return ServiceState::Missing;
    }
    if containers
        .iter()
        .any(|c| c.label(labels::STACK_HASH) != Some(stack_hash))
    {
        return ServiceState::Outdated;
    }
    let mut pending: Option<ServiceState> = None;
    for c in containers {
        let found = match c.state {
            ContainerState::Running => match c.health {
                None | Some(Health::Healthy) => None,
                Some(Health::Starting) => Some(ServiceState::Starting(format!(
                    "container {} is {}",
                    c.name,
                    Health::Starting
                ))),
                Some(health) => Some(ServiceState::Waiting(format!(
                    "container {} is {health}",
                    c.name
                ))),
            },
            ContainerState::Exited if c.is_finished_job(oneshot) => None,
            ContainerState::Exited | ContainerState::Dead => {
                let how = c
                    .exit_code
                    .map_or_else(|| c.state.to_string(), |code| format!("exited ({code})"));
                return ServiceState::Exited(format!("container {} {how}", c.name));
            }
            ContainerState::Created => {
                return ServiceState::Stopped(format!("container {} created", c.name));
            }
            other => Some(ServiceState::Waiting(format!(
                "container {} is {other}",
                c.name
            ))),
        };
        // A stuck container outweighs one whose healthcheck is still starting.
        if found.is_some() && !matches!(pending, Some(ServiceState::Waiting(_))) {
            pending = found;
        }
    }
    pending.unwrap_or(ServiceState::Ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::state::fixtures;

    fn desired(services: &[&str], hash: &str) -> DesiredStack {
        crate::stack::fixtures::desired("web", services, hash)
    }

    fn container(service: &str, state: &str, hash: &str) -> ContainerInfo {
        fixtures::container(
            &format!("id-{service}"),
            service,
            state,
            &[(labels::STACK_HASH, hash)],
        )
    }

    #[test]
    fn all_running_with_current_labels_is_in_sync() {
        let d = desired(&["a", "b"], "h1");
        let cs = [
            container("a", "running", "h1"),
            container("b", "running", "h1"),
        ];
        assert_eq!(assess(&d, &cs, Some("h1")).verdict, Verdict::InSync);
    }

    #[test]
    fn never_deployed_is_a_desired_change() {
        let d = desired(&["a"], "h1");
        assert!(matches!(
            assess(&d, &[], None).verdict,
            Verdict::NeedsApply {
                cause: Divergence::Desired,
                ..
            }
        ));
    }

    #[test]
    fn a_new_stack_hash_is_a_desired_change() {
        let d = desired(&["a"], "h2");
        let cs = [container("a", "running", "h1")];
        let a = assess(&d, &cs, Some("h1"));
        assert_eq!(a.services["a"], ServiceState::Outdated);
        assert!(matches!(
            a.verdict,
            Verdict::NeedsApply {
                cause: Divergence::Desired,
                ..
            }
        ));
    }

    #[test]
    fn a_killed_or_removed_container_is_drift() {
        let d = desired(&["a", "b"], "h1");
        let mut killed = container("a", "exited", "h1");
        killed.exit_code = Some(137);
        let a = assess(&d, &[killed, container("b", "running", "h1")], Some("h1"));
        match a.verdict {
            Verdict::NeedsApply {
                cause: Divergence::Drift,
                exited: true,
                detail,
            } => assert!(detail.contains("exited (137)"), "{detail}"),
            other => panic!("{other:?}"),
        }
        // Everything removed by hand: the record still knows what was applied.
        assert!(matches!(
            assess(&d, &[], Some("h1")).verdict,
            Verdict::NeedsApply {
                cause: Divergence::Drift,
                ..
            }
        ));
    }

    #[test]
    fn a_finished_one_shot_job_is_ready() {
        let mut d = desired(&["migrate", "web"], "h1");
        d.oneshot_services = vec!["migrate".into()];
        let mut done = container("migrate", "exited", "h1");
        done.exit_code = Some(0);
        let cs = [done, container("web", "running", "h1")];
        assert_eq!(assess(&d, &cs, Some("h1")).verdict, Verdict::InSync);
    }

    #[test]
    fn a_created_container_is_not_an_exit() {
        let d = desired(&["web"], "h1");
        let created = container("web", "created", "h1");
        let a = assess(&d, &[created], Some("h1"));
        assert_eq!(
            a.services["web"],
            ServiceState::Stopped("container id-web-1 created".into())
        );
        assert!(
            matches!(a.verdict, Verdict::NeedsApply { exited: false, .. }),
            "{:?}",
            a.verdict
        );
    }

    #[test]
    fn a_service_that_exited_0_was_stopped_and_is_drift() {
        // `docker stop` or an engine restart: nginx, postgres and redis exit 0 on TERM.
        let d = desired(&["web"], "h1");
        let mut stopped = container("web", "exited", "h1");
        stopped.exit_code = Some(0);
        match assess(&d, &[stopped], Some("h1")).verdict {
            Verdict::NeedsApply {
                cause: Divergence::Drift,
                exited: true,
                detail,
            } => assert!(
                detail.contains("web: container id-web-1 exited (0)"),
                "{detail}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_one_shot_job_that_failed_is_drift() {
        let mut d = desired(&["migrate"], "h1");
        d.oneshot_services = vec!["migrate".into()];
        let mut failed = container("migrate", "exited", "h1");
        failed.exit_code = Some(3);
        assert!(matches!(
            assess(&d, &[failed], Some("h1")).verdict,
            Verdict::NeedsApply { .. }
        ));
    }

    #[test]
    fn health_starting_or_unhealthy_and_restarting_are_settling_not_applies() {
        let d = desired(&["a", "b"], "h1");
        let mut starting = container("a", "running", "h1");
        starting.health = Some(Health::Starting);
        let restarting = container("b", "restarting", "h1");
        match assess(&d, &[starting, restarting], Some("h1")).verdict {
            Verdict::Settling {
                detail,
                starting_only,
            } => {
                assert!(
                    detail.contains("starting") && detail.contains("restarting"),
                    "{detail}"
                );
                assert!(!starting_only, "restarting is not a healthcheck starting");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_healthchecks_in_their_start_period_are_starting_only() {
        let d = desired(&["a"], "h1");
        let mut starting = container("a", "running", "h1");
        starting.health = Some(Health::Starting);
        let mut unhealthy = starting.clone();
        unhealthy.name = "a-2".into();
        unhealthy.health = Some(Health::Unhealthy);
        let verdict = |cs: &[ContainerInfo]| match assess(&d, cs, Some("h1")).verdict {
            Verdict::Settling { starting_only, .. } => starting_only,
            other => panic!("{other:?}"),
        };
        assert!(verdict(&[starting.clone()]));
        assert!(!verdict(&[unhealthy.clone(), starting.clone()]));
        assert!(
            !verdict(&[starting, unhealthy]),
            "a stuck replica outweighs a starting one"
        );
    }

    #[test]
    fn containers_of_removed_services_need_an_apply() {
        let d = desired(&["a"], "h1");
        let cs = [
            container("a", "running", "h1"),
            container("old", "running", "h1"),
        ];
        match assess(&d, &cs, Some("h1")).verdict {
            Verdict::NeedsApply { detail, .. } => {
                assert!(detail.contains("old: not in the compose file"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn services_compose_up_does_not_start_are_not_required() {
        let mut d = desired(&["a", "debug"], "h1");
        d.expected_services = vec!["a".into()];
        assert_eq!(
            assess(&d, &[container("a", "running", "h1")], None).verdict,
            Verdict::InSync
        );
    }

    #[test]
    fn one_off_containers_are_ignored() {
        let d = desired(&["a"], "h1");
        let mut run = container("a", "exited", "h1");
        run.exit_code = Some(1);
        run.labels
            .insert(labels::COMPOSE_ONEOFF.into(), "True".into());
        assert_eq!(
            assess(&d, &[container("a", "running", "h1"), run], Some("h1")).verdict,
            Verdict::InSync
        );
    }
}
