//! `GET /api/events`: Server-Sent Events, one per stack status change and per refresh.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt as _};
use tokio::sync::Semaphore;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::ApiError;
use crate::events::EventBus;

/// How many event streams may be open at once. A dashboard tab holds one; each
/// holds a connection (of [`super::server::MAX_CONNECTIONS`]) for as long as it
/// is open, so streams alone may not take every connection.
pub const MAX_SUBSCRIBERS: usize = 64;

/// The event bus and the slots of its subscribers.
#[derive(Clone)]
pub struct EventStreams {
    bus: EventBus,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
}

impl EventStreams {
    /// Streams of `bus`, at most [`MAX_SUBSCRIBERS`] at once, each ended at `shutdown`.
    pub fn new(bus: EventBus, shutdown: CancellationToken) -> Self {
        Self {
            bus,
            slots: Arc::new(Semaphore::new(MAX_SUBSCRIBERS)),
            shutdown,
        }
    }
}

/// The stream of events from the moment of the request; 503 when
/// [`MAX_SUBSCRIBERS`] are open. A client that falls more than the bus's
/// capacity behind gets a `lagged` event: re-read `/api/stacks`.
pub async fn stream(
    State(streams): State<EventStreams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    // The slot lives in the stream's state: it is freed when the client goes
    // away and the server drops the stream.
    let slot = streams.slots.try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("too many event streams open (at most {MAX_SUBSCRIBERS}); retry later"),
        )
    })?;
    let receiver = streams.bus.subscribe();
    let events = stream::unfold((receiver, slot), |(mut receiver, slot)| async move {
        let event = match receiver.recv().await {
            Ok(event) => SseEvent::default()
                .event(event.kind())
                .json_data(&event)
                .unwrap_or_else(|_| SseEvent::default().event("error")),
            Err(RecvError::Lagged(missed)) => {
                SseEvent::default().event("lagged").data(missed.to_string())
            }
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (receiver, slot)))
    })
    // A graceful stop waits for every answer to end: an open stream would hold it for ever.
    .take_until(streams.shutdown.cancelled_owned());
    // Keep-alives stop proxies from closing an idle stream.
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
