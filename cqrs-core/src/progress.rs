//! Waiting on a background task's progress (projection runners, relays, consumers).

use std::time::Duration;

use tokio::sync::watch;

/// How a wait on a background task's progress ended, with the progress seen last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome<T> {
    /// The condition holds.
    Reached(T),
    /// The task stopped (reported so, or dropped its sender) before the condition held.
    Stopped(T),
    /// The timeout passed first.
    TimedOut(T),
}

/// Waits until `reached` holds for the watched progress, the task stops (`stopped` holds
/// or the sender is gone), or `timeout` passes.
///
/// No watch guard is held across an await or a second borrow, so waiting never blocks the
/// task that publishes the progress.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use cqrs_core::progress::{wait_for_progress, WaitOutcome};
/// let (tx, rx) = tokio::sync::watch::channel(0u64);
/// tx.send(5).unwrap();
/// let outcome = wait_for_progress(&rx, Duration::from_millis(10), |p| *p >= 5, |_| false).await;
/// assert_eq!(outcome, WaitOutcome::Reached(5));
/// drop(tx);
/// let outcome = wait_for_progress(&rx, Duration::from_secs(1), |p| *p >= 6, |_| false).await;
/// assert_eq!(outcome, WaitOutcome::Stopped(5));
/// # });
/// ```
pub async fn wait_for_progress<T: Clone>(
    progress: &watch::Receiver<T>,
    timeout: Duration,
    reached: impl Fn(&T) -> bool,
    stopped: impl Fn(&T) -> bool,
) -> WaitOutcome<T> {
    let mut receiver = progress.clone();
    // `is_ok()` drops the guard `wait_for` returns before anything else borrows.
    let finished = tokio::time::timeout(timeout, receiver.wait_for(|p| reached(p) || stopped(p)))
        .await
        .is_ok();
    let last = progress.borrow().clone();
    if reached(&last) {
        WaitOutcome::Reached(last)
    } else if finished {
        WaitOutcome::Stopped(last)
    } else {
        WaitOutcome::TimedOut(last)
    }
}
