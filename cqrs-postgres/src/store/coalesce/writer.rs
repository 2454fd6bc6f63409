//! Append coalescing (group commit): concurrent appends on one store share one statement,
//! one transaction and one commit. The trade-off is documented on
//! [`CoalescingConfig`](crate::CoalescingConfig).
//!
//! A caller queues a [`Request`] and awaits its reply. Writer tasks take everything queued
//! (up to the configured number of requests and events) and write it with
//! `append_many.sql`, which checks every request's expected version against its own
//! stream. Nothing waits for company: a batch is whatever queued while the previous one was
//! in flight.
//!
//! Rules that keep every caller's answer exactly the one the direct path would give:
//! - **One request per stream and batch, in queue order.** A request whose stream is in a
//!   batch being written (or already in the batch being formed) stays queued for a later
//!   batch, and so do the requests queued behind it for that stream.
//! - **A rejected request** (its expected version did not match) is resolved alone: either
//!   it is a retry of a stored batch (the original is returned, `deduplicated`) or a typed
//!   [`Conflict`](cqrs_core::Conflict) with the actual version.
//! - **A failed statement** (a writer outside the batch took a stream version, an event id
//!   was reused, the connection died, anything) committed nothing, or, for a lost reply,
//!   possibly everything: each request is then retried alone on the direct path, which
//!   maps conflicts, returns stored batches as `deduplicated` (appends are idempotent by
//!   event id) and retries dead connections.
//! - A caller that gave up (its future was dropped) before its request was taken is
//!   dropped from the queue and never written.

