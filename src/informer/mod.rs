//! Informers: each watches one side of the world, keeps a store of it for
//! readers, and emits the key of every stack that may need a reconcile.
//!
//! ```text
//!  git::spawn    ─▶ SnapshotReader + Keys ─┐
//!  docker::spawn ─▶ RuntimeCache   + Keys ─┼─▶ controller sources ─▶ WorkQueue
//!  controller::resync (every stack, every interval) ─┘
//! ```
//!
//! Keys are hints: the reconciler reads both stores itself, so a lost or
//! duplicated key costs at most one more level-triggered pass.

pub mod docker;
pub mod git;

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::stack::StackName;

/// Where an informer sends the keys of stacks that changed.
#[derive(Debug, Clone)]
pub struct KeySender(mpsc::UnboundedSender<StackName>);

#[cfg(test)]
impl From<mpsc::UnboundedSender<StackName>> for KeySender {
    fn from(sender: mpsc::UnboundedSender<StackName>) -> Self {
        Self(sender)
    }
}

impl KeySender {
    /// Wakes the stack `name`.
    pub fn send(&self, name: StackName) {
        // The controller is gone only during shutdown; nothing to wake then.
        let _ = self.0.send(name);
    }

    /// Wakes the stack a compose project label names; a name no stack can have
    /// (a container labelled by hand) wakes nothing.
    pub fn wake_project(&self, project: &str) {
        match project.parse() {
            Ok(name) => self.send(name),
            Err(_) => tracing::debug!(project = ?project, "not a stack name; ignored"),
        }
    }
}

/// The stack keys an informer emits, as a stream for the controller.
#[derive(Debug)]
pub struct Keys(mpsc::UnboundedReceiver<StackName>);

/// A connected sender and stream of stack keys.
pub fn keys() -> (KeySender, Keys) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (KeySender(sender), Keys(receiver))
}

impl Stream for Keys {
    type Item = StackName;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StackName>> {
        self.0.poll_recv(cx)
    }
}
