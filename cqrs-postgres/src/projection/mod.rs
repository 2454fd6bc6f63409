//! Transactional projections on PostgreSQL: read models written in the transaction that
//! advances their checkpoint, for an exactly-once effect.
//!
//! The concept and the batch loop are cqrs-core's
//! ([`cqrs_core::projection::transactional`]); this module supplies only PostgreSQL's
//! transaction, by implementing [`TransactionalStore`] for [`PgEventStore`]. A projection
//! implements [`TransactionalProjection<PgConnection>`](TransactionalProjection) and writes
//! its rows through the connection it is given; a [`TransactionalRunner`] runs each batch
//! in one transaction:
//!
//! 1. `BEGIN`;
//! 2. lock the projection's checkpoint row (`lock_checkpoint.sql`: an upsert that creates
//!    it at 0 and holds the row lock until the transaction ends, so a second runner of the
//!    same projection waits, then sees the checkpoint the first one committed);
//! 3. read the next events after it through the gap-safe reader (only positions below
//!    the oldest running transaction, so a late commit is never skipped);
//! 4. apply them through the transaction's connection;
//! 5. store the new checkpoint; under a lease, check it (`fence.sql`: `FOR SHARE` on the
//!    lease row, so a takeover waits for this commit, and one committed before rolls the
//!    batch back); `COMMIT`.
//!
//! Several replicas: give the runner a lease
//! ([`TransactionalRunner::with_lease`]), kept in this store's `leases` table; see the
//! [crate docs](crate#several-replicas).
//!
//! A projection's error is classified by [`classify_error`](crate::classify_error) unless
//! its [`failure_kind`](TransactionalProjection::failure_kind) says otherwise: the SQLSTATE
//! of the `sqlx::Error` in its source chain (a NUL in text, 22021, or an index row too
//! large, 54000, are permanent; a serialization failure or a timeout transient).
//!
//! See the [crate docs](crate#transactional-projections) for an example.

use async_trait::async_trait;
use cqrs_core::lease::Lease;
use cqrs_core::{FailureKind, RecordedEvent, StoreError};
use sqlx::{PgConnection, Postgres};

pub use cqrs_core::{TransactionalProjection, TransactionalRunner, TransactionalStore};

use crate::error::map_sqlx;
use crate::store::{checkpoints, read, PgEventStore};

/// PostgreSQL's transaction for a [`TransactionalRunner`]: a pooled connection in a
/// transaction; projections write through its [`PgConnection`].
#[async_trait]
impl TransactionalStore for PgEventStore {
    type Transaction = sqlx::Transaction<'static, Postgres>;
    type Connection = PgConnection;

    async fn begin_transaction(&self) -> Result<Self::Transaction, StoreError> {
        self.pool().begin().await.map_err(|e| map_sqlx("begin", e))
    }

    /// `lock_checkpoint.sql`: the row lock is held until the transaction ends.
    async fn lock_checkpoint(
        &self,
        tx: &mut Self::Transaction,
        name: &str,
    ) -> Result<u64, StoreError> {
        let locked: i64 = sqlx::query_scalar(&self.statements().lock_checkpoint)
            .bind(name)
            .fetch_one(&mut **tx)
            .await
            .map_err(|e| map_sqlx("lock_checkpoint", e))?;
        u64::try_from(locked).map_err(|_| {
            StoreError::Corrupt(format!(
                "negative checkpoint {locked} of projection `{name}`"
            ))
        })
    }

    async fn read_all_in(
        &self,
        tx: &mut Self::Transaction,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        read::read_all(&mut **tx, &self.statements().read_all, from_position, max).await
    }

    fn connection(tx: &mut Self::Transaction) -> &mut PgConnection {
        tx
    }

    async fn save_checkpoint_in(
        &self,
        tx: &mut Self::Transaction,
        name: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        checkpoints::save(
            &mut **tx,
            &self.statements().save_checkpoint,
            name,
            position,
        )
        .await
    }

    /// `fence.sql`: the lease row stays share-locked until the transaction ends.
    async fn fence_in(
        &self,
        tx: &mut Self::Transaction,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        let token = i64::try_from(lease.token).unwrap_or(i64::MAX);
        let current: Option<i32> = sqlx::query_scalar(&self.statements().fence_lease)
            .bind(&*lease.name)
            .bind(&*lease.holder)
            .bind(token)
            .fetch_optional(&mut **tx)
            .await
            .map_err(|e| map_sqlx("fence_lease", e))?;
        Ok(current.is_some())
    }

    async fn commit_transaction(&self, tx: Self::Transaction) -> Result<(), StoreError> {
        tx.commit().await.map_err(|e| map_sqlx("commit", e))
    }

    async fn rollback_transaction(&self, tx: Self::Transaction) {
        // A failed rollback changes nothing: the transaction did not commit, and the
        // connection is closed instead of going back to the pool.
        if let Err(error) = tx.rollback().await {
            tracing::debug!(%error, "rollback of a projection batch failed");
        }
    }

    /// [`classify_error`](crate::classify_error): by the SQLSTATE in the error's source chain.
    fn classify_error(&self, error: &(dyn std::error::Error + 'static)) -> FailureKind {
        crate::classify_error(error)
    }
}
