//! The label contract: the `io.docker-cd.*` labels written on every container
//! of a deployed stack (and read back to learn what was applied), and the
//! compose labels docker-cd reads.

use std::collections::HashMap;

/// Every docker-cd label starts with this.
pub const PREFIX: &str = "io.docker-cd.";

/// `true` on every container docker-cd deployed.
pub const MANAGED: &str = "io.docker-cd.managed";
/// `INSTANCE_NAME`: an instance never touches containers of another instance.
pub const INSTANCE: &str = "io.docker-cd.instance";
/// The stack path.
pub const STACK: &str = "io.docker-cd.stack";
/// Full commit id the stack was last applied from.
pub const REVISION: &str = "io.docker-cd.revision";
/// `compose_hash` at that apply.
pub const COMPOSE_HASH: &str = "io.docker-cd.compose-hash";
/// `stack_hash` at that apply.
pub const STACK_HASH: &str = "io.docker-cd.stack-hash";
/// RFC 3339 time of that apply.
pub const SYNCED_AT: &str = "io.docker-cd.synced-at";
/// Set by the user on a service (`"true"`): a one-shot job whose `exited (0)` is
/// done, not drift.
pub const ONESHOT: &str = "io.docker-cd.oneshot";
/// Set by the user on any service: how long an apply of the stack may take to
/// run and pass its healthchecks (`HEALTH_TIMEOUT` for this stack).
pub const HEALTH_TIMEOUT: &str = "io.docker-cd.health-timeout";

/// Set by the user on any service (`"true"`/`"false"`): `ROLLBACK_ENABLED` for this stack.
pub const ROLLBACK: &str = "io.docker-cd.rollback";
/// The newest revision of the stack that had passed its health gate when this
/// apply was made: where a failed gate rolls back to.
pub const GOOD_REVISION: &str = "io.docker-cd.good-revision";
/// On a rollback: the `stack_hash` that failed its gate, never applied again
/// automatically.
pub const ROLLED_BACK_FROM: &str = "io.docker-cd.rolled-back-from";
/// On an operator's rollback (`"true"`): the revision is held, replaced only
/// when Git changes the stack or a sync asks for it.
pub const HELD: &str = "io.docker-cd.held";
/// On an automatic rollback: which revision failed its gate, and how.
pub const ROLLBACK_REASON: &str = "io.docker-cd.rollback-reason";

/// Compose's project label: the stack name.
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
/// Compose's service label.
pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
/// Compose's one-off label (`docker compose run` containers are not part of a stack's services).
pub const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";
/// Compose's working-folder label: where the project's files were.
pub const COMPOSE_WORKING_DIR: &str = "com.docker.compose.project.working_dir";

/// What one apply recorded: the part of [`StackLabels`] that changes per apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// Commit the stack was applied from.
    pub revision: String,
    /// `compose_hash` at that apply.
    pub compose_hash: String,
    /// `stack_hash` at that apply.
    pub stack_hash: String,
    /// RFC 3339 time of that apply.
    pub synced_at: String,
    /// The newest revision that had passed its gate then (see [`GOOD_REVISION`]).
    pub good_revision: Option<String>,
    /// The `stack_hash` this apply rolled back from (see [`ROLLED_BACK_FROM`]).
    pub rolled_back_from: Option<String>,
    /// An operator's rollback holds this revision (see [`HELD`]).
    pub held: bool,
    /// Why an automatic rollback ran (see [`ROLLBACK_REASON`]).
    pub rollback_reason: Option<String>,
}

impl Synced {
    /// Whether this apply runs in place of the revision whose `stack_hash` is
    /// `wanted_stack_hash` (a rollback from it, or an operator's hold over it).
    pub fn stands_in_for(&self, wanted_stack_hash: &str) -> bool {
        self.rolled_back_from.as_deref() == Some(wanted_stack_hash)
    }

    /// How long before `now` the apply was made; `None` when the label is not
    /// a time or lies in the future.
    pub fn age(&self, now: jiff::Timestamp) -> Option<std::time::Duration> {
        let at: jiff::Timestamp = self.synced_at.parse().ok()?;
        std::time::Duration::try_from(now.duration_since(at)).ok()
    }
}

