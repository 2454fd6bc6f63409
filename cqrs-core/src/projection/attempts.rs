//! [`Attempts`]: how a runner counts the failed attempts of one call against its
//! [`RetryPolicy`].

use crate::command::RetryPolicy;
use crate::failure::FailureKind;

/// The failed attempts of one call (an event's apply, a store call) so far, by kind.
/// Transient failures are retried for as long as they last; permanent ones at most
/// `max_attempts` times in all.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Attempts {
    permanent: u32,
    transient: u32,
}

impl Attempts {
    /// Records a failure of `kind`: `Some(attempt)`, the number whose backoff to wait
    /// before retrying, or `None` when `retry` allows no more permanent failures.
    pub fn failed(&mut self, kind: FailureKind, retry: &RetryPolicy) -> Option<u32> {
        match kind {
            FailureKind::Transient => self.transient += 1,
            FailureKind::Permanent => self.permanent += 1,
        }
        (self.permanent < retry.max_attempts).then(|| self.permanent.max(self.transient))
    }

    /// Every failed attempt so far.
    pub fn total(&self) -> u32 {
        self.permanent + self.transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_never_exhaust_the_policy_and_permanent_ones_do() {
        let retry = RetryPolicy::attempts(3);
        let mut attempts = Attempts::default();
        for n in 1..=100 {
            assert_eq!(attempts.failed(FailureKind::Transient, &retry), Some(n));
        }
        assert_eq!(attempts.failed(FailureKind::Permanent, &retry), Some(100));
        assert_eq!(attempts.failed(FailureKind::Permanent, &retry), Some(100));
        assert_eq!(attempts.failed(FailureKind::Permanent, &retry), None);
        assert_eq!(attempts.total(), 103);
    }
}
