//! The status table: what the reconciler last found and did, per stack.
//!
//! The reconciler is its only writer; the API, the dashboard and the metrics
//! read it. Every status change is published on the event bus and reflected in
//! `dockercd_stacks{status}`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;

use crate::events::{Event, EventBus};
use crate::labels::Synced;
use crate::metrics::AppMetrics;
use crate::named::named_enum;
use crate::redact::SecretBook;

named_enum! {
    /// A stack's status (see the contract for each meaning).
    pub enum Status {
        /// Seen in Docker, but no Git snapshot has been read since the start:
        /// whether it is desired is not known, and nothing is done to it.
        Unknown = "unknown",
        /// Desired, not running.
        Missing = "missing",
        /// An apply is running.
        Syncing = "syncing",
        /// Every service runs (healthy where checked) with labels of the desired `stack_hash`.
        Synced = "synced",
        /// The last apply failed, or the stack cannot be deployed at this revision.
        Failed = "failed",
        /// A removal is running.
        Deleting = "deleting",
        /// The runtime differs from the desired state and is left alone until acknowledged.
        Drifted = "drifted",
        /// Running, no longer desired, removal disabled.
        Orphaned = "orphaned",
        /// The desired revision failed its health gate; the last good one runs again.
        RolledBack = "rolled-back",
    }
}

impl Status {
    /// How the dashboard colours it.
    pub fn tone(self) -> Tone {
        match self {
            Self::Synced => Tone::Good,
            Self::Syncing | Self::Deleting => Tone::Busy,
            Self::Failed => Tone::Bad,
            Self::Drifted | Self::Orphaned | Self::RolledBack => Tone::Warn,
            Self::Missing | Self::Unknown => Tone::Idle,
        }
    }
}

named_enum! {
    /// A status's colour on the dashboard.
    pub enum Tone {
        /// Green: runs as Git says.
        Good = "good",
        /// Blue: something is running.
        Busy = "busy",
        /// Red: the last apply or removal failed.
        Bad = "bad",
        /// Yellow: needs a look.
        Warn = "warn",
        /// Grey: nothing runs yet, or nothing is known yet.
        Idle = "idle",
    }
}

named_enum! {
    /// How an apply or removal ended.
    pub enum Outcome {
        /// Compose ran and the runtime matched.
        Success = "success",
        /// It failed; the error says why.
        Failure = "failure",
    }
}

/// Outcome of the last apply or removal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastResult {
    /// How it ended.
    pub outcome: Outcome,
    /// RFC 3339.
    pub at: String,
    /// Why it failed.
    pub error: Option<String>,
}

/// The reconciler's record of one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRecord {
    /// Current status.
    pub status: Status,
    /// Why the stack is failed or drifted, when it is.
    pub error: Option<String>,
    /// Outcome of the last apply or removal.
    pub last_result: Option<LastResult>,
    /// What the runtime says was last applied.
    pub synced: Option<Synced>,
}

impl LastResult {
    /// An outcome now.
    pub fn now(outcome: Outcome, error: Option<String>) -> Self {
        Self {
            outcome,
            at: jiff::Timestamp::now().to_string(),
            error,
        }
    }
}

impl StackRecord {
    /// A record with only a status.
    pub fn new(status: Status) -> Self {
        Self {
            status,
            error: None,
            last_result: None,
            synced: None,
        }
    }
}

/// Why a stack is `unknown`, shown as its error.
pub const UNKNOWN_WHY: &str =
    "no Git snapshot has been read yet: whether the stack is desired is not known";

/// Shared table of stack records.
#[derive(Clone)]
pub struct StatusTable {
    records: Arc<RwLock<BTreeMap<String, StackRecord>>>,
    /// Bumped by every write: readers that cache derived views compare it.
    version: Arc<AtomicU64>,
    events: EventBus,
    metrics: AppMetrics,
    /// Masks the stack's secret values in every error written.
    secrets: SecretBook,
}

impl StatusTable {
    /// An empty table publishing to `events` and `metrics`, its errors masked
    /// with `secrets`.
    pub fn new(events: EventBus, metrics: AppMetrics, secrets: SecretBook) -> Self {
        let table = Self {
            records: Arc::default(),
            version: Arc::default(),
            events,
            metrics,
            secrets,
        };
        // Every status shows from the start, so dashboards read 0 rather than nothing.
        table.refresh_gauges(&BTreeMap::new());
        table
    }

