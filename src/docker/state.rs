//! The runtime cache: managed containers of this instance, grouped by stack.
//!
//! Split like kube's `reflector::store`: the Docker informer holds the only
//! [`RuntimeStore`] (a full list replaces it, events patch it); the reconciler and
//! the API hold [`RuntimeCache`] readers.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::named::named_enum;

named_enum! {
    /// A container's state, as Docker names it.
    pub enum ContainerState {
        /// Created, never started.
        Created = "created",
        /// Running (healthy or not).
        Running = "running",
        /// Frozen by `docker pause`: its processes hold still.
        Paused = "paused",
        /// Being restarted by its restart policy.
        Restarting = "restarting",
        /// Being removed.
        Removing = "removing",
        /// Stopped; the exit code says how.
        Exited = "exited",
        /// Could not be stopped or removed.
        Dead = "dead",
        /// A state this version does not know (a newer engine).
        Unknown = "unknown",
    }
}

impl ContainerState {
    /// The state Docker reports as `text`; one it does not know is [`Self::Unknown`].
    pub fn from_docker(text: &str) -> Self {
        text.parse().unwrap_or(Self::Unknown)
    }
}

named_enum! {
    /// A running container's healthcheck result.
    pub enum Health {
        /// The check is still in its start period or has not passed yet.
        Starting = "starting",
        /// The check passes.
        Healthy = "healthy",
        /// The check failed its retries in a row.
        Unhealthy = "unhealthy",
    }
}

/// What docker-cd knows about one managed container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Full container id.
    pub id: String,
    /// Container name without the leading `/`.
    pub name: String,
    /// Compose service (`com.docker.compose.service`).
    pub service: String,
    /// Docker state.
    pub state: ContainerState,
    /// The healthcheck's result, when the container has one.
    pub health: Option<Health>,
    /// Exit code of a stopped container.
    pub exit_code: Option<i64>,
    /// Every label of the container.
    pub labels: HashMap<String, String>,
}

impl ContainerInfo {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// Running, and healthy where a healthcheck is defined.
    pub fn is_ready(&self) -> bool {
        self.state == ContainerState::Running && self.health.is_none_or(|h| h == Health::Healthy)
    }

    /// A container of a one-shot service (`job`) that ran to its end: exited 0.
    /// Another service's container that exited 0 was stopped (`docker stop`,
    /// an engine restart): real servers exit 0 on TERM.
    pub fn is_finished_job(&self, job: bool) -> bool {
        job && self.state == ContainerState::Exited && self.exit_code == Some(0)
    }

    /// A `compose run` container: not one of its service's replicas.
    pub fn is_one_off(&self) -> bool {
        self.label(crate::labels::COMPOSE_ONEOFF)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// Containers per stack name (the compose project): the read side.
#[derive(Debug, Clone, Default)]
pub struct RuntimeCache {
    stacks: Arc<RwLock<BTreeMap<String, Vec<ContainerInfo>>>>,
    /// Bumped by every write: readers that cache derived views compare it.
    version: Arc<AtomicU64>,
}

/// The write side of the runtime cache; only the Docker informer has one.
#[derive(Debug)]
pub struct RuntimeStore {
    cache: RuntimeCache,
}

impl RuntimeStore {
    /// An empty cache: its writer and a reader.
    pub fn new() -> (Self, RuntimeCache) {
        let cache = RuntimeCache::default();
        (
            Self {
                cache: cache.clone(),
            },
            cache,
        )
    }

    /// What the cache holds now (the informer compares a fresh list with it).
    pub fn reader(&self) -> &RuntimeCache {
        &self.cache
    }

    /// Replaces the containers of `name` (removing the stack when `containers` is empty).
    pub fn set_stack(&self, name: &str, containers: Vec<ContainerInfo>) {
        let mut stacks = self
            .cache
            .stacks
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.cache.version.fetch_add(1, Ordering::AcqRel);
        if containers.is_empty() {
            stacks.remove(name);
        } else {
            stacks.insert(name.to_string(), containers);
        }
    }

    /// Replaces everything (after a full list).
    pub fn replace_all(&self, all: BTreeMap<String, Vec<ContainerInfo>>) {
        *self
            .cache
            .stacks
            .write()
            .unwrap_or_else(PoisonError::into_inner) = all;
        self.cache.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl RuntimeCache {
    /// Containers of stack `name` (empty when none).
    pub fn containers(&self, name: &str) -> Vec<ContainerInfo> {
        self.stacks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    /// Names of every stack that has at least one container.
    pub fn stack_names(&self) -> Vec<String> {
        self.stacks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// Every stack's containers at once (one lock, a consistent view).
    pub fn all(&self) -> BTreeMap<String, Vec<ContainerInfo>> {
        self.stacks
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes with every write.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(id: &str) -> ContainerInfo {
        fixtures::container(id, "web", "running", &[])
    }

    #[test]
    fn readers_see_every_write_and_its_version() {
        let (store, cache) = RuntimeStore::new();
        let before = cache.version();
        store.replace_all(BTreeMap::from([
            ("a".to_string(), vec![container("1")]),
            ("b".to_string(), vec![container("2")]),
        ]));
        assert_eq!(cache.stack_names(), vec!["a", "b"]);
        store.set_stack("a", Vec::new());
        assert_eq!(cache.stack_names(), vec!["b"], "an empty stack is gone");
        assert_eq!(cache.containers("b"), vec![container("2")]);
        assert_eq!(cache.version(), before + 2);
    }

    #[rstest::rstest]
    #[case::a_job_that_exited_0(true, "exited", Some(0), true)]
    #[case::a_job_that_failed(true, "exited", Some(1), false)]
    #[case::a_job_still_running(true, "running", None, false)]
    #[case::a_dead_job(true, "dead", Some(0), false)]
    #[case::a_server_stopped_cleanly(false, "exited", Some(0), false)]
    fn only_a_job_that_exited_0_is_finished(
        #[case] job: bool,
        #[case] state: &str,
        #[case] exit_code: Option<i64>,
        #[case] finished: bool,
    ) {
        let mut c = fixtures::container("1", "migrate", state, &[]);
        c.exit_code = exit_code;
        assert_eq!(c.is_finished_job(job), finished);
    }
}

/// Containers for unit tests across the crate.
#[cfg(test)]
pub mod fixtures {
    use super::ContainerInfo;

    /// A container of `service` in Docker state `state` with `labels`.
    pub fn container(
        id: &str,
        service: &str,
        state: &str,
        labels: &[(&str, &str)],
    ) -> ContainerInfo {
        ContainerInfo {
            id: id.into(),
            name: format!("{id}-1"),
            service: service.into(),
            state: super::ContainerState::from_docker(state),
            health: None,
            exit_code: None,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }
}
