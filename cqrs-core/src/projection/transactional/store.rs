//! [`TransactionalStore`]: the transaction a store adapter supplies to the
//! [`TransactionalRunner`](super::TransactionalRunner).

use async_trait::async_trait;

use crate::envelope::RecordedEvent;
use crate::error::StoreError;
use crate::failure::FailureKind;
use crate::lease::Lease;
use crate::store::EventStore;

/// A store that can run [`TransactionalProjection`](super::TransactionalProjection)s: it
/// supplies one transaction per batch, and nothing else (the batch loop is the
/// [`TransactionalRunner`](super::TransactionalRunner)'s). Implemented by
/// `cqrs_postgres::PgEventStore` and `cqrs_mongo::MongoEventStore`.
///
/// The runner calls, for each batch: [`begin_transaction`](Self::begin_transaction),
/// [`lock_checkpoint`](Self::lock_checkpoint), [`read_all_in`](Self::read_all_in), the
/// projection with [`connection`](Self::connection), [`save_checkpoint_in`](Self::save_checkpoint_in),
/// [`fence_in`](Self::fence_in) when it runs under a lease, then [`commit_transaction`](Self::commit_transaction) or
/// [`rollback_transaction`](Self::rollback_transaction). Wake-ups come from
/// [`EventStore::subscribe`].
///
/// What an implementation must guarantee:
/// - everything written through the transaction, the checkpoint included, commits
///   atomically or not at all;
/// - two transactions that both locked the same checkpoint cannot both commit a change of
///   it based on the value each read (PostgreSQL: a row lock, the second waits; MongoDB: a
///   write conflict on the checkpoint document, the second aborts, transiently);
/// - [`read_all_in`](Self::read_all_in) never skips an event that commits later below a
///   position it returned (the store's gap-free reading of the log).
#[async_trait]
pub trait TransactionalStore: EventStore + Sized {
    /// One open transaction.
    type Transaction: Send;

    /// What a projection writes through: borrowed from the transaction for each event.
    type Connection: ?Sized + Send;

    /// Begins a transaction.
    async fn begin_transaction(&self) -> Result<Self::Transaction, StoreError>;

    /// Reads the checkpoint of the projection `name` under the transaction's lock (a missing
    /// one reads as 0; PostgreSQL creates its row at 0 to lock it).
    async fn lock_checkpoint(
        &self,
        transaction: &mut Self::Transaction,
        name: &str,
    ) -> Result<u64, StoreError>;

    /// Up to `max` events of the global log from `from_position` on, read inside the
    /// transaction (as [`EventStore::read_all`] reads them outside one).
    async fn read_all_in(
        &self,
        transaction: &mut Self::Transaction,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The connection a projection writes through.
    fn connection(transaction: &mut Self::Transaction) -> &mut Self::Connection;

    /// Sets the checkpoint of `name` to `position` (also backwards, for a rebuild) inside the
    /// transaction.
    async fn save_checkpoint_in(
        &self,
        transaction: &mut Self::Transaction,
        name: &str,
        position: u64,
    ) -> Result<(), StoreError>;

    /// Checks, inside the transaction and just before it commits, that `lease` (kept by
    /// this store, see [`LeaseStore`](crate::lease::LeaseStore)) is still held under its
    /// token; `false` when another instance took it since (the runner then rolls the
    /// batch back). The check must hold until the commit: a takeover either committed
    /// before it (then `false`), or cannot commit before this transaction ends
    /// (PostgreSQL: `FOR SHARE` on the lease row, a takeover waits for the commit), or
    /// makes this transaction fail to commit (MongoDB: the transaction writes the lease
    /// document, so a takeover is a write conflict).
    async fn fence_in(
        &self,
        transaction: &mut Self::Transaction,
        lease: &Lease,
    ) -> Result<bool, StoreError>;

    /// Commits. An error whose outcome is unknown (the connection dropped during the
    /// commit) must be transient: the runner retries the batch, and the checkpoint it then
    /// reads says whether this commit landed.
    async fn commit_transaction(&self, transaction: Self::Transaction) -> Result<(), StoreError>;

    /// Rolls back. A failure to roll back is only logged by the implementation: the
    /// transaction did not commit either way.
    async fn rollback_transaction(&self, transaction: Self::Transaction);

    /// How a projection's error is treated when the projection leaves it to the store
    /// ([`TransactionalProjection::failure_kind`](super::TransactionalProjection::failure_kind)
    /// returned `None`): typically by finding the driver's error in its source chain. An
    /// error the store cannot place should be transient (retrying an error that cannot
    /// succeed stalls visibly; skipping one that could have succeeded loses an event).
    fn classify_error(&self, error: &(dyn std::error::Error + 'static)) -> FailureKind;
}
