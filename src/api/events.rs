//! `GET /api/events`: Server-Sent Events, one per stack status change and per refresh.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::events::EventBus;

/// The stream of events from the moment of the request. A client that falls
/// more than the bus's capacity behind gets a `lagged` event: re-read `/api/stacks`.
pub async fn stream(
    State(events): State<EventBus>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = events.subscribe();
    let events = stream::unfold(receiver, |mut receiver| async move {
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
        Some((Ok(event), receiver))
    });
    // Keep-alives stop proxies from closing an idle stream.
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
