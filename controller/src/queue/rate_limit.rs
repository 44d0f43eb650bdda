//! How long a failed key waits before its next run (client-go `default_rate_limiters.go`).
//!
//! [`RateLimiter::when`] counts one failure of the key and returns its delay;
//! [`RateLimiter::forget`] clears the key's history after a success.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Decides the delay before a failed key is retried.
pub trait RateLimiter<K>: Send + Sync {
    /// Counts one failure of `key` and returns how long it waits.
    fn when(&self, key: &K) -> Duration;
    /// Clears the failure history of `key`.
    fn forget(&self, key: &K);
    /// Failures of `key` counted since it was last forgotten.
    fn num_requeues(&self, key: &K) -> usize;
}

impl<K, L: RateLimiter<K> + ?Sized> RateLimiter<K> for Box<L> {
    fn when(&self, key: &K) -> Duration {
        (**self).when(key)
    }
    fn forget(&self, key: &K) {
        (**self).forget(key)
    }
    fn num_requeues(&self, key: &K) -> usize {
        (**self).num_requeues(key)
    }
}

/// The limiter docker-cd uses: per-key 1 s doubling to 5 min, and a global bucket
/// of 10 retries per second with a burst of 100.
///
/// client-go starts at 5 ms; a compose run costs seconds, so retrying a broken
/// stack every few milliseconds would only burn CPU and flood the log.
pub fn default_rate_limiter<K>() -> MaxOf<K>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
{
    MaxOf::new(vec![
        Box::new(ItemExponential::new(
            Duration::from_secs(1),
            Duration::from_secs(300),
        )),
        Box::new(TokenBucket::new(10.0, 100)),
    ])
}

/// A poisoned lock only means another thread panicked mid-update of plain counters;
/// the counters are still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Per-key exponential backoff: `base · 2^failures`, capped at `max`.
#[derive(Debug)]
pub struct ItemExponential<K> {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<K, u32>>,
}

impl<K> ItemExponential<K> {
    /// A limiter starting at `base` and never waiting longer than `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone + Send + Sync> RateLimiter<K> for ItemExponential<K> {
    fn when(&self, key: &K) -> Duration {
        let exp = {
            let mut failures = lock(&self.failures);
            let count = failures.entry(key.clone()).or_insert(0);
            let exp = *count;
            *count = count.saturating_add(1);
            exp
        };
        // Overflow of the multiplication means "longer than anything": the cap.
        2u32.checked_pow(exp)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.max, |delay| delay.min(self.max))
    }

    fn forget(&self, key: &K) {
        lock(&self.failures).remove(key);
    }

    fn num_requeues(&self, key: &K) -> usize {
        lock(&self.failures).get(key).map_or(0, |n| *n as usize)
    }
}

/// `fast` for the first `max_fast` failures of a key, `slow` after.
#[derive(Debug)]
pub struct FastSlow<K> {
    fast: Duration,
    slow: Duration,
    max_fast: u32,
    failures: Mutex<HashMap<K, u32>>,
}

