//! `compose config` off the apply's path: when a snapshot arrives, the models
//! of the stacks it wants changed are resolved and admitted ahead of the
//! workers, a bounded number at once, so with one worker the `config` of the
//! next stack runs while the current one's `compose up` does.
//!
//! It never applies anything: it fills [`Workspaces`]' admissions, which the
//! apply of the same `stack_hash` then uses (or waits for, while one runs).
//! Stacks whose containers already carry the desired `stack_hash` are left
//! alone, so a restart with every stack in sync runs no compose at all.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::compose::workspace::Workspaces;
use crate::docker::DockerHandle;
use crate::docker::state::{ContainerInfo, RuntimeCache};
use crate::labels;
use crate::stack::DesiredStack;
use crate::stack::snapshot::{Snapshot, SnapshotReader};

/// What the prefetch reads: the desired and the actual state.
pub struct Sources {
    /// The Git snapshots.
    pub snapshots: SnapshotReader,
    /// The containers docker-cd deployed, with their labels.
    pub cache: RuntimeCache,
    /// Connected once the first container list is in `cache`.
    pub docker: DockerHandle,
}

/// Runs until `shutdown`: for every new snapshot, admits the models of the
/// stacks that are not deployed at their desired `stack_hash`, `at_once` at a
/// time. A model a newer snapshot no longer wants is dropped mid-run.
pub async fn run(
    workspaces: Workspaces,
    mut sources: Sources,
    at_once: usize,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(at_once.max(1)));
    let mut tasks: JoinSet<(String, String)> = JoinSet::new();
    // Per stack, the `stack_hash` being resolved (and how to stop it).
    let mut running: HashMap<String, (String, AbortHandle)> = HashMap::new();
    // Per stack, the `stack_hash` tried already: a model compose could not
    // resolve is left to the apply's retries, not tried at every refresh.
    let mut tried: HashMap<String, String> = HashMap::new();
    tokio::select! {
        () = shutdown.cancelled() => return,
        () = sources.docker.wait_connected() => {}
    }
    let mut next = sources.snapshots.current();
    loop {
        if let Some(snapshot) = next.take() {
            let wanted = wanted(&snapshot, &sources.cache, &workspaces);
            running.retain(|name, (hash, task)| {
                let keep = wanted
                    .iter()
                    .any(|d| d.name.as_str() == name && d.stack_hash == *hash);
                if !keep {
                    task.abort();
                }
                keep
            });
            tried.retain(|name, _| snapshot.stacks.contains_key(name.as_str()));
            workspaces.retain(|name| snapshot.stacks.contains_key(name));
            for desired in wanted {
                let (name, hash) = (desired.name.to_string(), desired.stack_hash.clone());
                if running.contains_key(&name) || tried.get(&name) == Some(&hash) {
                    continue;
                }
                tried.insert(name.clone(), hash.clone());
                let (workspaces, permits) = (workspaces.clone(), permits.clone());
                let task = tasks.spawn(async move {
                    // The semaphore is fair: models are resolved in the
                    // snapshot's order, which is the queue's.
                    let _permit = permits.acquire().await;
                    workspaces.prefetch(&desired).await;
                    (desired.name.to_string(), desired.stack_hash.clone())
                });
                running.insert(name, (hash, task));
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            snapshot = sources.snapshots.next() => match snapshot {
                Some(snapshot) => next = Some(snapshot),
                None => return,
            },
            Some(done) = tasks.join_next() => {
                if let Ok((name, hash)) = done
                    && running.get(&name).is_some_and(|(h, _)| *h == hash)
                {
                    running.remove(&name);
                }
            }
        }
    }
}

/// The stacks of `snapshot` whose model an apply will need: deployable, not
/// running at their desired `stack_hash`, and not judged already.
fn wanted(
    snapshot: &Snapshot,
    cache: &RuntimeCache,
    workspaces: &Workspaces,
) -> Vec<Arc<DesiredStack>> {
    snapshot
        .stacks
        .values()
        .filter(|d| d.error.is_none() && d.clashes_with.is_empty())
        .filter(|d| !deployed_at(&cache.containers(&d.name), &d.stack_hash))
        .filter(|d| !workspaces.is_judged(d))
        .cloned()
        .collect()
}

/// Whether `containers` exist and all carry `stack_hash`.
fn deployed_at(containers: &[ContainerInfo], stack_hash: &str) -> bool {
    !containers.is_empty()
        && containers
            .iter()
            .all(|c| c.label(labels::STACK_HASH) == Some(stack_hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::state::fixtures::container;

    #[test]
    fn only_stacks_not_running_their_desired_files_are_resolved_ahead() {
        let at = |hash: &str| container("a", "web", "running", &[(labels::STACK_HASH, hash)]);
        assert!(!deployed_at(&[], "h1"), "not deployed");
        assert!(deployed_at(&[at("h1"), at("h1")], "h1"), "in sync");
        assert!(!deployed_at(&[at("h1"), at("h0")], "h1"), "half applied");
        assert!(!deployed_at(&[at("h0")], "h1"), "changed in Git");
        let unlabelled = container("a", "web", "running", &[]);
        assert!(!deployed_at(&[unlabelled], "h1"));
    }
}