    /// Changes with every write.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The record of `name`.
    pub fn get(&self, name: &str) -> Option<StackRecord> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every record, by name.
    pub fn all(&self) -> BTreeMap<String, StackRecord> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the record of `name` (starting from `Missing` when there is none);
    /// publishes an event when the status or error changed.
    pub fn update(&self, name: &str, change: impl FnOnce(&mut StackRecord)) {
        let (before, after) = {
            let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
            self.version.fetch_add(1, Ordering::AcqRel);
            let before = records.get(name).cloned();
            let record = records
                .entry(name.to_string())
                .or_insert_with(|| StackRecord::new(Status::Missing));
            change(record);
            // Compose's output, a healthcheck's: whoever wrote the error, it is
            // masked here, before the API, the dashboard or SSE can read it.
            self.secrets.mask_option(name, &mut record.error);
            if let Some(last) = &mut record.last_result {
                self.secrets.mask_option(name, &mut last.error);
            }
            let after = record.clone();
            self.refresh_gauges(&records);
            (before, after)
        };
        let changed = before
            .as_ref()
            .is_none_or(|b| b.status != after.status || b.error != after.error);
        if changed {
            self.events.publish(Event::Stack {
                name: name.to_string(),
                status: after.status.as_str().to_string(),
                previous: before.map(|b| b.status.as_str().to_string()),
                error: after.error,
            });
        }
    }

    /// Records the stacks seen in Docker as `unknown` while no Git snapshot
    /// has been read; a stack that has a record already keeps it.
    pub fn mark_unknown<'n>(&self, names: impl IntoIterator<Item = &'n str>) {
        for name in names {
            if self.get(name).is_none() {
                self.update(name, |r| {
                    r.status = Status::Unknown;
                    r.error = Some(UNKNOWN_WHY.to_string());
                });
            }
        }
    }

    /// Forgets `name` (it is neither desired nor running any more); SSE clients
    /// get a `removed` status so they can drop the row.
    pub fn remove(&self, name: &str) {
        let removed = {
            let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
            let removed = records.remove(name);
            self.version.fetch_add(1, Ordering::AcqRel);
            if removed.is_some() {
                self.refresh_gauges(&records);
            }
            removed
        };
        if let Some(record) = removed {
            self.events.publish(Event::Stack {
                name: name.to_string(),
                status: "removed".to_string(),
                previous: Some(record.status.as_str().to_string()),
                error: None,
            });
        }
    }

    fn refresh_gauges(&self, records: &BTreeMap<String, StackRecord>) {
        for &status in Status::ALL {
            let count = records.values().filter(|r| r.status == status).count();
            self.metrics
                .stacks
                .with_label_values(&[status.as_str()])
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (
        StatusTable,
        tokio::sync::broadcast::Receiver<Event>,
        AppMetrics,
    ) {
        let registry = prometheus::Registry::new();
        let metrics = AppMetrics::register(&registry).expect("metrics");
        let events = EventBus::new();
        let rx = events.subscribe();
        (
            StatusTable::new(events, metrics.clone(), SecretBook::new()),
            rx,
            metrics,
        )
    }

    #[test]
    fn only_stacks_without_a_record_are_marked_unknown_and_counted() {
        let (table, _rx, metrics) = table();
        table.update("web", |r| r.status = Status::Synced);
        table.mark_unknown(["web", "db"]);
        assert_eq!(table.get("web").map(|r| r.status), Some(Status::Synced));
        assert_eq!(table.get("db").map(|r| r.status), Some(Status::Unknown));
        let unknown = metrics.stacks.with_label_values(&["unknown"]).get();
        assert_eq!(unknown, 1);
    }

    #[test]
    fn errors_are_masked_in_the_record_and_its_event() {
        let registry = prometheus::Registry::new();
        let metrics = AppMetrics::register(&registry).expect("metrics");
        let book = SecretBook::new();
        book.learn("web", &["pw-secret-1"].into_iter().collect());
        let events = EventBus::masking(book.clone());
        let mut rx = events.subscribe();
        let table = StatusTable::new(events, metrics, book);
        table.update("web", |r| {
            r.status = Status::Failed;
            r.error = Some("compose up failed: -P pw-secret-1".into());
            r.last_result = Some(LastResult::now(Outcome::Failure, r.error.clone()));
        });
        let record = table.get("web").expect("record");
        assert_eq!(
            record.error.as_deref(),
            Some("compose up failed: -P (redacted)")
        );
        assert_eq!(record.last_result.and_then(|l| l.error), record.error);
        match rx.try_recv() {
            Ok(Event::Stack { error, .. }) => assert_eq!(error, record.error),
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn status_changes_publish_one_event_each_and_update_gauges() {
        let (table, mut rx, metrics) = table();
        table.update("web", |r| r.status = Status::Syncing);
        table.update("web", |r| r.status = Status::Syncing);
        table.update("web", |r| r.status = Status::Synced);
        let statuses: Vec<(String, Option<String>)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| match e {
                Event::Stack {
                    status, previous, ..
                } => (status, previous),
                other => unreachable!("{other:?}"),
            })
            .collect();
        assert_eq!(
            statuses,
            vec![
                ("syncing".to_string(), None),
                ("synced".to_string(), Some("syncing".to_string()))
            ]
        );
        assert_eq!(metrics.stacks.with_label_values(&["synced"]).get(), 1);
        assert_eq!(metrics.stacks.with_label_values(&["syncing"]).get(), 0);
        table.remove("web");
        assert_eq!(metrics.stacks.with_label_values(&["synced"]).get(), 0);
    }
}
