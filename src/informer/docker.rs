//! The Docker informer: list + watch of this instance's managed containers.
//!
//! It is the runtime cache's only writer and emits the key of every stack whose
//! containers changed. Docker's event stream ends on any error and never
//! reconnects by itself, and a hung daemon is never noticed by it, so this loop
//! adds reconnection with backoff, a full re-list after every (re)connect, a
//! periodic re-list that corrects the cache, and a ping watchdog. Waking every
//! stack periodically is not its job: that is the controller's resync source.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use controller::Backoff;
use futures::StreamExt as _;

use super::{KeySender, Keys};
use crate::docker::client::{self, DockerError};
use crate::docker::connection::Connection;
use crate::docker::state::{ContainerInfo, ContainerState, RuntimeCache, RuntimeStore};
use crate::docker::{DockerArgs, DockerHandle, InstanceName};
use crate::labels;
use crate::metrics::AppMetrics;
use crate::named::named_enum;
use crate::readiness::Readiness;
use crate::runtime::Runtime;

/// Readiness condition: the daemon answered and the first list is in the cache.
pub const READY_CONDITION: &str = "docker";

/// Full re-list period: events are hints, this bounds the life of a cache entry
/// a missed event left wrong.
const RELIST_PERIOD: Duration = Duration::from_secs(300);
/// Ping period: the event stream has no idle timeout, so a hung daemon is only
/// noticed by asking.
const WATCHDOG_PERIOD: Duration = Duration::from_secs(30);
/// A ping slower than this counts as a hung daemon.
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Events are replayed from this far before the subscription, so a change
/// between the list and the subscription is not lost (duplicates are harmless).
const REPLAY_MARGIN_SECS: u64 = 2;

named_enum! {
    /// The container event actions docker-cd counts (`docker_events_total{action}`).
    pub enum EventAction {
        /// A container was created.
        Create = "create",
        /// A container started.
        Start = "start",
        /// A container's main process ended.
        Die = "die",
        /// A container was stopped.
        Stop = "stop",
        /// A container was killed.
        Kill = "kill",
        /// A container was removed.
        Destroy = "destroy",
        /// A healthcheck changed its result.
        HealthStatus = "health_status",
        /// Any other action.
        Other = "other",
    }
}

impl EventAction {
    /// The action of an event; `health_status: healthy` carries its result after a colon.
    fn of(action: &str) -> Self {
        let base = action.split(':').next().unwrap_or_default().trim();
        base.parse().unwrap_or(Self::Other)
    }
}

/// What the Docker informer hands out.
pub struct Handles {
    /// The runtime cache it keeps.
    pub cache: RuntimeCache,
    /// The connected client, while Docker answers.
    pub client: DockerHandle,
    /// Keys of stacks whose containers changed.
    pub keys: Keys,
}

/// Starts watching `DOCKER_HOST` for this instance's containers until shutdown.
pub fn spawn(args: &DockerArgs, instance: &InstanceName, runtime: &Runtime) -> Handles {
    for action in EventAction::ALL {
        runtime
            .metrics
            .docker_events
            .with_label_values(&[action.as_str()])
            .reset();
    }
    runtime.readiness.set(READY_CONDITION, false);
    let (store, cache) = RuntimeStore::new();
    let (connection, client) = Connection::new();
    let (keys_tx, keys) = super::keys();
    let watcher = Watcher {
        docker_host: args.host().map(str::to_string),
        instance: instance.to_string(),
        store,
        connection,
        keys: keys_tx,
        metrics: runtime.metrics.clone(),
        readiness: runtime.readiness.clone(),
    };
    let shutdown = runtime.shutdown.clone();
    runtime.spawn(tracing::info_span!("docker"), watcher.run(shutdown));
    Handles {
        cache,
        client,
        keys,
    }
}

/// Which stacks a full re-list wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// After a (re)connect: events may have been missed, wake every stack.
    All,
    /// The periodic correction: only stacks whose containers differ.
    Changed,
}

/// The list+watch loop.
struct Watcher {
    docker_host: Option<String>,
    /// Only this instance's containers are watched.
    instance: String,
    store: RuntimeStore,
    connection: Connection,
    keys: KeySender,
    metrics: AppMetrics,
    readiness: Readiness,
}

