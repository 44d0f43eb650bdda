//! SIGTERM/SIGINT handling: the first signal starts a graceful stop, a second one forces it.

use tokio_util::sync::CancellationToken;

/// Exit status when a second signal forces the stop (128 + SIGINT, the shell convention).
pub const FORCED_EXIT_CODE: i32 = 130;

/// Cancels `token` on the first SIGTERM or SIGINT; exits the process on the second.
pub async fn on_signal(token: CancellationToken) {
    wait_for_signal().await;
    tracing::info!("shutdown signal received: no new work starts, running work finishes");
    token.cancel();
    wait_for_signal().await;
    tracing::warn!("second shutdown signal: stopping now");
    std::process::exit(FORCED_EXIT_CODE);
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; only a kill will stop this process");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
