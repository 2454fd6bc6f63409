//! Transactional projections: read-model writes and the checkpoint commit together.
//!
//! A [`TransactionalProjection`] writes its read model through the [`ClientSession`] it is
//! given. The [`TransactionalProjector`] reads a batch of the global log and applies it
//! inside one transaction that also moves the projection's checkpoint, so after a crash the
//! read model and the checkpoint always agree: each event's effect is applied exactly once.
//!
//! ```no_run
//! use async_trait::async_trait;
//! use bson::doc;
//! use cqrs_core::RecordedEvent;
//! use cqrs_mongo::{ApplyError, MongoEventStore, TransactionalProjection, TransactionalProjector};
//! use mongodb::{ClientSession, Database};
//!
//! struct OrdersPerCustomer;
//!
//! #[async_trait]
//! impl TransactionalProjection for OrdersPerCustomer {
//!     fn name(&self) -> &str { "orders-per-customer" }
//!     async fn apply(&mut self, event: &RecordedEvent, db: &Database, session: &mut ClientSession) -> Result<(), ApplyError> {
//!         if &*event.event_type == "OrderPlaced" {
//!             db.collection::<bson::Document>("orders_per_customer")
//!                 .update_one(doc! { "_id": event.stream_id.as_ref() }, doc! { "$inc": { "orders": 1 } })
//!                 .upsert(true)
//!                 .session(session)
//!                 .await?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # async fn run(store: std::sync::Arc<MongoEventStore>) -> Result<(), cqrs_mongo::ProjectionError> {
//! let mut projector = TransactionalProjector::new(store, OrdersPerCustomer);
//! let checkpoint = projector.catch_up().await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{BoxError, EventStore, FailureKind, RecordedEvent, RetryPolicy, StoreError};
use mongodb::{ClientSession, Database};

use crate::codec::u64_to_i64;
use crate::error::store_error;
use crate::queries;
use crate::store::{
    collect_in, load_in, run_transaction, save_in, BodyError, MongoEventStore, Outcome,
    TransactionBody,
};

/// A read model written inside the transaction that moves its checkpoint.
///
/// `apply` may be called again for the same events when a transaction is retried (write
/// conflicts, elections): keep state in the database, written through `session`, not in
/// `self`. Writes made without the session are not part of the transaction.
#[async_trait]
pub trait TransactionalProjection: Send + Sync + 'static {
    /// Stable name: the key of the checkpoint (shared with
    /// [`EventStore::load_checkpoint`]).
    fn name(&self) -> &str;

    /// Applies one event, writing through `session`.
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        db: &Database,
        session: &mut ClientSession,
    ) -> Result<(), ApplyError>;
}

/// Why an event could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A driver error; transient transaction errors make the batch retry.
    #[error(transparent)]
    Mongo(#[from] mongodb::error::Error),
    /// The projection refused the event.
    #[error("{0}")]
    Projection(BoxError),
}

/// A projection batch failed; its transaction was rolled back with the checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The store failed (after retries of transient errors).
    #[error("projection `{projection}`: {source}")]
    Store {
        /// Projection name.
        projection: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The projection failed on one event.
    #[error("projection `{projection}` failed at position {position} (`{event_type}` in stream `{stream}`): {source}")]
    Apply {
        /// Projection name.
        projection: String,
        /// The failing event's position (the checkpoint stays before its batch).
        position: u64,
        /// Its stream.
        stream: String,
        /// Its type.
        event_type: String,
        /// The projection's error.
        #[source]
        source: BoxError,
    },
}

impl ProjectionError {
    /// How [`TransactionalProjector::run_until`] treats it: a transient store failure
    /// ([`StoreError::kind`]) is retried with backoff, everything else stops the projector.
    pub fn kind(&self) -> FailureKind {
        match self {
            ProjectionError::Store { source, .. } => source.kind(),
            ProjectionError::Apply { .. } => FailureKind::Permanent,
        }
    }
}

/// Feeds a [`TransactionalProjection`] from the global log, one transaction per batch.
pub struct TransactionalProjector<P> {
    store: Arc<MongoEventStore>,
    projection: P,
    batch_size: usize,
}

impl<P: TransactionalProjection> TransactionalProjector<P> {
    /// A projector reading batches of 100 events.
    pub fn new(store: Arc<MongoEventStore>, projection: P) -> Self {
        Self {
            store,
            projection,
            batch_size: 100,
        }
    }

    /// Events per transaction (at least 1). Keep transactions short: MongoDB aborts those
    /// older than `transactionLifetimeLimitSeconds` (60 s by default).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Returns the projection.
    pub fn into_inner(self) -> P {
        self.projection
    }

