//! [`PgEventStore`]: the [`EventStore`] on PostgreSQL.
//!
//! This file is the facade: the store's handle and the [`EventStore`] methods, each
//! handing over to the module that does the work:
//! - `append/`: the append path, every step from validation to the answer (start there
//!   for "how does an append check the expected version");
//! - `coalesce/`: group commit of concurrent appends;
//! - `transaction.rs`: appends inside a transaction of the caller's;
//! - `read.rs`, `snapshots.rs`, `checkpoints.rs`: the other statements;
//! - `commands.rs`: events by id and recorded refusals, for idempotent commands;
//! - `context.rs`: what all of them share (pool, statements, configuration, wake-ups);
//! - `wakeup.rs`: LISTEN/NOTIFY and the fallback poll behind `subscribe`;
//! - `reconnect.rs`, `timeout.rs`: dead connections and the call timeout.

mod append;
pub(crate) mod checkpoints;
mod coalesce;
mod commands;
mod context;
pub(crate) mod read;
mod reconnect;
mod rows;
mod snapshots;
mod statements;
mod timeout;
mod transaction;
mod wakeup;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use cqrs_core::{
    AppendResult, EventStore, ExpectedVersion, Metadata, NewEvent, PositionWatch, RecordedEvent,
    RecordedRefusal, Snapshot, StoreError, StreamVisitor,
};
use sqlx::postgres::{PgConnectOptions, PgPool};
use uuid::Uuid;

pub(crate) use statements::Statements;
pub use transaction::PgTransaction;

use self::append::{append_direct, Batch};
use self::coalesce::Coalescer;
use self::context::StoreContext;
use self::reconnect::{purge_dead_connections, retries_after, with_reconnect};
use crate::config::PgEventStoreConfig;
use crate::error::{map_sqlx, SetupError};

/// An event store in a PostgreSQL schema.
///
/// - **Appends** check the [`ExpectedVersion`] and insert the whole batch in one statement
///   (one round trip). A lost race is a typed [`Conflict`](cqrs_core::Conflict), decided
///   before commit. Re-appending a stored batch returns the original (`deduplicated`).
/// - **Concurrent appends are coalesced** (group commit): appends that queue while another
///   is being written share one statement and one commit, each checked against its own
///   stream and answered with its own result (see
///   [`CoalescingConfig`](crate::CoalescingConfig)).
/// - **The global log is gap-free**: positions are `(transaction id << 20) | index`, and
///   [`read_all`](EventStore::read_all) returns only positions below the oldest running
///   transaction, so a catch-up reader never skips a late commit. Positions are strictly
///   increasing but sparse.
/// - **Wake-ups**: appends `pg_notify` at commit; a background task (started by the first
///   [`subscribe`](EventStore::subscribe), stopped when the store is dropped) LISTENs and
///   polls as a fallback.
/// - **Transactions**: [`begin`](PgEventStore::begin) appends inside a transaction you
///   also write your own rows in (inline projections).
///
/// Every append, direct, coalesced or in a transaction, follows one path: validation,
/// one statement that checks the expected version and inserts, then the resolution of a
/// rejected batch or a lost race (see `src/store/append/mod.rs` for the steps).
///
/// Cloning is cheap and shares the pool and the wake-up task.
///
/// ```no_run
/// # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
/// use cqrs_core::{EventStore, ExpectedVersion, JsonPayload, Metadata, NewEvent};
/// use cqrs_postgres::{PgEventStore, PgEventStoreConfig};
///
/// let store = PgEventStore::connect("postgres://postgres@127.0.0.1:5432/test", PgEventStoreConfig::default()).await?;
/// store.migrate().await?;
/// let event = NewEvent::raw("Opened", 1, JsonPayload::parse(r#"{"owner":"ada"}"#)?);
/// let appended = store.append("Account-1", ExpectedVersion::NoStream, vec![event], &Metadata::default()).await?;
/// assert_eq!(appended.current_version, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgEventStore {
    inner: Arc<Inner>,
}

