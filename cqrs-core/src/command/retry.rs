//! Bounded retry with exponential backoff.

use std::time::Duration;

/// How often, and how patiently, to retry: the one backoff of this workspace.
///
/// Used by the command pipeline (on [`Conflict`](crate::Conflict)), the projection runners
/// (on failing projections and stores), the relay and the Kafka consumers (on transient
/// failures), and the stores' own retries (lost races, transient transaction errors, a
/// lost change stream). Callers that retry for as long as a failure lasts use only
/// [`backoff`](RetryPolicy::backoff); [`between`](RetryPolicy::between) builds one for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each next one.
    pub initial_backoff: Duration,
    /// Upper bound of the delay.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 1 ms doubling up to 100 ms.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(100),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// A backoff from `initial` doubling up to `max`, for retries without an attempt limit.
    pub const fn between(initial: Duration, max: Duration) -> Self {
        Self {
            max_attempts: u32::MAX,
            initial_backoff: initial,
            max_backoff: max,
        }
    }

    /// `attempts` attempts with the default backoff.
    pub fn attempts(attempts: u32) -> Self {
        Self {
            max_attempts: attempts.max(1),
            ..Self::default()
        }
    }

    /// Sets the backoff bounds.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// The delay after failed attempt number `attempt` (1-based), with up to 50% jitter so
    /// competing writers do not retry in lockstep.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cqrs_core::RetryPolicy;
    /// let p = RetryPolicy::attempts(10).with_backoff(Duration::from_millis(10), Duration::from_millis(50));
    /// assert!(p.backoff(1) <= Duration::from_millis(10));
    /// assert!(p.backoff(9) <= Duration::from_millis(50));
    /// ```
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_backoff);
        // Cheap jitter from the clock's nanoseconds: good enough to break lockstep.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let jitter = 0.5 + f64::from(nanos % 1000) / 2000.0;
        exp.mul_f64(jitter)
    }
}
