//! The coalescer's writer tasks: each takes a batch of queued requests, writes it with
//! `append_many.sql` (steps 3 and 4 of the [append path](crate::store::append) for every
//! request at once), and answers every caller.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use cqrs_core::{AppendResult, StoreError};
use futures::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::Postgres;

use super::queue::{Request, Shared};
use crate::store::append::{append_direct, resolve_rejected, Outcome};
use crate::store::context::StoreContext;

/// A writer task: takes a batch, writes it, answers every caller, until the coalescer
/// (dropped with the store) aborts it.
///
/// While requests keep coming it keeps its pooled connection (no pool round trip per
/// batch); it hands the connection back as soon as the queue is empty.
pub(crate) async fn write_loop(shared: Arc<Shared>, context: Arc<StoreContext>) {
    let mut connection: Option<PoolConnection<Postgres>> = None;
    loop {
        let ready = shared.ready.notified();
        tokio::pin!(ready);
        // Registered before looking, so a request queued after the look wakes us.
        ready.as_mut().enable();
        let batch = shared.take();
        if batch.is_empty() {
            connection = None;
            ready.await;
            continue;
        }
        let written = AssertUnwindSafe(write_batch(&context, &mut connection, &batch))
            .catch_unwind()
            .await;
        shared.release(&batch);
        let results = match written {
            Ok(results) => results,
            Err(_) => {
                tracing::error!(
                    requests = batch.len(),
                    "append writer panicked; failing its batch"
                );
                connection = None;
                Vec::new()
            }
        };
        let mut results = results.into_iter();
        for request in batch {
            // A missing result fails the caller through the dropped reply; a caller that
            // gave up meanwhile is not an error.
            if let Some(result) = results.next() {
                let _ = request.reply.send(result);
            }
        }
        // Let the callers just answered run before looking at the queue: most of them
        // append again at once, and they then share the next batch instead of the first
        // of them going alone. A scheduler turn, not a timer.
        tokio::task::yield_now().await;
    }
}

/// Writes `batch`; one result per request, in order.
async fn write_batch(
    context: &StoreContext,
    connection: &mut Option<PoolConnection<Postgres>>,
    batch: &[Request],
) -> Vec<Result<AppendResult, StoreError>> {
    if let [alone] = batch {
        // Nothing to share: the single-stream statement is the lighter one.
        return vec![append_direct(context, &alone.batch).await];
    }
    let written = context
        .call_timeout()
        .run(run_append_many(context, connection, batch))
        .await;
    let rows = match written {
        Ok(Ok(rows)) => rows,
        Err(limit) => {
            // The statement did not answer in time (stuck behind a lock with no server
            // timeout, or a server that vanished): its connection is in an unknown state,
            // and the callers stopped waiting. Each gets the typed timeout; none is retried
            // here (the batch may still commit; a caller's retry is deduplicated).
            if let Some(mut stuck) = connection.take() {
                stuck.close_on_drop();
            }
            tracing::warn!(
                requests = batch.len(),
                ?limit,
                "coalesced append exceeded the call timeout; its connection is discarded"
            );
            return batch
                .iter()
                .map(|_| {
                    Err(StoreError::Timeout {
                        operation: "append",
                    })
                })
                .collect();
        }
        Ok(Err(error)) => {
            // Whatever failed, the next batch starts on a connection from the pool.
            if let Some(mut failed) = connection.take() {
                if matches!(error, sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) {
                    failed.close_on_drop();
                }
            }
            tracing::debug!(
                requests = batch.len(),
                constraint = crate::error::unique_violation(&error),
                %error,
                "coalesced append failed as a whole; appending each request alone"
            );
            return futures::future::join_all(
                batch
                    .iter()
                    .map(|request| append_direct(context, &request.batch)),
            )
            .await;
        }
    };
    let outcomes: Vec<Result<Outcome, StoreError>> = rows
        .iter()
        .zip(batch)
        .map(|(row, request)| request.batch.decode(row))
        .collect();
    let highest = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Ok(Outcome::Appended(result)) => result.events.last().map(|e| e.position),
            _ => None,
        })
        .max();
    if let Some(position) = highest {
        context.announce(position);
    }
    let mut results = Vec::with_capacity(batch.len());
    for (request, outcome) in batch.iter().zip(outcomes) {
        results.push(match outcome {
            Ok(Outcome::Appended(result)) => Ok(result),
            Ok(Outcome::Rejected { actual }) => {
                resolve_rejected(&context.pool, &context.sql, &request.batch, actual).await
            }
            Err(corrupt) => Err(corrupt),
        });
    }
    results
}

