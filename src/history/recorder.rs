//! The async face of the history: store calls on the blocking pool, and a
//! failed write costs a log line and a counter, never the reconcile.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::{IntCounter, Registry};

use crate::redact::SecretBook;

use super::{Entry, FILE_NAME, GateVerdict, HistoryError, HistoryStore, RedbStore, Run};

/// The history handle shared by the reconciler (writes) and the API (reads).
#[derive(Clone)]
pub struct History {
    store: Arc<dyn HistoryStore>,
    /// The run under way per stack, from [`History::begin`] to [`History::end`].
    /// The controller never reconciles one stack twice at once, so one slot
    /// per stack is enough.
    runs: Arc<Mutex<HashMap<String, Run>>>,
    errors: IntCounter,
    /// Masks the stack's secret values in every error, written or read.
    secrets: SecretBook,
}

impl History {
    /// Over `store`; failed writes count in `errors`.
    pub fn new(store: Arc<dyn HistoryStore>, errors: IntCounter) -> Self {
        Self {
            store,
            runs: Arc::default(),
            errors,
            secrets: SecretBook::new(),
        }
    }

    /// The same history, masking the values in `secrets`: on write (the file
    /// under `DATA_DIR` is readable too), and on read (for entries written
    /// before a value was known to be secret).
    #[must_use]
    pub fn masking(mut self, secrets: SecretBook) -> Self {
        self.secrets = secrets;
        self
    }

    /// Opens (or creates) `DATA_DIR/history.redb` and registers
    /// `history_errors_total`. Blocks briefly: called once at start.
    ///
    /// # Errors
    /// When the file cannot be opened (an unwritable `DATA_DIR`, another
    /// docker-cd on the same `DATA_DIR`).
    pub fn open(data_dir: &Path, registry: &Registry) -> Result<Self, HistoryError> {
        let store = RedbStore::open(&data_dir.join(FILE_NAME))?;
        let errors = IntCounter::new(
            "history_errors_total",
            "History entries that could not be written (the reconcile went on)",
        )?;
        registry.register(Box::new(errors.clone()))?;
        Ok(Self::new(Arc::new(store), errors))
    }

    /// Over an in-memory store, for unit tests.
    #[cfg(test)]
    pub fn in_memory() -> Self {
        let errors = IntCounter::new("history_errors_total", "test").expect("counter");
        Self::new(Arc::new(super::fake::MemoryStore::default()), errors)
    }

    /// Notes that `run` started on `stack`; [`History::end`] records it.
    pub fn begin(&self, stack: &str, run: Run) {
        self.slots().insert(stack.to_string(), run);
    }

    /// Records the run begun on `stack`, if any: a success without `error`.
    pub async fn end(&self, stack: &str, error: Option<String>) {
        let run = self.slots().remove(stack);
        if let Some(run) = run {
            self.record(stack, run.finish(error)).await;
        }
    }

    /// Records `entry`; a failure is logged and counted, never returned.
    pub async fn record(&self, stack: &str, mut entry: Entry) {
        self.secrets.mask_option(stack, &mut entry.error);
        self.write(stack, move |store, key| store.record(key, &entry))
            .await;
    }

    /// Gives the apply `verdict` is about its gate's verdict: the run under
    /// way, or else `stack`'s newest entry (the gate closes after the apply's
    /// entry is written). A failure is logged and counted, never returned.
    pub async fn settle(&self, stack: &str, mut verdict: GateVerdict) {
        self.secrets.mask_option(stack, &mut verdict.error);
        {
            let mut slots = self.slots();
            if let Some(run) = slots.get_mut(stack)
                && run.stack_hash() == Some(verdict.stack_hash.as_str())
            {
                run.settle(verdict);
                return;
            }
        }
        self.write(stack, move |store, key| store.settle(key, &verdict))
            .await;
    }

    /// Runs `write` on the blocking pool; a failure is logged and counted.
    async fn write(
        &self,
        stack: &str,
        write: impl FnOnce(&dyn HistoryStore, &str) -> Result<(), HistoryError> + Send + 'static,
    ) {
        let store = self.store.clone();
        let key = stack.to_string();
        let result = tokio::task::spawn_blocking(move || write(store.as_ref(), &key)).await;
        let error = match result {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(e) => HistoryError::Task(e.to_string()),
        };
        self.errors.inc();
        tracing::warn!(stack, %error, "history entry not recorded");
    }

    /// `stack`'s entries, newest first.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn list(&self, stack: &str) -> Result<Vec<Entry>, HistoryError> {
        let store = self.store.clone();
        let key = stack.to_string();
        let mut entries = tokio::task::spawn_blocking(move || store.list(&key))
            .await
            .map_err(|e| HistoryError::Task(e.to_string()))??;
        for entry in &mut entries {
            self.secrets.mask_option(stack, &mut entry.error);
        }
        Ok(entries)
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Run>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::fake::MemoryStore;
    use crate::history::{Cause, Operation, Trigger};
    use crate::status::Outcome;

    fn history(store: MemoryStore) -> History {
        let errors = IntCounter::new("errors", "errors").expect("counter");
        History::new(Arc::new(store), errors)
    }

    #[tokio::test]
    async fn a_run_is_recorded_once_when_it_ends_with_its_outcome() {
        let history = history(MemoryStore::default());
        history.end("web", None).await;
        assert!(
            history.list("web").await.expect("list").is_empty(),
            "nothing begun"
        );
        let run = Run::start(Operation::Remove, (Cause::Git, Trigger::Refresh), None);
        history.begin("web", run);
        history.end("web", Some("compose down failed".into())).await;
        history.end("web", None).await;
        let entries = history.list("web").await.expect("list");
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].outcome, Outcome::Failure);
        assert_eq!(entries[0].error.as_deref(), Some("compose down failed"));
        assert_eq!(entries[0].revision, None);
    }

    #[tokio::test]
    async fn errors_are_masked_when_written_and_when_read() {
        let store = Arc::new(MemoryStore::default());
        let errors = IntCounter::new("errors", "errors").expect("counter");
        let book = SecretBook::new();
        let history = History::new(store.clone(), errors).masking(book.clone());
        book.learn("web", &["pw-secret-1"].into_iter().collect());
        let run = Run::start(Operation::Apply, (Cause::Git, Trigger::Refresh), None);
        history.begin("web", run);
        history.end("web", Some("-P pw-secret-1".into())).await;
        let stored = store.list("web").expect("list");
        assert_eq!(stored[0].error.as_deref(), Some("-P (redacted)"));
        // Written before the value was known: masked on the way out.
        let unmasked = History::new(store, IntCounter::new("e", "e").expect("counter"));
        let run = Run::start(Operation::Apply, (Cause::Git, Trigger::Refresh), None);
        unmasked.begin("web", run);
        unmasked.end("web", Some("later-pw-2".into())).await;
        book.learn("web", &["later-pw-2"].into_iter().collect());
        let entries = history.list("web").await.expect("list");
        assert_eq!(entries[0].error.as_deref(), Some("(redacted)"));
    }

    #[tokio::test]
    async fn a_failing_store_is_counted_not_returned() {
        let history = history(MemoryStore::failing());
        history.begin(
            "web",
            Run::start(Operation::Apply, (Cause::Git, Trigger::Refresh), None),
        );
        history.end("web", None).await;
        assert_eq!(history.errors.get(), 1);
    }
}