/// Every `io.docker-cd.*` label of one apply: what is written into the compose
/// override, and what is read back from a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackLabels {
    /// `INSTANCE_NAME`.
    pub instance: String,
    /// Stack path.
    pub stack_path: String,
    /// The apply.
    pub synced: Synced,
}

impl StackLabels {
    /// Label name → value, as written on every service.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs = vec![
            (MANAGED, "true"),
            (INSTANCE, self.instance.as_str()),
            (STACK, &self.stack_path),
            (REVISION, &self.synced.revision),
            (COMPOSE_HASH, &self.synced.compose_hash),
            (STACK_HASH, &self.synced.stack_hash),
            (SYNCED_AT, &self.synced.synced_at),
        ];
        let optional = [
            (GOOD_REVISION, &self.synced.good_revision),
            (ROLLED_BACK_FROM, &self.synced.rolled_back_from),
            (ROLLBACK_REASON, &self.synced.rollback_reason),
        ];
        pairs.extend(
            optional
                .into_iter()
                .filter_map(|(key, value)| Some((key, value.as_deref()?))),
        );
        if self.synced.held {
            pairs.push((HELD, "true"));
        }
        pairs
    }

    /// The labels of a container docker-cd deployed; `None` when any is missing.
    pub fn read(labels: &HashMap<String, String>) -> Option<Self> {
        let get = |key: &str| labels.get(key).cloned();
        Some(Self {
            instance: get(INSTANCE)?,
            stack_path: get(STACK)?,
            synced: Synced {
                revision: get(REVISION)?,
                compose_hash: get(COMPOSE_HASH)?,
                stack_hash: get(STACK_HASH)?,
                synced_at: get(SYNCED_AT)?,
                good_revision: get(GOOD_REVISION),
                rolled_back_from: get(ROLLED_BACK_FROM),
                held: get(HELD).as_deref() == Some("true"),
                rollback_reason: get(ROLLBACK_REASON),
            },
        })
    }
}

/// The newest apply among containers' label sets (a stack's containers can
/// carry different applies while one is being replaced).
pub fn last_synced<'a>(
    label_sets: impl IntoIterator<Item = &'a HashMap<String, String>>,
) -> Option<Synced> {
    label_sets
        .into_iter()
        .filter_map(|labels| StackLabels::read(labels).map(|l| l.synced))
        .max_by(|a, b| a.synced_at.cmp(&b.synced_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(revision: &str, at: &str) -> HashMap<String, String> {
        let labels = StackLabels {
            instance: "me".into(),
            stack_path: "apps/web".into(),
            synced: Synced {
                revision: revision.into(),
                compose_hash: "c".into(),
                stack_hash: "s".into(),
                synced_at: at.into(),
                good_revision: None,
                rolled_back_from: None,
                held: false,
                rollback_reason: None,
            },
        };
        labels
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn what_is_written_reads_back() {
        let set = written("abc", "2026-01-01T00:00:00Z");
        let read = StackLabels::read(&set).expect("complete set");
        assert_eq!(read.synced.revision, "abc");
        assert_eq!(read.stack_path, "apps/web");
        assert_eq!(set.get(MANAGED).map(String::as_str), Some("true"));
    }

    #[test]
    fn the_newest_complete_label_set_is_the_last_apply() {
        let partial = HashMap::from([(REVISION.to_string(), "zzz".to_string())]);
        let sets = [
            written("old", "2026-01-01T00:00:00Z"),
            partial,
            written("new", "2026-02-01T00:00:00Z"),
        ];
        assert_eq!(last_synced(&sets).map(|s| s.revision), Some("new".into()));
        assert_eq!(last_synced(&[]), None);
    }

    #[test]
    fn an_apply_stands_in_only_for_the_revision_it_rolled_back_from() {
        let mut synced = StackLabels::read(&written("abc", "2026-01-01T00:00:00Z"))
            .expect("complete set")
            .synced;
        assert!(
            !synced.stands_in_for("failed"),
            "an apply of Git stands in for none"
        );
        synced.rolled_back_from = Some("failed".into());
        assert!(synced.stands_in_for("failed"));
        assert!(
            !synced.stands_in_for("newer"),
            "Git moved on: the newer revision is applied"
        );
    }
}