struct Inner {
    context: Arc<StoreContext>,
    /// Started by the first coalesced append; its writers stop when it is dropped.
    coalescer: OnceLock<Coalescer>,
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore")
            .field("schema", &self.config().schema)
            .field("pool_size", &self.pool().size())
            .finish_non_exhaustive()
    }
}

impl PgEventStore {
    /// Connects a pool built from `config.pool` to `database_url`, with its session
    /// settings (statement timeout, idle-in-transaction timeout, keepalive; see
    /// [`PoolConfig`](crate::PoolConfig)). Does not touch the schema: call
    /// [`migrate`](Self::migrate) once at start-up.
    pub async fn connect(
        database_url: &str,
        config: PgEventStoreConfig,
    ) -> Result<Self, SetupError> {
        let options = config.pool.connect_options(database_url)?;
        Self::connect_with(options, config).await
    }

    /// Like [`connect`](Self::connect), from parsed connect options (the pool's session
    /// settings are added to them).
    pub async fn connect_with(
        options: PgConnectOptions,
        config: PgEventStoreConfig,
    ) -> Result<Self, SetupError> {
        let pool = config.pool.connect_with(options).await?;
        Ok(Self::from_pool(pool, config))
    }

    /// A store on an existing pool (shared with your read models, say); `config.pool` is
    /// ignored. `config.limits.max_batch_len` is lowered to 2^20, the most events one
    /// transaction can append.
    pub fn from_pool(pool: PgPool, config: PgEventStoreConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                context: Arc::new(StoreContext::new(pool, config)),
                coalescer: OnceLock::new(),
            }),
        }
    }

    /// Creates the schema and applies pending migrations (idempotent, safe to call from
    /// several processes at once). Returns the migration versions applied by this call.
    pub async fn migrate(&self) -> Result<Vec<i32>, SetupError> {
        crate::migrate::run(self.pool(), &self.config().schema).await
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.inner.context.pool
    }

    /// The configuration.
    pub fn config(&self) -> &PgEventStoreConfig {
        &self.inner.context.config
    }

    /// Starts a transaction to append events together with your own writes (inline
    /// projections); nothing is visible to others until [`PgTransaction::commit`].
    pub async fn begin(&self) -> Result<PgTransaction, StoreError> {
        let tx = self
            .pool()
            .begin()
            .await
            .map_err(|e| map_sqlx("begin", e))?;
        Ok(PgTransaction::new(self.inner.context.clone(), tx))
    }

    /// The store's statements (the transactional projection runner runs some of them).
    pub(crate) fn statements(&self) -> &Statements {
        &self.inner.context.sql
    }

    /// Runs `call` (a read or an idempotent write) as the store's own calls run: bounded
    /// by the call timeout, retried on a dead pooled connection.
    pub(crate) async fn reconnecting<T, F, Fut>(
        &self,
        operation: &'static str,
        call: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        with_reconnect(&self.inner.context, operation, call).await
    }

    /// The append queue, started on first use; `None` when coalescing is off or there is
    /// no tokio runtime to run the writers on.
    fn coalescer(&self) -> Option<&Coalescer> {
        let inner = &self.inner;
        if !inner.context.config.coalescing.enabled {
            return None;
        }
        if inner.coalescer.get().is_none() {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            // A concurrent caller may win; the loser's writers are aborted when dropped.
            let _ = inner
                .coalescer
                .set(Coalescer::start(inner.context.clone(), &runtime));
        }
        inner.coalescer.get()
    }
}