impl Watcher {
    /// Watches until `shutdown`, reconnecting with backoff after every failure.
    async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
            let ended = tokio::select! {
                biased;
                // Shutdown: stop watching.
                () = shutdown.cancelled() => return,
                // The session ends only with an error (or a closed stream).
                ended = self.session() => ended,
            };
            self.readiness.set(READY_CONDITION, false);
            self.connection.disconnected();
            let delay = backoff.next_delay();
            tracing::warn!(error = %ended, retry_in_ms = delay.as_millis() as u64, "Docker unreachable; will reconnect and re-list");
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One connection: list, then apply events until something breaks.
    async fn session(&self) -> SessionEnd {
        let docker = match client::connect(self.docker_host.as_deref()).await {
            Ok(docker) => docker,
            Err(e) => return SessionEnd::Docker(e),
        };
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_sub(REPLAY_MARGIN_SECS)
            .to_string();
        if let Err(e) = self.relist(&docker, Wake::All).await {
            return SessionEnd::Docker(e);
        }
        self.connection.connected(docker.clone());
        self.readiness.set(READY_CONDITION, true);
        tracing::info!("Docker connected; managed containers listed");

        let mut filters = client::instance_filters(&self.instance);
        filters.insert("type".to_string(), vec!["container".to_string()]);
        let options = EventsOptionsBuilder::default()
            .filters(&filters)
            .since(&since)
            .build();
        let mut events = pin!(docker.events(Some(options)));
        let mut relist = tokio::time::interval(RELIST_PERIOD);
        relist.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        relist.tick().await; // immediate first tick: the list above was just made
        let mut watchdog = tokio::time::interval(WATCHDOG_PERIOD);
        watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        watchdog.tick().await;
        loop {
            tokio::select! {
                biased;
                // An event about one of our containers: re-list its stack.
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        if let Err(e) = self.on_event(&docker, event).await {
                            return SessionEnd::Docker(e);
                        }
                    }
                    Some(Err(e)) => return SessionEnd::Docker(DockerError::Api(e)),
                    None => return SessionEnd::StreamClosed,
                },
                // Periodic full re-list: corrects anything an event missed.
                _ = relist.tick() => {
                    if let Err(e) = self.relist(&docker, Wake::Changed).await {
                        return SessionEnd::Docker(e);
                    }
                }
                // Watchdog: a daemon that stopped answering ends the session.
                _ = watchdog.tick() => match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return SessionEnd::Docker(DockerError::Api(e)),
                    Err(_) => return SessionEnd::Hung,
                },
            }
        }
    }

    /// Lists everything, replaces the cache, and wakes the stacks `wake` says.
    async fn relist(&self, docker: &Docker, wake: Wake) -> Result<(), DockerError> {
        let containers = client::list_managed(docker, &self.instance).await?;
        let mut by_stack: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for container in containers {
            if let Some(project) = container.label(labels::COMPOSE_PROJECT).map(str::to_string) {
                by_stack.entry(project).or_default().push(container);
            }
        }
        let keys = stacks_to_wake(&self.store.reader().all(), &by_stack, wake);
        self.store.replace_all(by_stack);
        for key in keys {
            self.keys.wake_project(&key);
        }
        Ok(())
    }

    async fn on_event(&self, docker: &Docker, event: EventMessage) -> Result<(), DockerError> {
        let action = event.action.unwrap_or_default();
        // Healthchecks run as exec sessions: their events say nothing about state.
        if action.starts_with("exec_") {
            return Ok(());
        }
        self.metrics
            .docker_events
            .with_label_values(&[EventAction::of(&action).as_str()])
            .inc();
        let actor = event.actor.unwrap_or_default();
        let mut attributes = actor.attributes.unwrap_or_default();
        let Some(project) = attributes.remove(labels::COMPOSE_PROJECT) else {
            return Ok(());
        };
        tracing::debug!(stack = %project, action = %action, "container event");
        let mut containers = client::list_stack(docker, &self.instance, &project).await?;
        if let Some(id) = actor.id {
            apply_event(&mut containers, &id, &action, &attributes);
        }
        self.store.set_stack(&project, containers);
        self.keys.wake_project(&project);
        Ok(())
    }
}

