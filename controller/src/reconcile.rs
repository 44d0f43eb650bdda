//! What a reconciler is and what it answers.

use std::future::Future;
use std::time::Duration;

/// What the controller does with a key after a successful reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    requeue_after: Option<Duration>,
}

impl Action {
    /// Run the key again after `delay` (e.g. while containers become healthy).
    pub fn requeue(delay: Duration) -> Self {
        Self {
            requeue_after: Some(delay),
        }
    }

    /// Nothing to do until an informer reports a change of this key.
    pub fn await_change() -> Self {
        Self {
            requeue_after: None,
        }
    }

    /// The requested delay, if any.
    pub fn requeue_after(&self) -> Option<Duration> {
        self.requeue_after
    }
}

/// An error of a reconcile, as the controller needs to see it.
pub trait ReconcileError: std::fmt::Display + Send + 'static {
    /// True when retrying cannot help until the input changes (e.g. an invalid
    /// compose file at this revision): no backoff retry, the next change runs it.
    fn is_terminal(&self) -> bool {
        false
    }

    /// A short, low-cardinality label for metrics (`compose`, `docker`, …).
    fn reason(&self) -> &'static str;
}

/// Makes the world match the desired state for one key. Must be idempotent:
/// it is called again for any change, on every resync and after failures.
pub trait Reconciler<T>: Send + Sync + 'static {
    /// Why a reconcile failed.
    type Error: ReconcileError;

    /// Reads desired and actual state of the request's key, acts, and says
    /// when to look again. What else the request carries (why it was queued)
    /// is for the record, never a substitute for reading the state.
    fn reconcile(&self, request: &T) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}
