//! Recovering from dead pooled connections: a server restart or `pg_terminate_backend`
//! kills every connection of the pool at once, and the pool hands them out as if alive.
//!
//! A call that fails on a dead connection ([`is_connection_failure`]) purges the pool's
//! dead connections and is retried, at most [`retries`](crate::PgEventStoreConfig::retries)
//! times. Reads retry here ([`with_reconnect`]); the append path retries its own statement
//! (appends are idempotent by event id, so a retry after a lost reply writes nothing twice).

use std::future::Future;
use std::time::Duration;

use cqrs_core::StoreError;
use sqlx::postgres::PgPool;

use super::context::StoreContext;
use super::timeout::CallTimeout;
use crate::error::is_connection_failure;

/// Longest wait for a pooled connection's ping while purging dead connections: a connection
/// that does not answer by then is closed.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Pings every idle pooled connection (all at once, each bounded by [`PING_TIMEOUT`] or
/// the call timeout if shorter) and closes the dead or silent ones, so the retry gets a
/// live or a fresh connection. Costs nothing on the happy path: only called after a
/// failure.
pub(crate) async fn purge_dead_connections(pool: &PgPool, timeout: CallTimeout) {
    let limit = timeout.at_most(PING_TIMEOUT);
    let mut idle = Vec::new();
    while let Some(connection) = pool.try_acquire() {
        idle.push(connection);
    }
    let checked = idle.len();
    let pings = idle.into_iter().map(|mut connection| async move {
        let ping = sqlx::Connection::ping(&mut *connection);
        if !matches!(tokio::time::timeout(limit, ping).await, Ok(Ok(()))) {
            connection.close_on_drop();
        }
    });
    futures::future::join_all(pings).await;
    tracing::debug!(checked, "pooled connections checked after a failure");
}

/// Whether attempt `attempt` of `operation`, which failed with `error`, is retried: only
/// on a dead connection, at most `retries` times. Logs the retry.
pub(crate) fn retries_after(
    context: &StoreContext,
    operation: &'static str,
    attempt: u32,
    error: &StoreError,
) -> bool {
    let retry = is_connection_failure(error) && attempt <= context.config.retries;
    if retry {
        tracing::warn!(operation, attempt, %error, "call failed on a dead connection; retrying");
    }
    retry
}

/// Runs `call` (a read or an idempotent write), each attempt bounded by the call timeout,
/// and retries it on a dead pooled connection after purging the dead ones.
pub(crate) async fn with_reconnect<T, F, Fut>(
    context: &StoreContext,
    operation: &'static str,
    mut call: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match context.call_timeout().bound(operation, call()).await {
            Err(error) if retries_after(context, operation, attempt, &error) => {
                purge_dead_connections(&context.pool, context.call_timeout()).await;
            }
            result => return result,
        }
    }
}
