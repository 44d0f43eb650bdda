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

/// Where an informer sends the keys of stacks that changed.
pub type KeySender = mpsc::UnboundedSender<String>;

/// The stack keys an informer emits, as a stream for the controller.
#[derive(Debug)]
pub struct Keys(mpsc::UnboundedReceiver<String>);

/// A connected sender and stream of stack keys.
pub fn keys() -> (KeySender, Keys) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (sender, Keys(receiver))
}

impl Stream for Keys {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.0.poll_recv(cx)
    }
}
