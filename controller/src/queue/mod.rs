//! A keyed work queue with client-go `workqueue` semantics, holding requests
//! ([`Keyed`]): a key and what rides along with it (why it was queued).
//!
//! - **Fair:** keys are handed out in the order of their first add.
//! - **Stingy:** a key is queued at most once; many adds before a [`WorkQueue::get`]
//!   give one run, and a key is never handed to two workers at once. The first
//!   request added wins: what rides along with later adds of the same key is
//!   dropped while it waits.
//! - **Re-add while processing** gives exactly one more run, after [`WorkQueue::done`].
//! - **Delays:** [`WorkQueue::add_after`] keeps one waiting entry per key; a second
//!   call only moves it earlier (and then its request replaces the first). Waiting keys are not dirty: a plain add queues the
//!   key at once and the waiting entry still fires later.
//! - **Rate limiting:** [`WorkQueue::add_rate_limited`] waits as long as the limiter
//!   says; [`WorkQueue::forget`] clears the key's failure history.
//!
//! One deliberate difference from client-go: after [`WorkQueue::shut_down`],
//! [`WorkQueue::get`] returns `None` at once even if keys are queued, because
//! docker-cd must start no new compose run once it is asked to stop; work already
//! handed out may finish ([`WorkQueue::shut_down_with_drain`] waits for it).
//!
//! Delayed keys need no timer task: every operation first promotes the waiting
//! keys whose time has come, and idle getters sleep until the earliest of them.

pub mod metrics;
pub mod rate_limit;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use self::metrics::QueueMetrics;
use self::rate_limit::{RateLimiter, default_rate_limiter};
use crate::request::Keyed;

/// A cheaply clonable handle to one shared queue of requests `T`.
pub struct WorkQueue<T: Keyed> {
    inner: Arc<Inner<T>>,
}

impl<T: Keyed> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<T: Keyed> {
    state: Mutex<State<T>>,
    /// Wakes getters: a key became ready, or the queue shut down.
    ready: Notify,
    /// Wakes `shut_down_with_drain`: processing went empty, or the drain was cut short.
    idle: Notify,
    limiter: Box<dyn RateLimiter<T::Key>>,
    metrics: Option<QueueMetrics>,
}

struct State<T: Keyed> {
    queue: VecDeque<T::Key>,
    /// Keys that need a run, with the time of their first add (for the latency
    /// metric) and the request that will be handed out.
    dirty: HashMap<T::Key, (Instant, T)>,
    /// Keys handed out and not yet done, with the time they were handed out.
    processing: HashMap<T::Key, Instant>,
    /// Delayed keys: ready time per key, and the same entries ordered by time.
    waiting: HashMap<T::Key, (Instant, u64)>,
    timeline: BTreeMap<(Instant, u64), T>,
    next_seq: u64,
    shutting_down: bool,
    drain: bool,
}

impl<T: Keyed> WorkQueue<T> {
    /// A queue with docker-cd's default limiter (see [`default_rate_limiter`]) and no metrics.
    pub fn new() -> Self {
        Self::with_limiter(default_rate_limiter(), None)
    }

