//! Periodic resync: a source that, every period, yields every key some closure
//! lists — the level-triggered safety net against a missed or lost event, as
//! controller-runtime's `SyncPeriod`. It knows nothing of where keys come from.

use std::time::Duration;

use futures::stream::{self, Stream, StreamExt as _};
use tokio::time::MissedTickBehavior;

/// Every `period` (first after one period, not at once), the keys `list` returns
/// then. A slow consumer delays the next tick rather than bunching them.
pub fn resync<K, I, F>(period: Duration, list: F) -> impl Stream<Item = K> + Send
where
    K: Send + 'static,
    I: IntoIterator<Item = K>,
    I::IntoIter: Send,
    F: FnMut() -> I + Send + 'static,
{
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    stream::unfold((ticks, list), |(mut ticks, mut list)| async move {
        ticks.tick().await;
        let keys = list();
        Some((stream::iter(keys), (ticks, list)))
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Keys the stream yields within `window` from now.
    async fn collected<S: Stream<Item = u32>>(
        stream: &mut std::pin::Pin<&mut S>,
        window: Duration,
    ) -> Vec<u32> {
        let mut keys = Vec::new();
        let deadline = tokio::time::sleep(window);
        let mut deadline = pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => return keys,
                key = stream.next() => keys.extend(key),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn yields_the_listed_keys_once_per_period_and_not_at_start() {
        let listed = Arc::new(Mutex::new(vec![1, 2]));
        let source = listed.clone();
        let stream = resync(Duration::from_secs(300), move || {
            source.lock().map(|keys| keys.clone()).unwrap_or_default()
        });
        let mut stream = pin!(stream);
        assert!(
            collected(&mut stream, Duration::from_secs(299))
                .await
                .is_empty(),
            "nothing before the first period"
        );
        assert_eq!(
            collected(&mut stream, Duration::from_secs(2)).await,
            vec![1, 2]
        );
        if let Ok(mut keys) = listed.lock() {
            keys.push(3);
        }
        assert_eq!(
            collected(&mut stream, Duration::from_secs(300)).await,
            vec![1, 2, 3],
            "each period lists afresh"
        );
    }
}
