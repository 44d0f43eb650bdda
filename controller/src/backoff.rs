//! Reconnect backoff for informers (a watch that keeps failing must not spin).
//!
//! Exponential with jitter, as kube-runtime's watcher: 800 ms doubling to 30 s,
//! ±25 % jitter so many clients do not reconnect in lock-step, and a reset once
//! the connection has stayed up for two minutes.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use tokio::time::Instant;

/// Exponential backoff with jitter and a reset after a quiet period.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: u32,
    jitter: bool,
    reset_after: Duration,
    current: Duration,
    last: Option<Instant>,
    seed: RandomState,
    draws: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(800), Duration::from_secs(30))
            .with_reset_after(Duration::from_secs(120))
    }
}

impl Backoff {
    /// Starts at `initial`, doubles up to `max`, with jitter, resets after 120 s.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            factor: 2,
            jitter: true,
            reset_after: Duration::from_secs(120),
            current: initial,
            last: None,
            seed: RandomState::new(),
            draws: 0,
        }
    }

    /// Turns jitter off (for exact tests).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// Starts over when the previous delay was asked for longer ago than `quiet`.
    pub fn with_reset_after(mut self, quiet: Duration) -> Self {
        self.reset_after = quiet;
        self
    }

    /// The next delay to wait.
    pub fn next_delay(&mut self) -> Duration {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) >= self.reset_after)
        {
            self.reset();
        }
        self.last = Some(now);
        let base = self.current;
        self.current = self
            .current
            .checked_mul(self.factor)
            .map_or(self.max, |d| d.min(self.max));
        if self.jitter {
            self.jittered(base)
        } else {
            base
        }
    }

    /// Starts over from the initial delay (call after a success).
    pub fn reset(&mut self) {
        self.current = self.initial;
        self.last = None;
    }

    /// `base` scaled by a factor in [0.75, 1.25).
    fn jittered(&mut self, base: Duration) -> Duration {
        let mut hasher = self.seed.build_hasher();
        hasher.write_u64(self.draws);
        self.draws += 1;
        let unit = (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(0.75 + unit * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn grows_to_the_cap_and_resets() {
        let mut b =
            Backoff::new(Duration::from_millis(800), Duration::from_secs(30)).without_jitter();
        let delays: Vec<u128> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(800));
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_quiet_period_starts_over() {
        let mut b = Backoff::default().without_jitter();
        for _ in 0..5 {
            b.next_delay();
        }
        tokio::time::advance(Duration::from_secs(121)).await;
        assert_eq!(b.next_delay(), Duration::from_millis(800));
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_stays_within_a_quarter() {
        let mut b = Backoff::default();
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..50 {
            b.reset();
            let d = b.next_delay();
            assert!((600..1000).contains(&d.as_millis()), "{d:?}");
            distinct.insert(d);
        }
        assert!(distinct.len() > 10, "jitter varies: {distinct:?}");
    }
}
