//! Stop signals and retry pacing of the background tasks (relay, consumer runner).

use std::time::Duration;

use cqrs_core::RetryPolicy;

pub(crate) use cqrs_core::worker::{sleep_or_stop as wait_or_stop, stop_requested as requested};

/// The delay after `failures` consecutive transient failures (1-based): from the first
/// bound, doubling per failure, at most the second, jittered ([`RetryPolicy::backoff`]).
pub(crate) fn backoff((initial, max): (Duration, Duration), failures: u32) -> Duration {
    RetryPolicy::between(initial, max).backoff(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let bounds = (Duration::from_millis(100), Duration::from_secs(1));
        for (failures, ceiling) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (60, 1000),
        ] {
            let delay = backoff(bounds, failures);
            assert!(
                delay <= Duration::from_millis(ceiling),
                "{failures}: {delay:?}"
            );
            assert!(
                delay >= Duration::from_millis(ceiling / 2),
                "{failures}: {delay:?}"
            );
        }
    }
}