/// Runs `append_many.sql` for the batch (autocommit: one transaction). One row per
/// request, in order; decode each with its request's [`Batch::decode`](crate::store::append::Batch::decode).
async fn run_append_many(
    context: &StoreContext,
    connection: &mut Option<PoolConnection<Postgres>>,
    batch: &[Request],
) -> Result<Vec<PgRow>, sqlx::Error> {
    let total: usize = batch.iter().map(|r| r.batch.events().len()).sum();
    let mut streams = Vec::with_capacity(batch.len());
    let mut lowest = Vec::with_capacity(batch.len());
    let mut highest = Vec::with_capacity(batch.len());
    let mut metadata = Vec::with_capacity(batch.len());
    let mut requests = Vec::with_capacity(total);
    let mut ids = Vec::with_capacity(total);
    let mut types = Vec::with_capacity(total);
    let mut versions = Vec::with_capacity(total);
    let mut payloads = Vec::with_capacity(total);
    let mut seqs = Vec::with_capacity(total);
    // Batches are bounded by `max_requests` and `max_events` (at most 2^20), so the
    // 1-based indexes fit an `integer`.
    for (index, request) in (1i32..).zip(batch) {
        let request = &request.batch;
        let (low, high) = request.accepted_versions();
        streams.push(&**request.stream_id());
        lowest.push(low);
        highest.push(high);
        metadata.push(request.metadata_json());
        for ((seq, event), version) in (1i32..).zip(request.events()).zip(request.versions()) {
            requests.push(index);
            ids.push(event.event_id);
            types.push(event.event_type.as_str());
            versions.push(*version);
            payloads.push(event.payload.as_str());
            seqs.push(seq);
        }
    }
    let connection = match connection {
        Some(held) => held,
        None => connection.insert(context.pool.acquire().await?),
    };
    let rows = sqlx::query(&context.sql.append_many)
        .bind(&streams)
        .bind(&lowest)
        .bind(&highest)
        .bind(&metadata)
        .bind(&requests)
        .bind(&ids)
        .bind(&types)
        .bind(&versions)
        .bind(&payloads)
        .bind(&seqs)
        .fetch_all(&mut **connection)
        .await?;
    if rows.len() != batch.len() {
        return Err(sqlx::Error::Decode(
            format!(
                "coalesced append returned {} rows for {} requests",
                rows.len(),
                batch.len()
            )
            .into(),
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::append::Batch;
    use crate::{PgEventStore, PgEventStoreConfig, SchemaName};
    use cqrs_core::{EventStore, ExpectedVersion, JsonPayload, Metadata, NewEvent, StoreLimits};

    /// A migrated store in a fresh schema of the test database; `None` (after a SKIPPED
    /// line) when PostgreSQL is unreachable outside CI, as in `tests/support`.
    async fn test_store() -> Option<PgEventStore> {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let id = uuid::Uuid::new_v4().simple().to_string();
        let schema = SchemaName::new(format!("t_{}", &id[..20])).expect("schema name");
        match PgEventStore::connect(&url, PgEventStoreConfig::new(schema)).await {
            Ok(store) => {
                store.migrate().await.expect("migrate");
                Some(store)
            }
            Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("CI=true and PostgreSQL is unreachable at {url}: {error}")
            }
            Err(_) => {
                eprintln!("SKIPPED cqrs-postgres: PostgreSQL unreachable at {url}");
                None
            }
        }
    }

    fn request(stream_id: &str, expected: ExpectedVersion, n: usize) -> Request {
        let events: Vec<NewEvent> = (0..n)
            .map(|i| NewEvent::raw("Happened", 1, JsonPayload::from_value(&i.into())))
            .collect();
        let limits = StoreLimits::default();
        Request {
            batch: Batch::prepare(stream_id, expected, events, &Metadata::default(), &limits)
                .expect("a valid batch"),
            reply: tokio::sync::oneshot::channel().0,
        }
    }

    /// A batch that committed but whose reply was lost (the writer saw an error) is
    /// resolved request by request on the direct path: each caller gets the events the
    /// batch stored, as `deduplicated`, and nothing is written twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batch_with_unknown_commit_outcome_is_returned_by_the_retries() {
        let Some(store) = test_store().await else {
            return;
        };
        let batch = vec![
            request("Lost-1", ExpectedVersion::NoStream, 2),
            request("Lost-2", ExpectedVersion::Any, 1),
            request("Lost-3", ExpectedVersion::Exact(0), 3),
        ];
        let context = StoreContext::new(store.pool().clone(), store.config().clone());
        let mut connection = None;
        let committed = run_append_many(&context, &mut connection, &batch)
            .await
            .expect("the batch commits");
        drop(connection);
        for (request, row) in batch.iter().zip(committed) {
            let stream = request.batch.stream_id();
            let Ok(Outcome::Appended(original)) = request.batch.decode(&row) else {
                panic!("{stream} was rejected");
            };
            let retried = append_direct(&context, &request.batch)
                .await
                .expect("the retry");
            assert!(retried.deduplicated, "{stream} written twice");
            assert_eq!(retried.events, original.events);
            let stored = store.read_stream(stream, 1).await.expect("read");
            assert_eq!(stored, original.events);
        }
        let drop_schema = format!("DROP SCHEMA {} CASCADE", store.config().schema.quoted());
        sqlx::query(&drop_schema)
            .execute(store.pool())
            .await
            .expect("drop the test schema");
    }
}
