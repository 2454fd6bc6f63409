//! Stop signals and retry pacing of the background tasks (relay, consumer runner).

use std::time::Duration;

use tokio::sync::watch;

/// Resolves once a stop is requested; never if the handle was dropped without one (the
/// task then keeps running, as documented on the handles).
pub(crate) async fn requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sleeps `delay`; true if a stop was requested meanwhile.
pub(crate) async fn wait_or_stop(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = requested(stop) => true,
        () = tokio::time::sleep(delay) => *stop.borrow(),
    }
}

/// The delay after `failures` consecutive transient failures (1-based): starts at the
/// first bound, doubles per failure, at most the second bound.
pub(crate) fn backoff((initial, max): (Duration, Duration), failures: u32) -> Duration {
    initial
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let bounds = (Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<u128> = (1..=6).map(|f| backoff(bounds, f).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff(bounds, 0), Duration::from_millis(100));
        assert_eq!(backoff(bounds, u32::MAX), Duration::from_secs(1));
    }
}
