//! What the queue holds: a key, and why it was queued.
//!
//! As kube-runtime's `ReconcileRequest`, the reason rides along with the key
//! but is not part of its identity: a key is queued once whatever the reasons,
//! and the first reason wins while it waits. Plain keys (`String`, integers)
//! are requests without a reason, which keeps the queue usable on its own.

use std::fmt;
use std::hash::Hash;

/// Something the queue can hold: a key that decides identity, and whatever
/// else rides along with it.
pub trait Keyed: Clone + Send + Sync + 'static {
    /// What identifies it in the queue (and in the rate limiter).
    type Key: Eq + Hash + Clone + fmt::Display + Send + Sync + 'static;

    /// Its key.
    fn key(&self) -> &Self::Key;

    /// The same key, run again because its reconcile asked to
    /// ([`crate::Action::requeue`]).
    fn requeued(&self) -> Self {
        self.clone()
    }

    /// The same key, run again because its reconcile failed.
    fn retried(&self) -> Self {
        self.clone()
    }

    /// Why it was queued, for the worker's span; `None` for a plain key.
    fn reason(&self) -> Option<String> {
        None
    }
}

/// Why a key is queued, as the controller needs to see it: its own two
/// reasons (a requeue and a retry) are made from the reason they follow.
pub trait Reason: Clone + fmt::Display + Send + Sync + 'static {
    /// The reason of a run the reconcile asked for, after one for `self`.
    fn requeued(&self) -> Self;

    /// The reason of a retry after a failed run for `self`.
    fn retried(&self) -> Self;
}

/// A key to reconcile and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<K, R> {
    /// What to reconcile.
    pub key: K,
    /// Why now.
    pub reason: R,
}

impl<K, R> Request<K, R> {
    /// `key`, queued for `reason`.
    pub fn new(key: K, reason: R) -> Self {
        Self { key, reason }
    }
}

impl<K, R> Keyed for Request<K, R>
where
    K: Eq + Hash + Clone + fmt::Display + Send + Sync + 'static,
    R: Reason,
{
    type Key = K;

    fn key(&self) -> &K {
        &self.key
    }

    fn requeued(&self) -> Self {
        Self::new(self.key.clone(), self.reason.requeued())
    }

    fn retried(&self) -> Self {
        Self::new(self.key.clone(), self.reason.retried())
    }

    fn reason(&self) -> Option<String> {
        Some(self.reason.to_string())
    }
}

/// Plain keys: requests without a reason.
macro_rules! plain_keys {
    ($($t:ty),*) => {$(
        impl Keyed for $t {
            type Key = $t;

            fn key(&self) -> &$t {
                self
            }
        }
    )*};
}

plain_keys!(String, u32, u64, usize);

/// A reason for tests: its text, and what the controller makes of it.
#[cfg(test)]
pub(crate) mod testing {
    use std::fmt;

    use super::{Reason, Request};

    /// Why, as text.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Why(pub String);

    impl fmt::Display for Why {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl Reason for Why {
        fn requeued(&self) -> Self {
            Self(format!("requeue after {}", self.0))
        }

        fn retried(&self) -> Self {
            Self(format!("retry of {}", self.0))
        }
    }

    /// `key`, queued because `why`.
    pub fn request(key: &str, why: &str) -> Request<String, Why> {
        Request::new(key.to_string(), Why(why.to_string()))
    }
}
