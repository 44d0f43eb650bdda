//! The statuses waiting to be posted: bounded, one per (context, commit), the
//! newest winning. A `success` queued while the `pending` of the same commit
//! still waits replaces it: the forge would only show the last one anyway.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::request::Update;

/// How many (context, commit) pairs may wait. Beyond it the oldest is
/// dropped: a forge that has been down that long gets the recent news.
pub const CAPACITY: usize = 256;

/// What identifies a status on a forge: the context and the commit.
type Key = (String, String);

/// A status waiting, with its delivery attempts so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// The status.
    pub update: Update,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this time (a backoff).
    not_before: Instant,
}

/// The queue itself; the sender's task owns it behind a lock.
#[derive(Debug, Default)]
pub struct Outbox {
    order: VecDeque<Key>,
    waiting: HashMap<Key, Waiting>,
}

impl Outbox {
    /// Queues `update`, replacing one waiting for the same context and commit;
    /// the oldest waiting one when it is full, if one had to go.
    pub fn push(&mut self, update: Update, now: Instant) -> Option<Update> {
        let key = (update.context.clone(), update.sha.clone());
        let fresh = Waiting {
            update,
            attempts: 0,
            not_before: now,
        };
        if self.waiting.insert(key.clone(), fresh).is_some() {
            return None;
        }
        self.order.push_back(key);
        if self.order.len() <= CAPACITY {
            return None;
        }
        let oldest = self.order.pop_front()?;
        self.waiting.remove(&oldest).map(|w| w.update)
    }

    /// Takes the first status due at `now`; else when the next one is due.
    pub fn take(&mut self, now: Instant) -> Result<Waiting, Option<Instant>> {
        let Some(index) = self
            .order
            .iter()
            .position(|key| self.waiting.get(key).is_some_and(|w| w.not_before <= now))
        else {
            return Err(self.waiting.values().map(|w| w.not_before).min());
        };
        let key = self.order.remove(index).ok_or(None)?;
        self.waiting.remove(&key).ok_or(None)
    }

    /// Puts a status that failed back, due after `delay`, unless a newer one
    /// for its context and commit came meanwhile (that one is sent instead).
    /// Whether it was put back.
    pub fn retry(&mut self, mut failed: Waiting, delay: Duration, now: Instant) -> bool {
        let key = (failed.update.context.clone(), failed.update.sha.clone());
        if self.waiting.contains_key(&key) || self.order.len() >= CAPACITY {
            return false;
        }
        failed.attempts += 1;
        failed.not_before = now + delay;
        self.waiting.insert(key.clone(), failed);
        self.order.push_back(key);
        true
    }

    /// How many wait.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit_status::request::State;

    fn update(sha: &str, state: State) -> Update {
        Update::new(sha, "docker-cd/i/web".into(), state, "d", None)
    }

    #[test]
    fn the_newest_state_of_a_commit_wins_and_order_is_kept() {
        let now = Instant::now();
        let mut outbox = Outbox::default();
        outbox.push(update("a", State::Pending), now);
        outbox.push(update("b", State::Pending), now);
        outbox.push(update("a", State::Success), now);
        assert_eq!(outbox.len(), 2);
        let first = outbox.take(now).expect("due");
        assert_eq!(
            (first.update.sha.as_str(), first.update.state),
            ("a", State::Success)
        );
        assert_eq!(outbox.take(now).map(|w| w.update.sha), Ok("b".into()));
        assert_eq!(outbox.take(now), Err(None));
    }

    #[test]
    fn a_retry_waits_its_delay_and_yields_to_a_newer_state() {
        let now = Instant::now();
        let mut outbox = Outbox::default();
        outbox.push(update("a", State::Pending), now);
        let failed = outbox.take(now).expect("due");
        assert!(outbox.retry(failed.clone(), Duration::from_secs(2), now));
        assert_eq!(outbox.take(now), Err(Some(now + Duration::from_secs(2))));
        let again = outbox.take(now + Duration::from_secs(2)).expect("due");
        assert_eq!(again.attempts, 1);

        outbox.push(update("a", State::Success), now);
        assert!(!outbox.retry(again, Duration::from_secs(2), now));
        assert_eq!(outbox.take(now).map(|w| w.update.state), Ok(State::Success));
    }

    #[test]
    fn a_full_outbox_drops_the_oldest() {
        let now = Instant::now();
        let mut outbox = Outbox::default();
        for n in 0..CAPACITY {
            assert_eq!(
                outbox.push(update(&n.to_string(), State::Pending), now),
                None
            );
        }
        let dropped = outbox.push(update("new", State::Pending), now);
        assert_eq!(dropped.map(|u| u.sha), Some("0".into()));
        assert_eq!(outbox.len(), CAPACITY);
    }
}
