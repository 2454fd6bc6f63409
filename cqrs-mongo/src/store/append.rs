//! Appending a batch: one multi-document transaction from the checks to the commit.
//!
//! # Mechanism
//! Before the transaction, [`validate_append`] checks the input (limits, NUL characters,
//! an id twice within the batch) and the event documents are encoded once. Then, inside
//! one transaction (snapshot reads, majority commit):
//! 1. look up the batch's event ids: when some are stored, cqrs-core's idempotency rule
//!    ([`resolve_stored_ids`]) decides: a stored batch is a retry (original result,
//!    `deduplicated: true`), any other stored id is `DuplicateEventId`;
//! 2. read the stream's current version and check the [`ExpectedVersion`] (typed
//!    [`Conflict`] on mismatch, nothing written);
//! 3. allocate the batch's positions with `$inc` on a single counter document;
//! 4. insert the event documents (`_id` = position);
//! 5. commit.
//!
//! Step 3 is what makes the global log gap-free for catch-up readers. While a transaction
//! holds its uncommitted write on the counter, any other append that reaches step 3 gets a
//! `WriteConflict` (labelled `TransientTransactionError`) and is retried from step 1 after a
//! short backoff; so is one whose snapshot predates the last commit of the counter. Hence
//! positions are handed out, and become visible, strictly in commit order, and a reader that
//! saw position `p` can never later find a newly committed event below `p`. An aborted
//! transaction rolls its increment back, so positions are also dense.
//!
//! The cost: appends to *different* streams serialize on that one document. Throughput is
//! bounded by one commit per counter-hold time (about two round trips: insert and commit,
//! since the counter is taken last), and under contention some attempts are retried.
//! Batching events per append amortizes it.
//!
//! Duplicate keys (server code 11000) cannot normally happen, since the checks run inside
//! the same transaction; if one does (a concurrent writer outside this store), the
//! transaction is re-run once, and its checks turn the race into the typed outcome
//! (conflict with the actual version, retry, or duplicate id).

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_core::store::{resolve_stored_ids, validate_append};
use cqrs_core::{AppendResult, Conflict, ExpectedVersion, Metadata, NewEvent, StoreError};
use mongodb::ClientSession;
use uuid::Uuid;

use super::{
    collect_in, run_transaction, BodyError, Collections, MongoEventStore, Outcome, TransactionBody,
};
use crate::codec::{encode_event, encode_metadata, fields, get_u64, now_millis, EventDocument};
use crate::error::{classify, from_class, store_error, ErrorClass, ErrorFacts};
use crate::queries;

pub(crate) async fn append(
    store: &MongoEventStore,
    stream_id: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    metadata: &Metadata,
) -> Result<AppendResult, StoreError> {
    validate_append(stream_id, &events, metadata, &store.config.limits)?;
    let mut body = AppendBody::prepare(store.collections(), stream_id, expected, events, metadata)?;
    let budget = store.config.transaction_timeout;
    let mut raced = false;
    loop {
        match run_transaction(&store.client, budget, "append", &mut body).await {
            Ok(result) => return Ok(result),
            Err(BodyError::Store(error)) => return Err(error),
            Err(BodyError::Driver(error)) => {
                let class = classify(&ErrorFacts::of(&error));
                if class != ErrorClass::DuplicateKey {
                    return Err(store_error("append", error));
                }
                if raced {
                    tracing::error!(stream = stream_id, %error, "duplicate key not explained by the stored events");
                    // Not the store's own guard (a unique index of someone else's?):
                    // retrying cannot help.
                    return Err(from_class(
                        "append",
                        ErrorClass::DuplicateKey,
                        Box::new(error),
                    ));
                }
                tracing::debug!(stream = stream_id, %error, "duplicate key: re-checking inside a new transaction");
                raced = true;
            }
        }
    }
}

/// One append, re-run on every transaction attempt. The documents are encoded once,
/// before the transaction; each attempt only stamps positions and versions on them.
struct AppendBody<'a> {
    collections: &'a Collections,
    stream_id: Arc<str>,
    expected: ExpectedVersion,
    ids: Vec<Uuid>,
    prepared: Vec<EventDocument>,
}

