//! The direct path: one batch, one statement and one commit of its own (autocommit), with
//! the retries a transaction of the caller's could not make.

use std::time::Duration;

use cqrs_core::{AppendResult, RetryPolicy, StoreError};
use sqlx::postgres::PgRow;

use super::batch::{Batch, Outcome};
use super::resolve::{
    after_lost_race, check_version_only, resolve_rejected, stream_version, AfterRace, LostRace,
};
use crate::error::map_sqlx;
use crate::store::context::StoreContext;
use crate::store::reconnect::{purge_dead_connections, retries_after};

/// Attempts of an append that keeps losing races it may retry (step 6) before it reports
/// the [`Conflict`](cqrs_core::Conflict).
const RACE_ATTEMPTS: u32 = 64;

/// The pause between lost races, from the third lost race on: jittered, 100 µs doubling
/// to 2 ms (the first pause is `backoff(1)`).
const RACE_BACKOFF: RetryPolicy =
    RetryPolicy::between(Duration::from_micros(100), Duration::from_millis(2));

/// Appends `batch` alone (steps 3 to 6 of the [append path](super)), announcing a commit
/// to listeners. Retries a lost race that step 6 says can succeed, and a dead connection
/// (after purging the pool's dead ones), at most `retries` times.
pub(crate) async fn append_direct(
    context: &StoreContext,
    batch: &Batch,
) -> Result<AppendResult, StoreError> {
    let (pool, sql) = (&context.pool, &context.sql);
    if batch.events().is_empty() {
        return check_version_only(pool, sql, batch).await;
    }
    // Two budgets: lost races (up to RACE_ATTEMPTS) and dead connections (up to the
    // configured retries), so that races lost before a reconnect do not use up its retries.
    let (mut races, mut reconnects) = (0, 0);
    loop {
        let error = match run_once(context, batch).await? {
            Ok(row) => {
                return match batch.decode(&row)? {
                    Outcome::Appended(result) => {
                        if let Some(last) = result.events.last() {
                            context.announce(last.position);
                        }
                        Ok(result)
                    }
                    Outcome::Rejected { actual } => {
                        resolve_rejected(pool, sql, batch, actual).await
                    }
                };
            }
            Err(error) => error,
        };
        if let Some(race) = LostRace::of(&error) {
            match after_lost_race(pool, sql, batch, race).await? {
                AfterRace::Resolved(result) => return result,
                AfterRace::Retry if races + 1 < RACE_ATTEMPTS => {
                    races += 1;
                    tracing::debug!(
                        stream = &**batch.stream_id(),
                        races,
                        constraint = race.constraint(),
                        "append lost a race; retrying"
                    );
                    if races > 2 {
                        tokio::time::sleep(RACE_BACKOFF.backoff(races - 2)).await;
                    }
                    continue;
                }
                AfterRace::Retry | AfterRace::Conflict => {
                    return Err(batch.conflict(stream_version(pool, sql, batch).await?));
                }
            }
        }
        let error = map_sqlx("append", error);
        reconnects += 1;
        if retries_after(context, "append", reconnects, &error) {
            purge_dead_connections(pool, context.call_timeout()).await;
            continue;
        }
        return Err(error);
    }
}

/// One run of `append.sql` on a pooled connection, bounded by the call timeout. The outer
/// error is the timeout (the connection, in an unknown state, is then closed instead of
/// pooled); the inner result is the statement's, for the caller's race and retry handling.
async fn run_once(
    context: &StoreContext,
    batch: &Batch,
) -> Result<Result<PgRow, sqlx::Error>, StoreError> {
    let mut connection = match context.pool.acquire().await {
        Ok(connection) => connection,
        Err(error) => return Ok(Err(error)),
    };
    let run = batch.run(&mut *connection, &context.sql.append, 0);
    match context.call_timeout().run(run).await {
        Ok(result) => Ok(result),
        Err(limit) => {
            connection.close_on_drop();
            tracing::warn!(
                ?limit,
                "append statement exceeded the call timeout; its connection is discarded"
            );
            Err(StoreError::Timeout {
                operation: "append",
            })
        }
    }
}