impl<K> FastSlow<K> {
    /// A two-speed limiter.
    pub fn new(fast: Duration, slow: Duration, max_fast: u32) -> Self {
        Self {
            fast,
            slow,
            max_fast,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone + Send + Sync> RateLimiter<K> for FastSlow<K> {
    fn when(&self, key: &K) -> Duration {
        let mut failures = lock(&self.failures);
        let count = failures.entry(key.clone()).or_insert(0);
        *count = count.saturating_add(1);
        if *count <= self.max_fast {
            self.fast
        } else {
            self.slow
        }
    }

    fn forget(&self, key: &K) {
        lock(&self.failures).remove(key);
    }

    fn num_requeues(&self, key: &K) -> usize {
        lock(&self.failures).get(key).map_or(0, |n| *n as usize)
    }
}

/// A global token bucket with reservation semantics (golang.org/x/time/rate `Reserve`).
///
/// Not `governor`: governor's GCRA refuses a non-conforming call without taking a
/// cell, while client-go's bucket *always* reserves one and hands back the wait,
/// so a burst of failures is spread out instead of retried together. Built on
/// tokio's clock so paused-time tests are exact.
#[derive(Debug)]
pub struct TokenBucket {
    interval: Duration,
    tolerance: Duration,
    /// Theoretical arrival time of the next token.
    tat: Mutex<Option<Instant>>,
}

impl TokenBucket {
    /// `qps` tokens per second, at most `burst` at once (at least 1).
    pub fn new(qps: f64, burst: u32) -> Self {
        let interval = if qps > 0.0 && qps.is_finite() {
            Duration::from_secs_f64(1.0 / qps)
        } else {
            Duration::ZERO
        };
        Self {
            interval,
            tolerance: interval * burst.max(1),
            tat: Mutex::new(None),
        }
    }
}

impl<K> RateLimiter<K> for TokenBucket {
    fn when(&self, _key: &K) -> Duration {
        let now = Instant::now();
        let mut tat = lock(&self.tat);
        let next = tat.map_or(now, |t| t.max(now)) + self.interval;
        *tat = Some(next);
        next.saturating_duration_since(now)
            .saturating_sub(self.tolerance)
    }

    fn forget(&self, _key: &K) {}

    fn num_requeues(&self, _key: &K) -> usize {
        0
    }
}

/// The longest delay of several limiters; every one of them is charged.
pub struct MaxOf<K> {
    limiters: Vec<Box<dyn RateLimiter<K>>>,
}

impl<K> MaxOf<K> {
    /// Combines `limiters`.
    pub fn new(limiters: Vec<Box<dyn RateLimiter<K>>>) -> Self {
        Self { limiters }
    }
}

impl<K> RateLimiter<K> for MaxOf<K> {
    fn when(&self, key: &K) -> Duration {
        self.limiters
            .iter()
            .map(|l| l.when(key))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    fn forget(&self, key: &K) {
        self.limiters.iter().for_each(|l| l.forget(key));
    }

    fn num_requeues(&self, key: &K) -> usize {
        self.limiters
            .iter()
            .map(|l| l.num_requeues(key))
            .max()
            .unwrap_or(0)
    }
}

/// Caps another limiter's delay at `max_wait`.
pub struct WithMaxWait<L> {
    inner: L,
    max_wait: Duration,
}

impl<L> WithMaxWait<L> {
    /// Wraps `inner`.
    pub fn new(inner: L, max_wait: Duration) -> Self {
        Self { inner, max_wait }
    }
}

impl<K, L: RateLimiter<K>> RateLimiter<K> for WithMaxWait<L> {
    fn when(&self, key: &K) -> Duration {
        self.inner.when(key).min(self.max_wait)
    }
    fn forget(&self, key: &K) {
        self.inner.forget(key)
    }
    fn num_requeues(&self, key: &K) -> usize {
        self.inner.num_requeues(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn item_exponential_doubles_caps_and_forget_resets() {
        let l = ItemExponential::new(MS, Duration::from_secs(1));
        let one = "one".to_string();
        let delays: Vec<_> = (0..5).map(|_| l.when(&one)).collect();
        assert_eq!(delays, [MS, 2 * MS, 4 * MS, 8 * MS, 16 * MS]);
        assert_eq!(l.num_requeues(&one), 5);
        // Another key has its own history.
        assert_eq!(l.when(&"two".to_string()), MS);
        for _ in 0..20 {
            l.when(&one);
        }
        assert_eq!(l.when(&one), Duration::from_secs(1), "capped");
        l.forget(&one);
        assert_eq!(l.num_requeues(&one), 0);
        assert_eq!(l.when(&one), MS);
    }

    #[test]
    fn item_exponential_overflow_returns_the_cap() {
        let l = ItemExponential::new(MS, Duration::from_secs(1000));
        for _ in 0..5 {
            l.when(&1);
        }
        assert_eq!(l.when(&1), 32 * MS);
        for _ in 0..1000 {
            l.when(&1);
        }
        assert_eq!(l.when(&1), Duration::from_secs(1000));

        let huge = ItemExponential::new(Duration::from_secs(u64::MAX / 2), Duration::MAX);
        huge.when(&1);
        huge.when(&1);
        assert_eq!(
            huge.when(&1),
            Duration::MAX,
            "multiplication overflow is the cap"
        );
    }

    #[test]
    fn fast_slow_switches_after_max_fast() {
        let l = FastSlow::new(5 * MS, 10 * MS, 3);
        let delays: Vec<_> = (0..5).map(|_| l.when(&"a")).collect();
        assert_eq!(delays, [5 * MS, 5 * MS, 5 * MS, 10 * MS, 10 * MS]);
        assert_eq!(l.num_requeues(&"a"), 5);
        l.forget(&"a");
        assert_eq!(l.when(&"a"), 5 * MS);
    }

    #[test]
    fn max_of_takes_the_longest_and_charges_all() {
        let l: MaxOf<&str> = MaxOf::new(vec![
            Box::new(ItemExponential::new(MS, Duration::from_secs(1))),
            Box::new(FastSlow::new(5 * MS, 3 * Duration::from_secs(1), 3)),
        ]);
        assert_eq!(l.when(&"one"), 5 * MS);
        assert_eq!(l.when(&"one"), 5 * MS);
        assert_eq!(l.when(&"one"), 5 * MS);
        assert_eq!(l.when(&"one"), Duration::from_secs(3));
        assert_eq!(l.num_requeues(&"one"), 4);
        l.forget(&"one");
        assert_eq!(l.num_requeues(&"one"), 0);
        assert_eq!(l.when(&"one"), 5 * MS);
    }

    #[test]
    fn with_max_wait_caps_the_inner_delay() {
        let l = WithMaxWait::new(
            ItemExponential::new(Duration::from_secs(1), Duration::from_secs(100)),
            Duration::from_secs(3),
        );
        let delays: Vec<_> = (0..4).map(|_| l.when(&"k")).collect();
        assert_eq!(
            delays,
            [1, 2, 3, 3].map(Duration::from_secs),
            "1 s, 2 s, then capped at 3 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_lets_the_burst_through_then_spaces_retries() {
        let bucket = TokenBucket::new(10.0, 100);
        for i in 0..100 {
            assert_eq!(
                RateLimiter::<u32>::when(&bucket, &i),
                Duration::ZERO,
                "burst {i}"
            );
        }
        assert_eq!(RateLimiter::<u32>::when(&bucket, &0), 100 * MS);
        assert_eq!(
            RateLimiter::<u32>::when(&bucket, &1),
            200 * MS,
            "each call reserves a token"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        // One second refilled ten tokens, two of which were already promised.
        assert_eq!(RateLimiter::<u32>::when(&bucket, &2), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(60)).await;
        for i in 0..100 {
            assert_eq!(
                RateLimiter::<u32>::when(&bucket, &i),
                Duration::ZERO,
                "refilled {i}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn default_limiter_starts_at_one_second_and_caps_at_five_minutes() {
        let l = default_rate_limiter::<String>();
        let key = "web".to_string();
        let delays: Vec<_> = (0..12).map(|_| l.when(&key).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        l.forget(&key);
        assert_eq!(l.when(&key), Duration::from_secs(1));
    }
}