impl<'a> AppendBody<'a> {
    fn prepare(
        collections: &'a Collections,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<Self, StoreError> {
        let stream: Arc<str> = Arc::from(stream_id);
        let invalid = |index: usize, reason: String| StoreError::InvalidInput {
            stream: stream_id.to_owned(),
            reason: format!("event #{index}: {reason}"),
        };
        let metadata_doc = encode_metadata(metadata).map_err(|e| StoreError::InvalidInput {
            stream: stream_id.to_owned(),
            reason: format!("metadata: {e}"),
        })?;
        let metadata = Arc::new(metadata.clone());
        let recorded_at = now_millis();
        let ids = events.iter().map(|e| e.event_id).collect();
        let prepared = events
            .into_iter()
            .enumerate()
            .map(|(index, event)| {
                let described = format!("{} `{}`", event.event_id, event.event_type);
                encode_event(event, &stream, 0, 0, recorded_at, &metadata, &metadata_doc)
                    .map_err(|e| invalid(index, format!("{described}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            collections,
            stream_id: stream,
            expected,
            ids,
            prepared,
        })
    }

    /// Stamps positions `first..` and versions `current + 1..` on the prepared documents.
    fn stamp(&mut self, first_position: u64, current_version: u64) {
        for (offset, prepared) in self.prepared.iter_mut().enumerate() {
            let position = first_position + offset as u64;
            let version = current_version + offset as u64 + 1;
            // Both are below i64::MAX: positions come from an Int64 counter, and a stream
            // cannot have more events than the log.
            prepared.document.insert(fields::POSITION, position as i64);
            prepared
                .document
                .insert(fields::STREAM_VERSION, version as i64);
            prepared.recorded.position = position;
            prepared.recorded.stream_version = version;
        }
    }

    fn conflict(&self, actual: u64) -> StoreError {
        Conflict {
            stream: self.stream_id.to_string(),
            expected: self.expected,
            actual,
        }
        .into()
    }
}

#[async_trait]
impl TransactionBody for AppendBody<'_> {
    type Output = AppendResult;

    async fn run(
        &mut self,
        session: &mut ClientSession,
    ) -> Result<Outcome<AppendResult>, BodyError> {
        let events = &self.collections.events;

        // 1. A retried batch?
        if !self.ids.is_empty() {
            let cursor = events
                .find(queries::events_with_ids(&self.ids))
                .session(&mut *session)
                .await?;
            let stored = collect_in(cursor, session).await?;
            if !stored.is_empty() {
                return Ok(Outcome::Abort(resolve_stored_ids(
                    &self.stream_id,
                    &self.ids,
                    stored,
                )?));
            }
        }

        // 2. The expected version.
        let current = events
            .find_one(queries::stream(&self.stream_id))
            .sort(queries::newest_first())
            .projection(queries::version_only())
            .session(&mut *session)
            .await?
            .map(|d| get_u64(&d, fields::STREAM_VERSION))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("stream `{}`: {e}", self.stream_id)))?
            .unwrap_or(0);
        if !self.expected.accepts(current) {
            return Err(self.conflict(current).into());
        }
        if self.prepared.is_empty() {
            return Ok(Outcome::Abort(AppendResult {
                current_version: current,
                events: Vec::new(),
                deduplicated: false,
            }));
        }

        // 3. Positions, in commit order (see the module docs).
        let count = self.prepared.len() as i64;
        let counter = self
            .collections
            .counters
            .find_one_and_update(
                queries::position_counter(),
                queries::allocate_positions(count),
            )
            .return_document(mongodb::options::ReturnDocument::After)
            .session(&mut *session)
            .await?
            .ok_or_else(|| StoreError::Backend {
                operation: "append",
                source:
                    "the position counter document is missing: run MongoEventStore::migrate() first"
                        .into(),
            })?;
        let last = get_u64(&counter, queries::COUNTER_VALUE)
            .map_err(|e| StoreError::Corrupt(format!("position counter: {e}")))?;
        let first = (last + 1)
            .checked_sub(count as u64)
            .filter(|first| *first >= 1)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "position counter at {last} after allocating {count} positions"
                ))
            })?;
        self.stamp(first, current);

        // 4. The events.
        events
            .insert_many(self.prepared.iter().map(|p| &p.document))
            .ordered(true)
            .session(&mut *session)
            .await?;

        Ok(Outcome::Commit(AppendResult {
            current_version: current + count as u64,
            events: self.prepared.iter().map(|p| p.recorded.clone()).collect(),
            deduplicated: false,
        }))
    }
}
