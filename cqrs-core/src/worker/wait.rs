//! Waiting on a worker's progress.

use std::time::Duration;

use tokio::sync::watch;

/// How a wait on a background task's progress ended, with the progress seen last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WaitOutcome<T> {
    /// The condition holds.
    Reached(T),
    /// The task stopped (reported so, or dropped its sender) before the condition held.
    Stopped(T),
    /// The timeout passed first.
    TimedOut(T),
}

/// Waits until `reached` holds for the watched progress, the task stops (its sender is
/// gone), or `timeout` passes.
///
/// No watch guard is held across an await or a second borrow, so waiting never blocks the
/// task that publishes the progress.
pub(crate) async fn wait_for_progress<T: Clone>(
    progress: &watch::Receiver<T>,
    timeout: Duration,
    reached: impl Fn(&T) -> bool,
) -> WaitOutcome<T> {
    let mut receiver = progress.clone();
    // `is_ok()` drops the guard `wait_for` returns before anything else borrows.
    let finished = tokio::time::timeout(timeout, receiver.wait_for(&reached))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wait_ends_reached_stopped_or_timed_out() {
        let (tx, rx) = watch::channel(0u64);
        tx.send(5).unwrap();
        let reached = wait_for_progress(&rx, Duration::from_millis(10), |p| *p >= 5).await;
        assert_eq!(reached, WaitOutcome::Reached(5));
        let timed_out = wait_for_progress(&rx, Duration::from_millis(10), |p| *p >= 6).await;
        assert_eq!(timed_out, WaitOutcome::TimedOut(5));
        drop(tx);
        let stopped = wait_for_progress(&rx, Duration::from_secs(5), |p| *p >= 6).await;
        assert_eq!(stopped, WaitOutcome::Stopped(5));
    }
}
