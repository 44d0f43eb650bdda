//! The connected Docker client, shared like a store: the Docker informer is the
//! only writer, and it holds no client while Docker is unreachable, so readers
//! never use a connection the informer has given up on.

use bollard::Docker;
use tokio::sync::watch;

/// The writer side: the informer publishes the client once the first list is in
/// the cache, and withdraws it when the session breaks.
#[derive(Debug)]
pub struct Connection {
    sender: watch::Sender<Option<Docker>>,
}

/// Read side of the connected client: `None` while Docker is unreachable.
#[derive(Debug, Clone)]
pub struct DockerHandle {
    receiver: watch::Receiver<Option<Docker>>,
}

impl Connection {
    /// A writer with no client yet, and a reader of it.
    pub fn new() -> (Self, DockerHandle) {
        let (sender, receiver) = watch::channel(None);
        (Self { sender }, DockerHandle { receiver })
    }

    /// Publishes `docker` as the connected client.
    pub fn connected(&self, docker: Docker) {
        self.sender.send_replace(Some(docker));
    }

    /// Withdraws the client: Docker stopped answering.
    pub fn disconnected(&self) {
        self.sender.send_replace(None);
    }
}

impl DockerHandle {
    /// The connected client, if Docker answers.
    pub fn current(&self) -> Option<Docker> {
        self.receiver.borrow().clone()
    }

    /// Waits until the first list is in the cache.
    pub async fn wait_connected(&mut self) {
        // An error means the informer is gone (shutdown): stop waiting.
        let _ = self.receiver.wait_for(Option::is_some).await;
    }
}
