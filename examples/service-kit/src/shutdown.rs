//! Graceful shutdown: the signal, and a deadline for what follows it.

use std::future::Future;
use std::time::Duration;

/// What a service's graceful stop can fail with.
pub use cqrs_core::BoxError;

/// A future that resolves on SIGTERM (how Kubernetes, systemd and docker stop a process)
/// or Ctrl-C (SIGINT), and logs which one arrived.
///
/// The signal handlers are installed when this function is **called**, not when the
/// future is first polled: call it at start-up, before connecting to anything, so that a
/// SIGTERM arriving during start-up is a graceful stop rather than the default action
/// (the process killed with status 143). On platforms without Unix signals only Ctrl-C is
/// awaited.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            let (mut terminate, mut interrupt) = match (terminate, interrupt) {
                (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot listen for SIGTERM/SIGINT; stop the process with SIGKILL");
                    return std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
                _ = interrupt.recv() => tracing::info!("Ctrl-C received, shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    async move {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("Ctrl-C received, shutting down");
    }
}

/// The graceful stop took longer than its deadline.
#[derive(Debug)]
pub struct DeadlineExceeded {
    /// What was being stopped.
    pub what: &'static str,
    /// The deadline.
    pub deadline: Duration,
}

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} did not stop within {:?}", self.what, self.deadline)
    }
}

impl std::error::Error for DeadlineExceeded {}

/// Runs `stop` (flushing a relay, committing consumer offsets, ...) for at most `deadline`.
/// Past it the stop is abandoned (what was not flushed is delivered again after the
/// restart: every pipeline here is at-least-once) and [`DeadlineExceeded`] is returned.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// let stopped = service_kit::shutdown::within(Duration::from_millis(10), "relay", async {
///     tokio::time::sleep(Duration::from_secs(60)).await;
/// }).await;
/// assert_eq!(stopped.unwrap_err().what, "relay");
/// # });
/// ```
pub async fn within<T>(
    deadline: Duration,
    what: &'static str,
    stop: impl Future<Output = T>,
) -> Result<T, DeadlineExceeded> {
    match tokio::time::timeout(deadline, stop).await {
        Ok(value) => Ok(value),
        Err(_) => {
            tracing::error!(
                what,
                ?deadline,
                "graceful stop exceeded its deadline; abandoning it"
            );
            Err(DeadlineExceeded { what, deadline })
        }
    }
}

/// Serves `router` on `listener` until `signal` (from [`signal`]), then finishes the
/// requests in flight and runs `stop` (the service's workers), all within `deadline`.
///
/// `Ok` only for a clean stop: a server that ends on its own (its workers are still
/// stopped), a failing `stop`, or a graceful stop past the deadline is an error, so the
/// process exits non-zero.
pub async fn serve_until_signal<F>(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    signal: impl Future<Output = ()> + Send + 'static,
    deadline: Duration,
    stop: F,
) -> Result<(), BoxError>
where
    F: Future<Output = Result<(), BoxError>>,
{
    let (signalled, mut on_signal) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        signal.await;
        let _ = signalled.send(());
    });
    let server = std::future::IntoFuture::into_future(server);
    tokio::pin!(server);
    tokio::select! {
        // The signal first: the server ends right after it, and that end is the stop we
        // asked for, not the server giving up on its own.
        biased;
        _ = &mut on_signal => {}
        served = &mut server => {
            // axum awaits the signal in a task of its own: it can arrive, and the server
            // end on it, between the poll of `on_signal` above and this one.
            let asked = on_signal.try_recv().is_ok();
            let stopped = within(deadline, "the workers", stop).await;
            served?;
            stopped??;
            if asked {
                return Ok(());
            }
            return Err("the HTTP server stopped without being asked to".into());
        }
    }
    within(deadline, "the service", async move {
        let served = server.await;
        let stopped = stop.await;
        served?;
        stopped
    })
    .await?
}
