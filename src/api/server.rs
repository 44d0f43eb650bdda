//! The HTTP server loop: axum's router on hyper's HTTP/1 connections, with the
//! bounds `axum::serve` lacks — a header-read timeout and a connection cap.
//!
//! Without them a client that opens sockets and never finishes a request
//! (slowloris) holds a task and a file descriptor each, for ever, until the
//! process runs out of descriptors.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to send a request's headers, counted from the
/// connection's start or the end of its previous answer: it also bounds an
/// idle keep-alive connection. Browsers and curl send headers in one packet.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once. More wait in the kernel's backlog until one
/// closes; each costs a task, buffers and a descriptor, and the default soft
/// limit on descriptors is 1024, which compose and Git children share.
pub const MAX_CONNECTIONS: usize = 256;

/// Below this many free slots, new connections are served without keep-alive:
/// each closes after its answer instead of holding a slot while idle, so a
/// burst of clients (a webhook flood, a crowd of dashboards) keeps moving.
const KEEP_ALIVE_MIN_FREE: usize = MAX_CONNECTIONS / 8;

/// After an accept fails for want of resources (no descriptor left), a pause
/// before the next, rather than a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How long answers in flight may take once shutdown began.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Connections the kernel completes and holds while every slot is taken.
/// A burst beyond it is dropped at the handshake (clients retry, slowly), so
/// it is the kernel's usual ceiling, not the 1024 tokio asks for.
const BACKLOG: u32 = 4096;

/// Listens on `addr` with a backlog deep enough to hold a burst past the cap.
///
/// # Errors
/// When the address cannot be bound.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `router` on `listener` until `shutdown`, then stops accepting, lets
/// each connection finish its current answer and returns when all are closed.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let connections = TaskTracker::new();
    loop {
        // A slot first: past the cap, connections are not accepted at all.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, _)) => {
                let keep_alive = slots.available_permits() >= KEEP_ALIVE_MIN_FREE;
                let serving =
                    connection(stream, router.clone(), slot, keep_alive, shutdown.clone());
                connections.spawn(serving);
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    connections.close();
    // A client that trickles a request body would hold the shutdown for ever.
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still open {}s after shutdown began; closing them",
            SHUTDOWN_GRACE.as_secs()
        );
    }
}

/// Serves one connection, holding its `slot` until it closes.
async fn connection(
    stream: TcpStream,
    router: Router,
    slot: OwnedSemaphorePermit,
    keep_alive: bool,
    shutdown: CancellationToken,
) {
    let _slot = slot;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(keep_alive);
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    // A client that goes away or times out is no server error.
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended");
    }
}

/// Errors of one connection that leave the listener fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
