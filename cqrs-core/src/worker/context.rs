//! What a worker's task runs with: the [`WorkerContext`] (progress, stop signal) and the
//! stop-aware waits every worker loop uses.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::LeaseRole;
use crate::telemetry::metric;

/// What a worker task runs with: where it publishes its progress, and the stop signal.
#[derive(Debug)]
pub struct WorkerContext<P> {
    name: Arc<str>,
    progress: watch::Sender<P>,
    stop: watch::Receiver<bool>,
}

impl<P> WorkerContext<P> {
    pub(super) fn new(
        name: Arc<str>,
        progress: watch::Sender<P>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        Self {
            name,
            progress,
            stop,
        }
    }

    /// The worker's name (as given to [`Worker::spawn`](super::Worker::spawn)).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Publishes the worker's role as the `cqrs_worker_up` metric (see
    /// [`metric`](crate::telemetry::metric)): a worker without a lease reports
    /// [`LeaseRole::Leader`] once, when it starts working; a leased one on every change.
    /// `stopped` is reported for every worker when its task ends.
    pub fn report_role(&self, role: LeaseRole) {
        metric::worker_role(&self.name, Some(role));
    }

    /// Publishes progress: `update` changes it in place, and waiters see the result.
    pub fn report(&self, update: impl FnOnce(&mut P)) {
        self.progress.send_modify(update);
    }

    /// Publishes progress only when `update` returns true (it changed something).
    pub fn report_if(&self, update: impl FnOnce(&mut P) -> bool) {
        self.progress.send_if_modified(update);
    }

    /// True once a shutdown was requested.
    pub fn stop_requested(&self) -> bool {
        *self.stop.borrow()
    }

    /// The stop signal (true once a shutdown is requested), for `select!` loops and for
    /// code that takes a `watch::Receiver<bool>`.
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// The progress sender and the stop signal, for tasks written against plain watch
    /// channels.
    pub fn into_parts(self) -> (watch::Sender<P>, watch::Receiver<bool>) {
        (self.progress, self.stop)
    }

    /// Resolves once a shutdown is requested; never if the handle was dropped without one
    /// (the worker then runs on, as documented on [`Worker`](super::Worker)).
    pub async fn stopping(&self) {
        stop_requested(&mut self.stop.clone()).await
    }
}

/// Resolves once `stop` turns true; never if its sender is gone without a stop (a worker
/// whose handle was dropped runs on).
pub async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sleeps `delay` unless a stop is requested first; true if one was.
pub async fn sleep_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = stop_requested(stop) => true,
        () = tokio::time::sleep(delay) => *stop.borrow(),
    }
}
