//! Transactional projections on MongoDB: read-model writes and the checkpoint commit in one
//! multi-document transaction, for an exactly-once effect.
//!
//! The concept and the batch loop are cqrs-core's
//! ([`cqrs_core::projection::transactional`]); this module supplies only MongoDB's
//! transaction, by implementing [`TransactionalStore`] for [`MongoEventStore`]. A
//! projection implements [`TransactionalProjection<MongoTransaction>`](TransactionalProjection)
//! and writes through the [`MongoTransaction`] it is given; a [`TransactionalRunner`] runs
//! each batch in one transaction (snapshot reads, majority commit):
//!
//! 1. start a session and a transaction;
//! 2. read the projection's checkpoint inside it: a second runner of the same projection
//!    that read it too conflicts on the checkpoint document when both write it
//!    (`WriteConflict`, transient), so only one of them commits;
//! 3. read the next events after it, inside the transaction;
//! 4. apply them through the session;
//! 5. store the new checkpoint; under a lease
//!    ([`TransactionalRunner::with_lease`](cqrs_core::TransactionalRunner::with_lease)),
//!    write the lease document matching its holder and token inside the transaction
//!    (nothing matches after a takeover: the batch rolls back; a takeover racing it is a
//!    write conflict), then commit.
//!
//! A `TransientTransactionError` (a write conflict, an election) or an
//! `UnknownTransactionCommitResult` fails the batch as transient and the runner retries it
//! in a new transaction; the checkpoint that transaction reads says whether the earlier
//! commit landed, so each event still counts once. Keep batches short
//! ([`RunnerConfig::batch_size`](cqrs_core::RunnerConfig::batch_size)): MongoDB aborts
//! transactions older than `transactionLifetimeLimitSeconds` (60 s by default).
//!
//! A projection's error is classified by the driver error in its source chain unless its
//! [`failure_kind`](TransactionalProjection::failure_kind) says otherwise: data the server
//! refuses for good (a duplicate key, a document over 16 MB, a failed validation) is
//! permanent, everything else transient (see the crate README's error table).
//!
//! ```no_run
//! use std::sync::Arc;
//! use async_trait::async_trait;
//! use bson::{doc, Document};
//! use cqrs_core::RecordedEvent;
//! use cqrs_mongo::{MongoEventStore, MongoTransaction, TransactionalProjection, TransactionalRunner};
//!
//! struct OrdersPerCustomer;
//!
//! #[async_trait]
//! impl TransactionalProjection<MongoTransaction> for OrdersPerCustomer {
//!     type Error = mongodb::error::Error;
//!     fn name(&self) -> &str { "orders-per-customer" }
//!     async fn apply(&mut self, event: &RecordedEvent, tx: &mut MongoTransaction) -> Result<(), Self::Error> {
//!         if &*event.event_type == "OrderPlaced" {
//!             tx.database()
//!                 .collection::<Document>("orders_per_customer")
//!                 .update_one(doc! { "_id": event.stream_id.as_ref() }, doc! { "$inc": { "orders": 1 } })
//!                 .upsert(true)
//!                 .session(tx.session())
//!                 .await?;
//!         }
//!         Ok(())
//!     }
//!     async fn reset(&mut self, tx: &mut MongoTransaction) -> Result<(), Self::Error> {
//!         tx.database()
//!             .collection::<Document>("orders_per_customer")
//!             .delete_many(doc! {})
//!             .session(tx.session())
//!             .await?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn run(store: Arc<MongoEventStore>) -> Result<(), cqrs_core::RunnerError> {
//! let mut runner = TransactionalRunner::new(store, OrdersPerCustomer);
//! let checkpoint = runner.catch_up().await?;
//! let running = runner.spawn(); // follows the log until `running.shutdown()`
//! # Ok(()) }
//! ```

use async_trait::async_trait;
use bson::doc;
use cqrs_core::lease::Lease;
use cqrs_core::{FailureKind, RecordedEvent, StoreError};
use mongodb::options::{ReadConcern, WriteConcern};
use mongodb::{ClientSession, Database};

pub use cqrs_core::{TransactionalProjection, TransactionalRunner, TransactionalStore};

use crate::codec::u64_to_i64;
use crate::error::{classify, store_error, ErrorClass, ErrorFacts};
use crate::queries;
use crate::store::{collect_in, load_in, save_in, BodyError, MongoEventStore};

/// What a MongoDB [`TransactionalProjection`] writes through: the store's database and the
/// session of the batch's transaction.
///
/// Pass [`session`](Self::session) to every operation (`.session(tx.session())`): a write
/// without it is not part of the transaction, and is neither rolled back with a failed
/// batch nor undone by a rebuild. Do not commit or abort it: the runner does.
#[derive(Debug)]
pub struct MongoTransaction {
    database: Database,
    session: ClientSession,
}

impl MongoTransaction {
    /// The store's database (read models usually live beside the events).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The session whose transaction the batch runs in.
    pub fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }
}

/// MongoDB's transaction for a [`TransactionalRunner`]: a session in a transaction with
/// snapshot reads and majority-acknowledged commits; projections write through the
/// [`MongoTransaction`].
#[async_trait]
impl TransactionalStore for MongoEventStore {
    type Transaction = MongoTransaction;
    type Connection = MongoTransaction;

    async fn begin_transaction(&self) -> Result<MongoTransaction, StoreError> {
        let mut session = self
            .client()
            .start_session()
            .await
            .map_err(|e| store_error("begin", e))?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .await
            .map_err(|e| store_error("begin", e))?;
        Ok(MongoTransaction {
            database: self.database().clone(),
            session,
        })
    }