use std::collections::{HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use cqrs_core::{AppendResult, ExpectedVersion, Metadata, NewEvent, StoreError};
use futures::FutureExt;
use sqlx::pool::PoolConnection;
use sqlx::Postgres;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use super::append::{
    check_events, decode_outcome, encode_metadata, expectation, resolve_rejected, Outcome,
    MAX_EVENTS_PER_TRANSACTION,
};
use super::{Inner, PgEventStore};
use crate::config::CoalescingConfig;

/// The queue of one store and its writer tasks; the tasks are aborted when it is dropped
/// (with the store).
pub(crate) struct Coalescer {
    shared: Arc<Shared>,
    writers: Vec<JoinHandle<()>>,
}

impl Drop for Coalescer {
    fn drop(&mut self) {
        for writer in &self.writers {
            writer.abort();
        }
    }
}

/// What callers and writers share.
struct Shared {
    /// Locked only to push, or to take a batch / release its streams (no await inside).
    queue: Mutex<Queue>,
    /// Wakes a writer when a request is queued.
    ready: Notify,
    max_requests: usize,
    max_events: usize,
    max_request_events: usize,
    /// A caller's longest wait for its answer, and a batch statement's longest run.
    call_timeout: Option<std::time::Duration>,
}

#[derive(Default)]
struct Queue {
    /// Requests not yet taken, in arrival order.
    pending: VecDeque<Request>,
    /// Streams with a request in a batch being written: their queued requests wait.
    in_flight: HashSet<String>,
}

/// One caller's append, waiting for a writer.
struct Request {
    stream_id: String,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    /// The schema versions as stored (checked by the caller).
    versions: Vec<i32>,
    metadata: Arc<Metadata>,
    metadata_json: String,
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

impl Coalescer {
    /// Starts `config.writers` writer tasks on `runtime`. They hold the store only weakly,
    /// so dropping the last [`PgEventStore`] drops this and stops them.
    pub(crate) fn start(
        config: &CoalescingConfig,
        call_timeout: Option<std::time::Duration>,
        store: Weak<Inner>,
        runtime: &tokio::runtime::Handle,
    ) -> Self {
        let max_events = config.max_events.clamp(1, MAX_EVENTS_PER_TRANSACTION);
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            max_requests: config.max_requests.max(1),
            max_events,
            max_request_events: config.max_request_events.clamp(1, max_events),
            call_timeout,
        });
        let writers = (0..config.writers.max(1))
            .map(|_| runtime.spawn(write_loop(shared.clone(), store.clone())))
            .collect();
        Self { shared, writers }
    }

    /// True when an append of `events` goes through the queue: empty appends (a version
    /// check only) and large appends take the direct path.
    pub(crate) fn takes(&self, events: &[NewEvent]) -> bool {
        !events.is_empty() && events.len() <= self.shared.max_request_events
    }

    /// Queues the append and waits for its own result.
    pub(crate) async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        let versions = check_events(stream_id, &events)?;
        let metadata_json = encode_metadata(stream_id, metadata)?;
        let (reply, answer) = oneshot::channel();
        self.shared.lock().pending.push_back(Request {
            stream_id: stream_id.to_owned(),
            expected,
            events,
            versions,
            metadata: Arc::new(metadata.clone()),
            metadata_json,
            reply,
        });
        self.shared.ready.notify_one();
        let answer = match self.shared.call_timeout {
            None => answer.await,
            Some(limit) => match tokio::time::timeout(limit, answer).await {
                Ok(answer) => answer,
                Err(_) => {
                    // Dropping `answer` closes the reply: a request still queued is then
                    // never written; one already being written may still commit.
                    tracing::warn!(
                        stream = stream_id,
                        ?limit,
                        "coalesced append not answered within the call timeout"
                    );
                    return Err(StoreError::Timeout {
                        operation: "append",
                    });
                }
            },
        };
        answer.map_err(|_| StoreError::Backend {
            operation: "append",
            source: format!(
                "the append writer stopped before answering for stream `{stream_id}`; the append may or may not be stored, retry it (appends are idempotent)"
            )
            .into(),
        })?
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-updated in a way that
        // matters (pushes and batch takes are single moves), so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the queued requests that can share a batch, in order, and marks their streams
    /// in flight.
    fn take(&self) -> Vec<Request> {
        let mut queue = self.lock();
        let Queue { pending, in_flight } = &mut *queue;
        let mut batch = Vec::new();
        let mut events = 0;
        let mut kept = VecDeque::new();
        while let Some(request) = pending.pop_front() {
            if request.reply.is_closed() {
                continue; // the caller gave up before anything was written
            }
            let full = !batch.is_empty()
                && (batch.len() == self.max_requests
                    || events + request.events.len() > self.max_events);
            if full {
                // Stop here, so no later request of this one's stream overtakes it.
                kept.push_back(request);
                break;
            }
            if in_flight.contains(&request.stream_id) {
                // Its stream is being written, by another batch or earlier in this one.
                kept.push_back(request);
                continue;
            }
            in_flight.insert(request.stream_id.clone());
            events += request.events.len();
            batch.push(request);
        }
        kept.append(pending);
        *pending = kept;
        batch
    }

    /// Lets the queued requests of the batch's streams go.
    fn release(&self, batch: &[Request]) {
        let mut queue = self.lock();
        for request in batch {
            queue.in_flight.remove(&request.stream_id);
        }
        let more = !queue.pending.is_empty();
        drop(queue);
        if more {
            // Requests that waited for these streams: the other writer may take them now.
            self.ready.notify_one();
        }
    }
}

/// A writer task: takes a batch, writes it, answers every caller, until the store is gone.
///
/// While requests keep coming it keeps its pooled connection (no pool round trip per
/// batch); it hands the connection back as soon as the queue is empty.
async fn write_loop(shared: Arc<Shared>, store: Weak<Inner>) {
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
        let Some(inner) = store.upgrade() else {
            return;
        };
        let store = PgEventStore { inner };
        let written = AssertUnwindSafe(write_batch(&store, &mut connection, &batch))
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
    store: &PgEventStore,
    connection: &mut Option<PoolConnection<Postgres>>,
    batch: &[Request],
) -> Vec<Result<AppendResult, StoreError>> {
    if let [alone] = batch {
        // Nothing to share: the single-stream statement is the lighter one.
        return vec![append_alone(store, alone).await];
    }
    let written = match store.inner.config.call_timeout {
        None => Ok(run_append_many(store, connection, batch).await),
        Some(limit) => tokio::time::timeout(limit, run_append_many(store, connection, batch)).await,
    };
    let outcomes = match written {
        Ok(Ok(outcomes)) => outcomes,
        Err(_) => {
            // The statement did not answer in time (stuck behind a lock with no server
            // timeout, or a server that vanished): its connection is in an unknown state,
            // and the callers stopped waiting. Each gets the typed timeout; none is retried
            // here (the batch may still commit; a caller's retry is deduplicated).
            if let Some(mut stuck) = connection.take() {
                stuck.close_on_drop();
            }
            tracing::warn!(
                requests = batch.len(),
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
            let constraint = crate::error::unique_violation(&error).map(str::to_owned);
            tracing::debug!(
                requests = batch.len(),
                ?constraint,
                %error,
                "coalesced append failed as a whole; appending each request alone"
            );
            return futures::future::join_all(
                batch.iter().map(|request| append_alone(store, request)),
            )
            .await;
        }
    };
    let highest = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Outcome::Appended(result) => result.events.last().map(|e| e.position),
            Outcome::Rejected { .. } => None,
        })
        .max();
    if let Some(position) = highest {
        store.announce(position);
    }
    let mut results = Vec::with_capacity(batch.len());
    for (request, outcome) in batch.iter().zip(outcomes) {
        results.push(match outcome {
            Outcome::Appended(result) => Ok(result),
            Outcome::Rejected { actual } => {
                let ids: Vec<uuid::Uuid> = request.events.iter().map(|e| e.event_id).collect();
                resolve_rejected(
                    &store.inner.pool,
                    &store.inner.sql.find_by_ids,
                    &request.stream_id,
                    request.expected,
                    &request.events,
                    &ids,
                    actual,
                )
                .await
            }
        });
    }
    results
}

