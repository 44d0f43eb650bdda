//! How many of a stack's services run as they should: the API's `health` and
//! `dockercd_stack_health` count the same way.

use std::collections::BTreeSet;

use serde::Serialize;

use super::DesiredStack;
use crate::docker::state::ContainerInfo;

/// Services ready out of those that should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StackHealth {
    /// Services whose containers all run, healthy where checked (a finished
    /// one-shot job counts), whatever revision they run.
    pub ready: usize,
    /// Services `compose up` starts; for a stack not in Git, those with containers.
    pub total: usize,
}

impl StackHealth {
    /// Counts the services of `desired` (or, without it, of `containers`) that
    /// are ready; `compose run` containers are not the service's.
    pub fn of(desired: Option<&DesiredStack>, containers: &[ContainerInfo]) -> Self {
        Self::counted(desired, desired, containers)
    }

    /// Counts the services of `containers` that are ready, while another
    /// revision stands in for `git`'s (a rollback): which of them are one-shot
    /// jobs is known from `git` only.
    pub fn of_stand_in(git: Option<&DesiredStack>, containers: &[ContainerInfo]) -> Self {
        Self::counted(None, git, containers)
    }

    /// The services of `expected` (or of `containers`), one-shot where `jobs` says.
    fn counted(
        expected: Option<&DesiredStack>,
        jobs: Option<&DesiredStack>,
        containers: &[ContainerInfo],
    ) -> Self {
        let containers: Vec<&ContainerInfo> =
            containers.iter().filter(|c| !c.is_one_off()).collect();
        let counted: BTreeSet<&str> = match expected {
            Some(d) => d.expected_services.iter().map(String::as_str).collect(),
            None => containers.iter().map(|c| c.service.as_str()).collect(),
        };
        let done = |c: &ContainerInfo| {
            c.is_finished_job(jobs.is_some_and(|d| d.oneshot_services.contains(&c.service)))
        };
        let ready = counted
            .iter()
            .filter(|service| {
                let mut own = containers
                    .iter()
                    .filter(|c| c.service == **service)
                    .peekable();
                own.peek().is_some() && own.all(|c| c.is_ready() || done(c))
            })
            .count();
        Self {
            ready,
            total: counted.len(),
        }
    }

    /// The fraction ready, 0 to 1 (1 for a stack that expects none).
    pub fn fraction(self) -> f64 {
        match self.total {
            0 => 1.0,
            // Service counts are far below 2^52: exact as f64.
            total => self.ready as f64 / total as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::state::fixtures::container;
    use crate::labels;
    use crate::stack::fixtures::desired;

    #[test]
    fn a_compose_run_container_is_not_the_service() {
        let d = desired("web", &["web"], "h");
        let mut job = container("2", "web", "exited", &[(labels::COMPOSE_ONEOFF, "True")]);
        job.exit_code = Some(1);
        let containers = [container("1", "web", "running", &[]), job];
        let health = StackHealth::of(Some(&d), &containers);
        assert_eq!(health, StackHealth { ready: 1, total: 1 });
        assert_eq!(health.fraction(), 1.0);
    }

    #[test]
    fn a_stack_without_services_is_whole() {
        assert_eq!(StackHealth { ready: 0, total: 0 }.fraction(), 1.0);
        assert_eq!(StackHealth { ready: 1, total: 4 }.fraction(), 0.25);
    }

    #[test]
    fn a_finished_job_of_a_stand_in_counts_as_git_says() {
        let mut git = desired("web", &["web", "job"], "h2");
        git.oneshot_services = vec!["job".into()];
        let mut job = container("2", "job", "exited", &[]);
        job.exit_code = Some(0);
        let containers = [container("1", "web", "running", &[]), job];
        assert_eq!(
            StackHealth::of_stand_in(Some(&git), &containers),
            StackHealth { ready: 2, total: 2 }
        );
    }
}
