//! The optional client-side bound of one call, written once for every call that has one.

use std::future::Future;
use std::time::Duration;

use cqrs_core::StoreError;

/// [`PgEventStoreConfig::call_timeout`](crate::PgEventStoreConfig::call_timeout): how long
/// one call of the store (a read, an append statement, a caller's wait for the coalescer)
/// may take before it fails with the typed [`StoreError::Timeout`]; `None` waits as long
/// as the server does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallTimeout(pub(crate) Option<Duration>);

impl CallTimeout {
    /// Runs `call`, dropping it when it does not finish within the bound; `Err(limit)`
    /// then, for the caller to clean up (a connection in an unknown state, say).
    pub(crate) async fn run<F: Future>(self, call: F) -> Result<F::Output, Duration> {
        match self.0 {
            None => Ok(call.await),
            Some(limit) => tokio::time::timeout(limit, call).await.map_err(|_| limit),
        }
    }

    /// Runs `call`; an overrun is [`StoreError::Timeout`] for `operation`.
    pub(crate) async fn bound<T>(
        self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.run(call)
            .await
            .unwrap_or(Err(StoreError::Timeout { operation }))
    }

    /// The bound, or `longest` if shorter (or if there is none).
    pub(crate) fn at_most(self, longest: Duration) -> Duration {
        self.0.map_or(longest, |limit| limit.min(longest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_overrun_is_a_typed_timeout_and_no_bound_waits() {
        let after = |delay: u64| async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            Ok::<_, StoreError>(7)
        };
        let bounded = CallTimeout(Some(Duration::from_millis(20)));
        assert!(matches!(
            bounded.bound("read_all", after(10_000)).await,
            Err(StoreError::Timeout {
                operation: "read_all"
            })
        ));
        assert_eq!(
            bounded.run(after(10_000)).await.unwrap_err(),
            Duration::from_millis(20)
        );
        assert_eq!(bounded.bound("read_all", after(0)).await.unwrap(), 7);
        assert_eq!(
            CallTimeout(None)
                .bound("read_all", after(50))
                .await
                .unwrap(),
            7
        );
        let five = Duration::from_secs(5);
        assert_eq!(bounded.at_most(five), Duration::from_millis(20));
        assert_eq!(CallTimeout(None).at_most(five), five);
    }
}