    /// Applies the next batch after the checkpoint in one transaction. Returns the number
    /// of events applied (0 when caught up).
    #[tracing::instrument(level = "debug", skip(self), fields(projection = self.projection.name()))]
    pub async fn step(&mut self) -> Result<usize, ProjectionError> {
        let name = self.projection.name().to_owned();
        let store = Arc::clone(&self.store);
        let mut body = BatchBody {
            store: &store,
            projection: &mut self.projection,
            name: &name,
            batch_size: self.batch_size,
            failure: None,
        };
        let result = run_transaction(
            store.client(),
            store.config().transaction_timeout,
            "project",
            &mut body,
        )
        .await;
        match result {
            Ok(applied) => Ok(applied),
            Err(BodyError::Store(source)) => Err(ProjectionError::Store {
                projection: name,
                source,
            }),
            Err(BodyError::Driver(error)) => Err(ProjectionError::Store {
                projection: name,
                source: store_error("project", error),
            }),
            Err(BodyError::Refused) => {
                Err(body
                    .failure
                    .take()
                    .unwrap_or_else(|| ProjectionError::Store {
                        projection: name.clone(),
                        source: StoreError::Corrupt(
                            "projection batch refused without a recorded failure".into(),
                        ),
                    }))
            }
        }
    }

    /// Applies batches until the checkpoint reaches the head. Returns the checkpoint.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        while self.step().await? > 0 {}
        let name = self.projection.name().to_owned();
        self.store
            .load_checkpoint(&name)
            .await
            .map(|c| c.unwrap_or(0))
            .map_err(|source| ProjectionError::Store {
                projection: name,
                source,
            })
    }

    /// Catches up, then follows the log (woken by the store, polling every `idle_poll`)
    /// until `shutdown` completes.
    ///
    /// A transient failure ([`ProjectionError::kind`]: the replica set unreachable, a
    /// timeout) is retried with backoff (100 ms doubling to 10 s) for as long as it lasts,
    /// never skipping an event. A permanent one (the projection refused an event, the
    /// server refused its write for good) returns the error: the checkpoint stays before
    /// the failing batch.
    pub async fn run_until(
        &mut self,
        idle_poll: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ProjectionError> {
        tokio::pin!(shutdown);
        let mut watch = self.store.subscribe();
        let backoff = RetryPolicy::default()
            .with_backoff(Duration::from_millis(100), Duration::from_secs(10));
        let mut failures = 0;
        loop {
            let wait = match self.catch_up().await {
                Ok(checkpoint) => {
                    failures = 0;
                    watch.wait_beyond(checkpoint, idle_poll)
                }
                Err(error) if error.kind() == FailureKind::Transient => {
                    failures += 1;
                    let delay = backoff.backoff(failures);
                    tracing::warn!(projection = self.projection.name(), %error, attempt = failures, retry_in = ?delay, "projection failed transiently, retrying");
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                    continue;
                }
                Err(error) => {
                    tracing::error!(projection = self.projection.name(), %error, "projection failed for good; stopping");
                    return Err(error);
                }
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = wait => {}
            }
        }
    }
}

struct BatchBody<'a, P> {
    store: &'a MongoEventStore,
    projection: &'a mut P,
    name: &'a str,
    batch_size: usize,
    /// Set when the projection refused an event (the transaction is then aborted).
    failure: Option<ProjectionError>,
}

#[async_trait]
impl<P: TransactionalProjection> TransactionBody for BatchBody<'_, P> {
    type Output = usize;

    async fn run(&mut self, session: &mut ClientSession) -> Result<Outcome<usize>, BodyError> {
        let collections = self.store.collections();
        // The checkpoint is read inside the transaction: two projectors with the same name
        // conflict on its document and one of them retries from the new checkpoint.
        let checkpoint = load_in(&collections.checkpoints, self.name, &mut *session)
            .await??
            .unwrap_or(0);
        let Some(from) = u64_to_i64(checkpoint + 1) else {
            return Ok(Outcome::Abort(0));
        };
        let cursor = collections
            .events
            .find(queries::log_from(from))
            .sort(queries::by_position())
            .limit(i64::try_from(self.batch_size).unwrap_or(i64::MAX))
            .session(&mut *session)
            .await?;
        let events = collect_in(cursor, session).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(Outcome::Abort(0));
        };
        for event in &events {
            match self
                .projection
                .apply(event, self.store.database(), &mut *session)
                .await
            {
                Ok(()) => {}
                Err(ApplyError::Mongo(error)) => return Err(BodyError::Driver(error)),
                Err(ApplyError::Projection(source)) => {
                    self.failure = Some(ProjectionError::Apply {
                        projection: self.name.to_owned(),
                        position: event.position,
                        stream: event.stream_id.to_string(),
                        event_type: event.event_type.to_string(),
                        source,
                    });
                    return Err(BodyError::Refused);
                }
            }
        }
        save_in(&collections.checkpoints, self.name, last, &mut *session).await??;
        Ok(Outcome::Commit(events.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_store_failures_are_retried_by_run_until() {
        let store = |source| ProjectionError::Store {
            projection: "p".into(),
            source,
        };
        let unavailable = StoreError::Unavailable {
            operation: "project",
            source: "replica set unreachable".into(),
        };
        let refused = StoreError::Refused {
            operation: "project",
            code: "10334".into(),
            input_at_fault: true,
            source: "BSONObjectTooLarge".into(),
        };
        assert_eq!(store(unavailable).kind(), FailureKind::Transient);
        assert_eq!(store(refused).kind(), FailureKind::Permanent);
        let apply = ProjectionError::Apply {
            projection: "p".into(),
            position: 7,
            stream: "S-1".into(),
            event_type: "T".into(),
            source: "refused".into(),
        };
        assert_eq!(apply.kind(), FailureKind::Permanent);
    }
}
