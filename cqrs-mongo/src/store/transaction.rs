//! Running a body inside a multi-document transaction, with the retries MongoDB asks for.
//!
//! This is the driver's "convenient transaction" loop written out, so the body can return
//! typed store errors and decide to abort without writing:
//! - an error labelled `TransientTransactionError` (write conflict, election, network)
//!   aborts and re-runs the whole body after a jittered backoff;
//! - a commit error labelled `UnknownTransactionCommitResult` retries the commit only
//!   (`commitTransaction` is idempotent), unless the server's time limit expired;
//! - both stop after the configured budget, returning the last error.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_core::StoreError;
use mongodb::error::{
    Error as DriverError, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT,
};
use mongodb::options::{ReadConcern, WriteConcern};
use mongodb::{Client, ClientSession};

/// What a transaction body decided.
pub(crate) enum Outcome<T> {
    /// Commit the writes and return the value.
    Commit(T),
    /// Write nothing (abort) and return the value: a refusal or a no-op decided by reading.
    Abort(T),
}

/// Why a transaction body failed.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// A driver error: transient ones are retried, others end the transaction.
    Driver(DriverError),
    /// A typed store error decided inside the transaction (conflict, duplicate id...).
    Store(StoreError),
}

impl From<DriverError> for BodyError {
    fn from(error: DriverError) -> Self {
        BodyError::Driver(error)
    }
}

impl From<StoreError> for BodyError {
    fn from(error: StoreError) -> Self {
        BodyError::Store(error)
    }
}

/// The work done inside one transaction attempt. Called again on every retry, so it must
/// not keep effects of a failed attempt.
#[async_trait]
pub(crate) trait TransactionBody: Send {
    /// What a successful transaction returns.
    type Output: Send;
    /// One attempt.
    async fn run(
        &mut self,
        session: &mut ClientSession,
    ) -> Result<Outcome<Self::Output>, BodyError>;
}

/// Runs `body` in a transaction with snapshot reads and majority-acknowledged commits.
#[tracing::instrument(level = "debug", skip_all, fields(operation))]
pub(crate) async fn run_transaction<B: TransactionBody>(
    client: &Client,
    budget: Duration,
    operation: &'static str,
    body: &mut B,
) -> Result<B::Output, BodyError> {
    let started = Instant::now();
    let mut session = client.start_session().await?;
    let mut attempt: u32 = 0;
    'transaction: loop {
        attempt += 1;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .await?;
        let value = match body.run(&mut session).await {
            Ok(Outcome::Commit(value)) => value,
            Ok(Outcome::Abort(value)) => {
                abort(&mut session).await;
                return Ok(value);
            }
            Err(BodyError::Driver(error)) if error.contains_label(TRANSIENT_TRANSACTION_ERROR) => {
                abort(&mut session).await;
                back_off(started, budget, attempt, operation, error).await?;
                continue 'transaction;
            }
            Err(error) => {
                abort(&mut session).await;
                return Err(error);
            }
        };
        loop {
            match session.commit_transaction().await {
                Ok(()) => return Ok(value),
                Err(error)
                    if error.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
                        && !is_max_time_expired(&error)
                        && started.elapsed() < budget =>
                {
                    tracing::debug!(operation, %error, "commit result unknown, committing again");
                }
                Err(error) if error.contains_label(TRANSIENT_TRANSACTION_ERROR) => {
                    back_off(started, budget, attempt, operation, error).await?;
                    continue 'transaction;
                }
                Err(error) => return Err(BodyError::Driver(error)),
            }
        }
    }
}

async fn abort(session: &mut ClientSession) {
    // The server may already have aborted (that is what most errors mean); an abort
    // failure changes nothing: the transaction did not commit.
    if let Err(error) = session.abort_transaction().await {
        tracing::trace!(%error, "abortTransaction failed (transaction already aborted)");
    }
}

/// Sleeps before the next attempt, or returns the error when the budget is spent.
async fn back_off(
    started: Instant,
    budget: Duration,
    attempt: u32,
    operation: &'static str,
    error: DriverError,
) -> Result<(), BodyError> {
    let delay = TRANSACTION_BACKOFF.backoff(attempt);
    if started.elapsed() + delay >= budget {
        tracing::warn!(operation, attempt, %error, "transient transaction errors for longer than the budget; giving up");
        return Err(BodyError::Driver(error));
    }
    tracing::debug!(operation, attempt, ?delay, %error, "transient transaction error, retrying");
    tokio::time::sleep(delay).await;
    Ok(())
}

fn is_max_time_expired(error: &DriverError) -> bool {
    crate::error::ErrorFacts::of(error).code == Some(50)
}

/// Between transient transaction errors: 1 ms doubling to 200 ms, jittered. Short first
/// steps: most conflicts are on the position counter, held for two round trips.
const TRANSACTION_BACKOFF: cqrs_core::RetryPolicy =
    cqrs_core::RetryPolicy::between(Duration::from_millis(1), Duration::from_millis(200));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_backoff_grows_and_is_capped() {
        assert!(TRANSACTION_BACKOFF.backoff(1) <= Duration::from_millis(1));
        assert!(TRANSACTION_BACKOFF.backoff(100) <= Duration::from_millis(200));
        assert!(TRANSACTION_BACKOFF.backoff(100) >= Duration::from_millis(100));
    }
}