/// The direct path for one request: maps conflicts, deduplicates retries, retries dead
/// connections.
async fn append_alone(store: &PgEventStore, request: &Request) -> Result<AppendResult, StoreError> {
    store
        .try_append(
            &request.stream_id,
            request.expected,
            &request.events,
            &request.metadata,
        )
        .await
}

/// Runs `append_many.sql` for the batch (autocommit: one transaction). One outcome per
/// request, in order.
async fn run_append_many(
    store: &PgEventStore,
    connection: &mut Option<PoolConnection<Postgres>>,
    batch: &[Request],
) -> Result<Vec<Outcome>, sqlx::Error> {
    let total: usize = batch.iter().map(|r| r.events.len()).sum();
    let mut streams = Vec::with_capacity(batch.len());
    let mut kinds = Vec::with_capacity(batch.len());
    let mut exacts = Vec::with_capacity(batch.len());
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
        let (kind, exact) = expectation(request.expected);
        streams.push(request.stream_id.as_str());
        kinds.push(kind);
        exacts.push(exact);
        metadata.push(request.metadata_json.as_str());
        for ((seq, event), version) in (1i32..).zip(&request.events).zip(&request.versions) {
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
        None => connection.insert(store.inner.pool.acquire().await?),
    };
    let rows = sqlx::query(&store.inner.sql.append_many)
        .bind(&streams)
        .bind(&kinds)
        .bind(&exacts)
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
    rows.iter()
        .zip(batch)
        .map(|(row, request)| {
            decode_outcome(row, &request.stream_id, &request.events, &request.metadata)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PgEventStoreConfig, SchemaName};
    use cqrs_core::{EventStore, JsonPayload};

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
        let metadata = Metadata::default();
        Request {
            stream_id: stream_id.to_owned(),
            expected,
            versions: check_events(stream_id, &events).expect("events"),
            events,
            metadata_json: encode_metadata(stream_id, &metadata).expect("metadata"),
            metadata: Arc::new(metadata),
            reply: oneshot::channel().0,
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
        let mut connection = None;
        let committed = run_append_many(&store, &mut connection, &batch)
            .await
            .expect("the batch commits");
        drop(connection);
        for (request, outcome) in batch.iter().zip(committed) {
            let Outcome::Appended(original) = outcome else {
                panic!("{} was rejected", request.stream_id);
            };
            let retried = append_alone(&store, request).await.expect("the retry");
            assert!(retried.deduplicated, "{} written twice", request.stream_id);
            assert_eq!(retried.events, original.events);
            let stored = store
                .read_stream(&request.stream_id, 1)
                .await
                .expect("read");
            assert_eq!(stored, original.events);
        }
        let drop_schema = format!("DROP SCHEMA {} CASCADE", store.config().schema.quoted());
        sqlx::query(&drop_schema)
            .execute(store.pool())
            .await
            .expect("drop the test schema");
    }
}