    /// Read inside the transaction (a missing checkpoint reads as 0): two runners that
    /// both read it conflict when both write it, and only one commits.
    async fn lock_checkpoint(
        &self,
        tx: &mut MongoTransaction,
        name: &str,
    ) -> Result<u64, StoreError> {
        let checkpoint = load_in(&self.collections().checkpoints, name, &mut tx.session)
            .await
            .map_err(|e| store_error("lock_checkpoint", e))??;
        Ok(checkpoint.unwrap_or(0))
    }

    async fn read_all_in(
        &self,
        tx: &mut MongoTransaction,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // A limit of 0 means "no limit" to MongoDB.
        let Some(from) = u64_to_i64(from_position.max(1)).filter(|_| max > 0) else {
            return Ok(Vec::new());
        };
        let cursor = self
            .collections()
            .events
            .find(queries::log_from(from))
            .sort(queries::by_position())
            .limit(i64::try_from(max).unwrap_or(i64::MAX))
            .session(&mut tx.session)
            .await
            .map_err(|e| store_error("read_all", e))?;
        collect_in(cursor, &mut tx.session)
            .await
            .map_err(|error| match error {
                BodyError::Driver(e) => store_error("read_all", e),
                BodyError::Store(e) => e,
            })
    }

    fn connection(tx: &mut MongoTransaction) -> &mut MongoTransaction {
        tx
    }

    async fn save_checkpoint_in(
        &self,
        tx: &mut MongoTransaction,
        name: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        save_in(
            &self.collections().checkpoints,
            name,
            position,
            &mut tx.session,
        )
        .await
        .map_err(|e| store_error("save_checkpoint", e))?
    }

    /// Writes the lease document under the lease's holder and token in the transaction
    /// (as the fenced checkpoint write does): matched only while the lease is current, and
    /// a takeover that writes it concurrently conflicts with this transaction.
    async fn fence_in(&self, tx: &mut MongoTransaction, lease: &Lease) -> Result<bool, StoreError> {
        crate::lease::fence(
            &self.collections().leases,
            crate::lease::current(lease)?,
            &mut tx.session,
        )
        .await
        .map_err(|e| store_error("fence_lease", e))
    }

    /// A commit error is mapped like any driver error: one labelled
    /// `UnknownTransactionCommitResult` or `TransientTransactionError` is transient, and the
    /// runner's retry reads the checkpoint to learn whether it landed.
    async fn commit_transaction(&self, mut tx: MongoTransaction) -> Result<(), StoreError> {
        tx.session
            .commit_transaction()
            .await
            .map_err(|e| store_error("commit", e))
    }

    async fn rollback_transaction(&self, mut tx: MongoTransaction) {
        // The server may already have aborted it (that is what most errors mean).
        if let Err(error) = tx.session.abort_transaction().await {
            tracing::trace!(%error, "abortTransaction of a projection batch failed");
        }
    }

    /// By the first driver error or [`StoreError`] in the source chain; anything else is
    /// transient.
    fn classify_error(&self, error: &(dyn std::error::Error + 'static)) -> FailureKind {
        classify_error(error)
    }
}

/// How a projection's error is treated: a driver error by its code and labels (refused
/// data and a duplicate key are permanent), a [`StoreError`] by [`StoreError::kind`],
/// anything else transient.
fn classify_error(error: &(dyn std::error::Error + 'static)) -> FailureKind {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(driver) = error.downcast_ref::<mongodb::error::Error>() {
            return match classify(&ErrorFacts::of(driver)) {
                ErrorClass::DuplicateKey | ErrorClass::Refused(_) => FailureKind::Permanent,
                _ => FailureKind::Transient,
            };
        }
        if let Some(store_error) = error.downcast_ref::<StoreError>() {
            return store_error.kind();
        }
        current = error.source();
    }
    FailureKind::Transient
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};

    #[derive(Debug, thiserror::Error)]
    enum ViewError {
        #[error("view write failed: {0}")]
        Mongo(#[from] DriverError),
        #[error("view refused the event")]
        Refused(#[source] StoreError),
        #[error("upstream hiccup")]
        Upstream,
    }

    fn write_error(code: i32) -> DriverError {
        let write: mongodb::error::WriteError =
            bson::from_document(bson::doc! { "code": code, "errmsg": "refused" }).unwrap();
        DriverError::from(ErrorKind::Write(WriteFailure::WriteError(write)))
    }

    #[test]
    fn projection_errors_are_classified_by_the_driver_error_in_their_chain() {
        // BSONObjectTooLarge, a duplicate key: the data is refused for good.
        for code in [10334, 11000] {
            let error = ViewError::from(write_error(code));
            assert_eq!(classify_error(&error), FailureKind::Permanent, "{code}");
        }
        // WriteConflict: the batch is retried.
        let conflict: mongodb::error::CommandError = bson::from_document(
            bson::doc! { "code": 112, "codeName": "WriteConflict", "errmsg": "conflict" },
        )
        .unwrap();
        let conflict = ViewError::from(DriverError::from(ErrorKind::Command(conflict)));
        assert_eq!(classify_error(&conflict), FailureKind::Transient);
        let refused = ViewError::Refused(StoreError::InvalidInput {
            stream: "S-1".into(),
            reason: "no".into(),
        });
        assert_eq!(classify_error(&refused), FailureKind::Permanent);
        assert_eq!(classify_error(&ViewError::Upstream), FailureKind::Transient);
    }
}