#[async_trait]
impl EventStore for PgEventStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        let context = &self.inner.context;
        let batch = Batch::prepare(
            stream_id,
            expected,
            events,
            metadata,
            &context.config.limits,
        )?;
        match self.coalescer() {
            Some(coalescer) if coalescer.takes(&batch) => coalescer.append(batch).await,
            _ => append_direct(context, &batch).await,
        }
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "read_stream", || {
            read::read_stream(
                &context.pool,
                &context.sql.read_stream,
                stream_id,
                from_version,
            )
        })
        .await
    }

    /// The lean read the command pipeline loads aggregates with (`load_stream.sql`): only
    /// type, schema version and payload are fetched, and each row is handed to `visit` as
    /// it arrives, borrowed, without copying. A dead pooled connection is retried like the
    /// other reads, resuming after the last event visited, so none is visited twice.
    async fn load_stream(
        &self,
        stream_id: &str,
        from_version: u64,
        visit: &mut StreamVisitor<'_>,
    ) -> Result<(), StoreError> {
        let context = &self.inner.context;
        let sql = &context.sql.load_stream;
        let first = from_version.max(1);
        let mut visited = 0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let from = first + visited;
            let load = read::load_stream(&context.pool, sql, stream_id, from, visit, &mut visited);
            match context.call_timeout().bound("load_stream", load).await {
                Err(error) if retries_after(context, "load_stream", attempt, &error) => {
                    purge_dead_connections(&context.pool, context.call_timeout()).await;
                }
                result => return result,
            }
        }
    }

    async fn read_all(
        &self,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "read_all", || {
            read::read_all(&context.pool, &context.sql.read_all, from_position, max)
        })
        .await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "head_position", || {
            read::head_position(&context.pool, &context.sql.head_position)
        })
        .await
    }

    fn subscribe(&self) -> PositionWatch {
        self.inner.context.subscribe()
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "load_snapshot", || {
            snapshots::load(&context.pool, &context.sql.load_snapshot, stream_id)
        })
        .await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "save_snapshot", || {
            snapshots::save(&context.pool, &context.sql.save_snapshot, &snapshot)
        })
        .await
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "load_checkpoint", || {
            checkpoints::load(&context.pool, &context.sql.load_checkpoint, name)
        })
        .await
    }

    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "save_checkpoint", || {
            checkpoints::save(&context.pool, &context.sql.save_checkpoint, name, position)
        })
        .await
    }

    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "read_events_by_id", || {
            commands::read_events_by_id(&context.pool, &context.sql.find_by_ids, ids)
        })
        .await
    }

    /// Insert-if-absent (`record_refusal.sql`), so a retry after a dead connection or a
    /// lost reply returns the refusal recorded by the first attempt.
    async fn record_refusal(
        &self,
        refusal: RecordedRefusal,
    ) -> Result<RecordedRefusal, StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "record_refusal", || {
            commands::record_refusal(&context.pool, &context.sql.record_refusal, &refusal)
        })
        .await
    }

    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError> {
        let context = &self.inner.context;
        with_reconnect(context, "load_refusal", || {
            commands::load_refusal(&context.pool, &context.sql.load_refusal, command_id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::MAX_EVENTS_PER_TRANSACTION;
    use cqrs_core::{JsonPayload, StoreLimits};

    /// Positions hold the index of an event within its transaction in 20 bits, so the
    /// batch limit every append is validated against never exceeds 2^20, whatever the
    /// configuration says.
    #[tokio::test]
    async fn batch_limit_is_capped_at_the_events_one_transaction_can_position() {
        let config = PgEventStoreConfig::default().limits(StoreLimits {
            max_batch_len: usize::MAX,
            ..StoreLimits::default()
        });
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://nobody@127.0.0.1:1/none")
            .expect("lazy pool");
        let store = PgEventStore::from_pool(pool, config);
        assert_eq!(
            store.config().limits.max_batch_len,
            MAX_EVENTS_PER_TRANSACTION
        );
        // Rejected before any connection is made (the pool points nowhere).
        let event = NewEvent::raw("Happened", 1, JsonPayload::parse("{}").expect("json"));
        let events = vec![event; MAX_EVENTS_PER_TRANSACTION + 1];
        let error = store
            .append("Big-1", ExpectedVersion::Any, events, &Metadata::default())
            .await
            .expect_err("too many events for one transaction");
        assert!(
            matches!(&error, StoreError::InvalidInput { reason, .. } if reason.contains("1048577 events")),
            "{error:?}"
        );
    }
}