/// The stacks a re-list from `old` to `new` wakes: with [`Wake::All`] every stack
/// that has or had containers, with [`Wake::Changed`] those whose containers differ.
fn stacks_to_wake(
    old: &BTreeMap<String, Vec<ContainerInfo>>,
    new: &BTreeMap<String, Vec<ContainerInfo>>,
    wake: Wake,
) -> Vec<String> {
    let names: HashSet<&String> = old.keys().chain(new.keys()).collect();
    let mut keys: Vec<String> = names
        .into_iter()
        .filter(|name| wake == Wake::All || old.get(*name) != new.get(*name))
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Applies what `action` says about container `id` on top of a fresh list.
///
/// The engine emits `die` before its list view catches up (seen with 20.10: a
/// list right after `die` still says `running`), so the event is the newer truth.
fn apply_event(
    containers: &mut Vec<ContainerInfo>,
    id: &str,
    action: &str,
    attributes: &HashMap<String, String>,
) {
    if action == "destroy" {
        containers.retain(|c| c.id != id);
        return;
    }
    let Some(container) = containers.iter_mut().find(|c| c.id == id) else {
        return;
    };
    match action.split(':').next().unwrap_or_default().trim() {
        "die" => {
            container.state = ContainerState::Exited;
            container.exit_code = attributes.get("exitCode").and_then(|c| c.parse().ok());
            container.health = None;
        }
        "start" | "restart" | "unpause" => container.state = ContainerState::Running,
        "pause" => container.state = ContainerState::Paused,
        "health_status" => {
            container.health = action
                .split_once(':')
                .and_then(|(_, h)| h.trim().parse().ok());
        }
        _ => {}
    }
}

/// Why a session ended.
enum SessionEnd {
    Docker(DockerError),
    StreamClosed,
    Hung,
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Docker(e) => write!(f, "{e}"),
            Self::StreamClosed => f.write_str("the event stream closed"),
            Self::Hung => write!(
                f,
                "Docker did not answer a ping within {}s",
                PING_TIMEOUT.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    use crate::docker::state::Health;

    fn container(id: &str) -> ContainerInfo {
        ContainerInfo {
            health: Some(Health::Healthy),
            ..crate::docker::state::fixtures::container(id, "web", "running", &[])
        }
    }

    #[test]
    fn events_override_a_stale_list() {
        let attributes = HashMap::from([("exitCode".to_string(), "137".to_string())]);
        let mut list = vec![container("a"), container("b")];
        apply_event(&mut list, "a", "die", &attributes);
        assert_eq!(
            (list[0].state, list[0].exit_code, list[0].health),
            (ContainerState::Exited, Some(137), None)
        );
        assert_eq!(
            list[1].state,
            ContainerState::Running,
            "other containers untouched"
        );
        apply_event(&mut list, "a", "start", &HashMap::new());
        assert_eq!(list[0].state, ContainerState::Running);
        apply_event(&mut list, "b", "health_status: unhealthy", &HashMap::new());
        assert_eq!(list[1].health, Some(Health::Unhealthy));
        apply_event(&mut list, "b", "destroy", &HashMap::new());
        assert_eq!(list.len(), 1);
    }

    #[rstest]
    #[case("start", "start")]
    #[case("die", "die")]
    #[case("health_status: healthy", "health_status")]
    #[case("health_status: unhealthy", "health_status")]
    #[case("rename", "other")]
    fn actions_map_to_bounded_labels(#[case] action: &str, #[case] label: &str) {
        assert_eq!(EventAction::of(action).as_str(), label);
    }

    #[test]
    fn a_periodic_relist_wakes_only_stacks_that_changed() {
        let old = BTreeMap::from([
            ("same".to_string(), vec![container("a")]),
            ("edited".to_string(), vec![container("b")]),
            ("gone".to_string(), vec![container("c")]),
        ]);
        let mut stopped = container("b");
        stopped.state = ContainerState::Exited;
        let new = BTreeMap::from([
            ("same".to_string(), vec![container("a")]),
            ("edited".to_string(), vec![stopped]),
            ("new".to_string(), vec![container("d")]),
        ]);
        assert_eq!(
            stacks_to_wake(&old, &new, Wake::Changed),
            vec!["edited", "gone", "new"]
        );
        assert_eq!(
            stacks_to_wake(&old, &new, Wake::All),
            vec!["edited", "gone", "new", "same"]
        );
    }
}
