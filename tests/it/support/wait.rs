//! Waiting for something to become true: the one polling loop of the suite.
//!
//! A probe answers `Ok(value)` when the awaited state is reached, or
//! `Err(observation)`: what it saw instead, so that a timeout says what was
//! awaited and what was last seen rather than just "timed out".

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a probe runs: fast enough not to slow tests down, slow enough not
/// to load the machine while many tests wait in parallel.
pub const POLL: Duration = Duration::from_millis(50);

/// Runs `probe` until it answers `Ok`; panics after `timeout` naming `what` and
/// the last observation.
pub async fn wait_until<T, E, F, Fut>(what: &str, timeout: Duration, probe: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    poll_until(timeout, probe).await.unwrap_or_else(|last| {
        panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
    })
}

/// Runs `probe` until it answers `Ok`, at least once; after `timeout`, the last
/// observation. For callers that act on a timeout instead of failing.
pub async fn poll_until<T, E, F, Fut>(timeout: Duration, mut probe: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// Checks that `probe` keeps answering `Ok` for the whole of `period`; panics
/// at the first other answer, naming `what` and that observation. For "nothing
/// happens": a wrong action gets `period` to show itself.
pub async fn holds_for<E, F, Fut>(what: &str, period: Duration, mut probe: F)
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let end = Instant::now() + period;
    loop {
        if let Err(seen) = probe().await {
            panic!("{what} stopped holding within {period:?}: {seen}");
        }
        if Instant::now() >= end {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_until`] for synchronous probes, from code that runs outside the async
/// runtime (process and server start-up, drop guards).
pub fn wait_until_blocking<T, E, F>(what: &str, timeout: Duration, probe: F) -> T
where
    E: Display,
    F: FnMut() -> Result<T, E>,
{
    poll_until_blocking(timeout, probe).unwrap_or_else(|last| {
        panic!("timed out after {timeout:?} waiting for {what}; last: {last}")
    })
}

/// [`poll_until`] for synchronous probes.
pub fn poll_until_blocking<T, E, F>(timeout: Duration, mut probe: F) -> Result<T, E>
where
    F: FnMut() -> Result<T, E>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => std::thread::sleep(POLL),
        }
    }
}
