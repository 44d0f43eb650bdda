//! The worker loop: sources feed the queue, workers run the reconciler.
//!
//! | reconcile outcome            | queue                          | `reconcile_total{result}` |
//! |------------------------------|--------------------------------|---------------------------|
//! | `Ok(await_change)`           | `forget`                       | `success`                 |
//! | `Ok(requeue(d))`             | `forget`, `add_after(d)` of [`Keyed::requeued`] | `requeue_after` |
//! | `Err(e)`, not terminal       | `add_rate_limited` of [`Keyed::retried`] | `error`         |
//! | `Err(e)`, terminal           | `forget` (the next change runs it afresh) | `error`        |
//! | panic                        | `add_rate_limited` of [`Keyed::retried`] | `error` (+ panics) |
//!
//! `done` always comes last, so a key added meanwhile runs once more.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::stream::{BoxStream, Stream, StreamExt as _};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::metrics::ControllerMetrics;
use crate::queue::WorkQueue;
use crate::reconcile::{ReconcileError, Reconciler};
use crate::request::Keyed;

/// Worker settings.
#[derive(Debug, Clone)]
pub struct Config {
    concurrency: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { concurrency: 1 }
    }
}

impl Config {
    /// How many keys may be reconciled at once (at least 1; one key never twice).
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.concurrency = workers.max(1);
        self
    }
}

type ReadyGate = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a reconciler over the requests its sources emit.
pub struct Controller<T: Keyed> {
    queue: WorkQueue<T>,
    config: Config,
    metrics: Option<ControllerMetrics>,
    sources: Vec<BoxStream<'static, T>>,
    ready: Option<ReadyGate>,
}

impl<T: Keyed> Controller<T> {
    /// A controller that takes its work from `queue`.
    pub fn new(queue: WorkQueue<T>, config: Config) -> Self {
        Self {
            queue,
            config,
            metrics: None,
            sources: Vec::new(),
            ready: None,
        }
    }

    /// Records the `reconcile_*` series.
    pub fn with_metrics(mut self, metrics: ControllerMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Adds every request `source` yields to the queue, until it ends or shutdown.
    pub fn with_source(mut self, source: impl Stream<Item = T> + Send + 'static) -> Self {
        self.sources.push(source.boxed());
        self
    }

    /// Starts no reconcile before `gate` completes (keys are queued meanwhile).
    pub fn ready_when(mut self, gate: impl Future<Output = ()> + Send + 'static) -> Self {
        self.ready = Some(Box::pin(gate));
        self
    }

    /// Runs until `shutdown`; then starts nothing new and waits for running reconciles.
    pub async fn run<R: Reconciler<T>>(self, reconciler: Arc<R>, shutdown: CancellationToken) {
        let Self {
            queue,
            config,
            metrics,
            sources,
            ready,
        } = self;
        if let Some(m) = &metrics {
            m.max_concurrent.set(config.concurrency as i64);
        }
        let mut tasks = JoinSet::new();
        for mut source in sources {
            let queue = queue.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return,
                        request = source.next() => match request {
                            Some(request) => queue.add(request),
                            None => return,
                        },
                    }
                }
            });
        }
        if let Some(gate) = ready {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {}
                () = gate => {}
            }
        }
        if !shutdown.is_cancelled() {
            for _ in 0..config.concurrency {
                let worker = Worker {
                    queue: queue.clone(),
                    reconciler: Arc::clone(&reconciler),
                    metrics: metrics.clone(),
                };
                tasks.spawn(worker.run());
            }
        }
        shutdown.cancelled().await;
        tracing::info!("shutdown: starting no new reconcile, waiting for running ones");
        queue.shut_down();
        while tasks.join_next().await.is_some() {}
    }
}

struct Worker<T: Keyed, R> {
    queue: WorkQueue<T>,
    reconciler: Arc<R>,
    metrics: Option<ControllerMetrics>,
}

impl<T: Keyed, R: Reconciler<T>> Worker<T, R> {
    async fn run(self) {
        while let Some(request) = self.queue.get().await {
            self.process(&request).await;
            self.queue.done(request.key());
        }
    }

    async fn process(&self, request: &T) {
        let key = request.key();
        let started = Instant::now();
        if let Some(m) = &self.metrics {
            m.active_workers.inc();
        }
        let span = tracing::info_span!(
            "reconcile",
            key = %key,
            reason = request.reason(),
            result = tracing::field::Empty
        );
        let reconciler = Arc::clone(&self.reconciler);
        let owned = request.clone();
        // Its own task, so a panic is caught as a JoinError instead of killing the worker.
        let outcome = tokio::spawn(
            async move { reconciler.reconcile(&owned).await }.instrument(span.clone()),
        )
        .await;
        let _entered = span.enter();
        let result = match outcome {
            Ok(Ok(action)) => {
                self.queue.forget(key);
                match action.requeue_after() {
                    Some(delay) => {
                        tracing::debug!(
                            requeue_in_ms = delay.as_millis() as u64,
                            "reconciled; looking again later"
                        );
                        self.queue.add_after(request.requeued(), delay);
                        "requeue_after"
                    }
                    None => {
                        tracing::debug!("reconciled");
                        "success"
                    }
                }
            }
            Ok(Err(error)) => {
                if let Some(m) = &self.metrics {
                    m.errors.with_label_values(&[error.reason()]).inc();
                }
                if error.is_terminal() {
                    if let Some(m) = &self.metrics {
                        m.terminal_errors.inc();
                    }
                    self.queue.forget(key);
                    tracing::warn!(%error, reason = error.reason(), "reconcile failed; waiting for a change");
                } else {
                    self.queue.add_rate_limited(request.retried());
                    tracing::warn!(
                        %error,
                        reason = error.reason(),
                        failures = self.queue.num_requeues(key),
                        "reconcile failed; retrying with backoff"
                    );
                }
                "error"
            }
            Err(join) => {
                if let Some(m) = &self.metrics {
                    m.panics.inc();
                    m.errors.with_label_values(&["panic"]).inc();
                }
                self.queue.add_rate_limited(request.retried());
                tracing::error!(error = %join, "reconcile panicked; retrying with backoff");
                "error"
            }
        };
        span.record("result", result);
        if let Some(m) = &self.metrics {
            m.active_workers.dec();
            m.total.with_label_values(&[result]).inc();
            m.duration.observe(started.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests;