    /// A queue with the given limiter and, optionally, metrics.
    pub fn with_limiter(
        limiter: impl RateLimiter<T::Key> + 'static,
        metrics: Option<QueueMetrics>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashMap::new(),
                    processing: HashMap::new(),
                    waiting: HashMap::new(),
                    timeline: BTreeMap::new(),
                    next_seq: 0,
                    shutting_down: false,
                    drain: false,
                }),
                ready: Notify::new(),
                idle: Notify::new(),
                limiter: Box::new(limiter),
                metrics,
            }),
        }
    }

    /// The state; a panic elsewhere cannot leave it inconsistent (every update
    /// is a few infallible steps), so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the request's key as needing a run. Ignored after shutdown.
    pub fn add(&self, request: T) {
        let mut state = self.lock();
        let now = Instant::now();
        let promoted = self.promote(&mut state, now);
        let queued = self.insert(&mut state, request, now);
        drop(state);
        if promoted || queued {
            self.inner.ready.notify_one();
        }
    }

    /// Adds the request to the dirty set (unless its key is there already);
    /// true when it went to the FIFO (a getter may take it).
    fn insert(&self, state: &mut State<T>, request: T, now: Instant) -> bool {
        let key = request.key().clone();
        if state.shutting_down || state.dirty.contains_key(&key) {
            return false;
        }
        if let Some(m) = &self.inner.metrics {
            m.adds.inc();
            m.depth.inc();
        }
        state.dirty.insert(key.clone(), (now, request));
        if state.processing.contains_key(&key) {
            // It goes back in line when the worker calls `done`.
            return false;
        }
        state.queue.push_back(key);
        true
    }

    /// Moves every waiting key whose time has come into the queue.
    fn promote(&self, state: &mut State<T>, now: Instant) -> bool {
        let mut any = false;
        while let Some(entry) = state.timeline.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let request = entry.remove();
            state.waiting.remove(request.key());
            any |= self.insert(state, request, now);
        }
        any
    }

    /// Adds the request once `delay` has passed; if its key is already
    /// waiting, the earlier time (and its request) wins.
    pub fn add_after(&self, request: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(request);
        }
        let mut state = self.lock();
        if state.shutting_down {
            return;
        }
        if let Some(m) = &self.inner.metrics {
            m.retries.inc();
        }
        let now = Instant::now();
        let at = now.checked_add(delay).unwrap_or_else(far_future);
        let key = request.key().clone();
        if let Some(&(current, seq)) = state.waiting.get(&key) {
            if current <= at {
                return;
            }
            state.timeline.remove(&(current, seq));
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.waiting.insert(key, (at, seq));
        state.timeline.insert((at, seq), request);
        drop(state);
        // An idle getter may be sleeping until a later time: let one recompute.
        self.inner.ready.notify_one();
    }

    /// Adds the request after the delay the rate limiter gives its key (this
    /// counts a failure).
    pub fn add_rate_limited(&self, request: T) {
        let delay = self.inner.limiter.when(request.key());
        self.add_after(request, delay);
    }

    /// Clears the failure history of `key` (call after a success; `done` is still needed).
    pub fn forget(&self, key: &T::Key) {
        self.inner.limiter.forget(key);
    }

    /// Failures of `key` since it was last forgotten.
    pub fn num_requeues(&self, key: &T::Key) -> usize {
        self.inner.limiter.num_requeues(key)
    }

    /// Waits for a request to work on; `None` once the queue is shut down.
    ///
    /// The caller owns its key until it calls [`WorkQueue::done`].
    pub async fn get(&self) -> Option<T> {
        loop {
            let mut notified = pin!(self.inner.ready.notified());
            // Registered before the state is read, so no wake-up between the two is lost.
            notified.as_mut().enable();
            let deadline = {
                let mut state = self.lock();
                let now = Instant::now();
                self.promote(&mut state, now);
                if state.shutting_down {
                    return None;
                }
                while let Some(key) = state.queue.pop_front() {
                    // Every queued key is dirty; one that is not has nothing to hand out.
                    let Some((added, request)) = state.dirty.remove(&key) else {
                        continue;
                    };
                    state.processing.insert(key, now);
                    let more = !state.queue.is_empty();
                    drop(state);
                    if let Some(m) = &self.inner.metrics {
                        m.depth.dec();
                        m.queue_duration
                            .observe(now.saturating_duration_since(added).as_secs_f64());
                    }
                    if more {
                        // Promotion may have readied several keys but woke nobody.
                        self.inner.ready.notify_one();
                    }
                    return Some(request);
                }
                state.timeline.first_key_value().map(|((at, _), _)| *at)
            };
            match deadline {
                Some(at) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Ends the work on `key`; if it was added meanwhile, it goes to the back of the queue.
    pub fn done(&self, key: &T::Key) {
        let mut state = self.lock();
        let now = Instant::now();
        if let Some(started) = state.processing.remove(key)
            && let Some(m) = &self.inner.metrics
        {
            m.work_duration
                .observe(now.saturating_duration_since(started).as_secs_f64());
        }
        let mut wake = self.promote(&mut state, now);
        if state.dirty.contains_key(key) {
            state.queue.push_back(key.clone());
            wake = true;
        }
        let idle = state.processing.is_empty();
        drop(state);
        if wake {
            self.inner.ready.notify_one();
        }
        if idle {
            self.inner.idle.notify_waiters();
        }
    }

    /// Keys waiting to be handed out (not those re-added while processing, nor delayed ones).
    pub fn len(&self) -> usize {
        let mut state = self.lock();
        let promoted = self.promote(&mut state, Instant::now());
        let len = state.queue.len();
        drop(state);
        if promoted {
            self.inner.ready.notify_one();
        }
        len
    }

    /// True when no key waits to be handed out.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once [`WorkQueue::shut_down`] or [`WorkQueue::shut_down_with_drain`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.lock().shutting_down
    }

    /// Stops handing out keys; adds are ignored and delayed keys dropped. Does not wait.
    pub fn shut_down(&self) {
        let mut state = self.lock();
        state.shutting_down = true;
        state.drain = false;
        state.waiting.clear();
        state.timeline.clear();
        drop(state);
        self.inner.ready.notify_waiters();
        self.inner.idle.notify_waiters();
    }

    /// Shuts down, then waits until every handed-out key is done
    /// (or a later [`WorkQueue::shut_down`] cuts the wait short).
    pub async fn shut_down_with_drain(&self) {
        {
            let mut state = self.lock();
            state.shutting_down = true;
            state.drain = true;
            state.waiting.clear();
            state.timeline.clear();
        }
        self.inner.ready.notify_waiters();
        loop {
            let mut idle = pin!(self.inner.idle.notified());
            idle.as_mut().enable();
            {
                let state = self.lock();
                if !state.drain || state.processing.is_empty() {
                    return;
                }
            }
            idle.await;
        }
    }
}

impl<T: Keyed> Default for WorkQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// About thirty years from now: "never" for a delay that overflows the clock.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

#[cfg(test)]
mod tests;
