//! [`PgEventStore`]: the [`EventStore`] on PostgreSQL.

mod append;
pub(crate) mod checkpoints;
mod coalesce;
pub(crate) mod read;
mod rows;
mod snapshots;
mod statements;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use cqrs_core::store::validate_append;
use cqrs_core::{
    AppendResult, EventStore, ExpectedVersion, Metadata, NewEvent, PositionNotifier, PositionWatch,
    RecordedEvent, Snapshot, StoreError, StreamVisitor,
};
use sqlx::postgres::{PgConnectOptions, PgPool};

pub(crate) use append::{
    check_version_only, find_previous_append, resolve_rejected, stream_version, EncodedBatch,
    Outcome, INDEX_BITS, MAX_EVENTS_PER_TRANSACTION,
};
pub(crate) use read::head_position;
pub(crate) use statements::Statements;

use crate::config::PgEventStoreConfig;
use crate::error::{
    is_connection_failure, map_sqlx, unique_violation, SetupError, EVENT_ID_CONSTRAINT,
    STREAM_VERSION_CONSTRAINT,
};
use crate::transaction::PgTransaction;
use crate::wakeup::{Announcer, WakeupSource, WakeupTasks};
use coalesce::Coalescer;

/// Attempts of an `ExpectedVersion::Any` append that keeps losing races for the next
/// stream version before it reports the [`Conflict`](cqrs_core::Conflict).
const ANY_RACE_ATTEMPTS: u32 = 64;

/// Longest wait for a pooled connection's ping while purging dead connections: a connection
/// that does not answer by then is closed.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A short, jittered pause between lost races: 100 µs doubling to 2 ms.
fn race_backoff(attempt: u32) -> std::time::Duration {
    const RACES: cqrs_core::RetryPolicy = cqrs_core::RetryPolicy::between(
        std::time::Duration::from_micros(100),
        std::time::Duration::from_millis(2),
    );
    RACES.backoff(attempt)
}

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
    pool: PgPool,
    sql: Statements,
    config: PgEventStoreConfig,
    channel: String,
    notifier: PositionNotifier,
    wakeups: OnceLock<WakeupTasks>,
    announcer: OnceLock<Announcer>,
    /// Started by the first coalesced append.
    coalescer: OnceLock<Coalescer>,
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore")
            .field("schema", &self.inner.config.schema)
            .field("pool_size", &self.inner.pool.size())
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
    pub fn from_pool(pool: PgPool, mut config: PgEventStoreConfig) -> Self {
        let limits = &mut config.limits;
        limits.max_batch_len = limits.max_batch_len.min(MAX_EVENTS_PER_TRANSACTION);
        let sql = Statements::new(&config.schema);
        Self {
            inner: Arc::new(Inner {
                pool,
                sql,
                channel: config.schema.notify_channel(),
                config,
                notifier: PositionNotifier::new(),
                wakeups: OnceLock::new(),
                announcer: OnceLock::new(),
                coalescer: OnceLock::new(),
            }),
        }
    }

    /// Creates the schema and applies pending migrations (idempotent, safe to call from
    /// several processes at once). Returns the migration versions applied by this call.
    pub async fn migrate(&self) -> Result<Vec<i32>, SetupError> {
        crate::migrate::run(&self.inner.pool, &self.inner.config.schema).await
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// The configuration.
    pub fn config(&self) -> &PgEventStoreConfig {
        &self.inner.config
    }

    /// Starts a transaction to append events together with your own writes (inline
    /// projections); nothing is visible to others until [`PgTransaction::commit`].
    pub async fn begin(&self) -> Result<PgTransaction, StoreError> {
        let tx = self
            .inner
            .pool
            .begin()
            .await
            .map_err(|e| map_sqlx("begin", e))?;
        Ok(PgTransaction::new(self.clone(), tx))
    }

    pub(crate) fn statements(&self) -> &Statements {
        &self.inner.sql
    }

    /// Announces committed events up to `position` to listeners (other processes and this
    /// one), after commit and coalesced; a no-op when wake-ups are off or outside a runtime.
    pub(crate) fn announce(&self, position: u64) {
        let inner = &self.inner;
        if !inner.config.wakeups.listen {
            return;
        }
        if inner.announcer.get().is_none() {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            // A concurrent caller may win; the loser's task is aborted when dropped.
            let _ = inner.announcer.set(Announcer::start(
                inner.pool.clone(),
                inner.channel.clone(),
                &runtime,
            ));
        }
        if let Some(announcer) = inner.announcer.get() {
            announcer.announce(position);
        }
    }

    /// The append queue, started on first use; `None` when coalescing is off or there is
    /// no tokio runtime to run the writers on.
    fn coalescer(&self) -> Option<&Coalescer> {
        let inner = &self.inner;
        if !inner.config.coalescing.enabled {
            return None;
        }
        if inner.coalescer.get().is_none() {
            let runtime = tokio::runtime::Handle::try_current().ok()?;
            // A concurrent caller may win; the loser's writers are aborted when dropped.
            let _ = inner.coalescer.set(Coalescer::start(
                &inner.config.coalescing,
                inner.config.call_timeout,
                Arc::downgrade(&self.inner),
                &runtime,
            ));
        }
        inner.coalescer.get()
    }

    /// The direct path: one statement and one commit for this append alone.
    async fn try_append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: &[NewEvent],
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        let sql = &self.inner.sql;
        let pool = &self.inner.pool;
        if events.is_empty() {
            return check_version_only(pool, &sql.stream_version, stream_id, expected).await;
        }
        let batch = EncodedBatch::new(stream_id, expected, events, metadata)?;
        let retries = self.inner.config.retries;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.append_once(&batch, events).await? {
                Ok(Outcome::Appended(result)) => {
                    if let Some(last) = result.events.last() {
                        self.announce(last.position);
                    }
                    return Ok(result);
                }
                Ok(Outcome::Rejected { actual }) => {
                    return resolve_rejected(
                        pool,
                        &sql.find_by_ids,
                        stream_id,
                        expected,
                        events,
                        batch.ids(),
                        actual,
                    )
                    .await;
                }
                Err(error) => error,
            };
            match unique_violation(&error) {
                Some(constraint @ (STREAM_VERSION_CONSTRAINT | EVENT_ID_CONSTRAINT)) => {
                    // A concurrent writer committed first. Either it stored this very batch
                    // (a retry racing the original) or it took the next version.
                    if let Some(previous) =
                        find_previous_append(pool, &sql.find_by_ids, stream_id, events, batch.ids())
                            .await?
                    {
                        return previous;
                    }
                    // With `Any` the caller asked for no check: a lost race is retried
                    // (each loss means another writer progressed). A reused id that
                    // vanished (its writer rolled back) is retried too.
                    let retry_race =
                        expected == ExpectedVersion::Any || constraint == EVENT_ID_CONSTRAINT;
                    if retry_race && attempt < ANY_RACE_ATTEMPTS {
                        tracing::debug!(
                            stream = stream_id,
                            attempt,
                            constraint,
                            "append lost a race; retrying"
                        );
                        if attempt > 2 {
                            tokio::time::sleep(race_backoff(attempt)).await;
                        }
                        continue;
                    }
                    let actual = stream_version(pool, &sql.stream_version, stream_id).await?;
                    return Err(batch.conflict(actual));
                }
                _ => {
                    let error = map_sqlx("append", error);
                    if is_connection_failure(&error) && attempt <= retries {
                        tracing::warn!(stream = stream_id, attempt, %error, "append failed on a dead connection; retrying");
                        self.purge_dead_connections().await;
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }

    /// One attempt of the direct path on a connection of its own, bounded by
    /// [`call_timeout`](PgEventStoreConfig::call_timeout). The outer error is the timeout
    /// (the connection, in an unknown state, is then closed instead of pooled); the inner
    /// result is the statement's, for the caller's conflict and retry handling.
    async fn append_once(
        &self,
        batch: &EncodedBatch<'_>,
        events: &[NewEvent],
    ) -> Result<Result<Outcome, sqlx::Error>, StoreError> {
        let sql = &self.inner.sql.append;
        let mut connection = match self.inner.pool.acquire().await {
            Ok(connection) => connection,
            Err(error) => return Ok(Err(error)),
        };
        let run = batch.run(&mut *connection, sql, events, 0);
        let Some(limit) = self.inner.config.call_timeout else {
            return Ok(run.await);
        };
        match tokio::time::timeout(limit, run).await {
            Ok(result) => Ok(result),
            Err(_) => {
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

    /// After a connection failure: pings every idle pooled connection (all at once, each
    /// bounded by [`PING_TIMEOUT`] or the call timeout if shorter) and closes the dead or
    /// silent ones (a server restart or `pg_terminate_backend` kills them all at once), so
    /// the retry gets a live or a fresh connection. Costs nothing on the happy path.
    async fn purge_dead_connections(&self) {
        let limit = self
            .inner
            .config
            .call_timeout
            .map_or(PING_TIMEOUT, |t| t.min(PING_TIMEOUT));
        let mut idle = Vec::new();
        while let Some(connection) = self.inner.pool.try_acquire() {
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

    /// `call` bounded by [`call_timeout`](PgEventStoreConfig::call_timeout): a typed
    /// [`StoreError::Timeout`] for `operation` instead of waiting forever on a connection
    /// whose server vanished.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.inner.config.call_timeout {
            None => call.await,
            Some(limit) => tokio::time::timeout(limit, call)
                .await
                .unwrap_or(Err(StoreError::Timeout { operation })),
        }
    }

    /// Retries `call` on a dead pooled connection (reads are side-effect free); each
    /// attempt is [`bounded`](Self::bounded).
    async fn with_reconnect<T, F, Fut>(
        &self,
        operation: &'static str,
        mut call: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.bounded(operation, call()).await {
                Err(error) if self.retries_read(attempt, &error) => {
                    self.purge_dead_connections().await;
                }
                result => return result,
            }
        }
    }

    /// Whether read attempt `attempt`, which failed with `error`, is retried: only on a
    /// dead connection, at most `retries` times. Logs the retry.
    fn retries_read(&self, attempt: u32, error: &StoreError) -> bool {
        let retry = is_connection_failure(error) && attempt <= self.inner.config.retries;
        if retry {
            tracing::warn!(attempt, %error, "read failed on a dead connection; retrying");
        }
        retry
    }
}

#[async_trait]
impl EventStore for PgEventStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream_id, &events, metadata, &self.inner.config.limits)?;
        match self.coalescer() {
            Some(coalescer) if coalescer.takes(&events) => {
                coalescer
                    .append(stream_id, expected, events, metadata)
                    .await
            }
            _ => {
                self.try_append(stream_id, expected, &events, metadata)
                    .await
            }
        }
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = &self.inner.sql.read_stream;
        self.with_reconnect("read_stream", || {
            read::read_stream(&self.inner.pool, sql, stream_id, from_version)
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
        let sql = &self.inner.sql.load_stream;
        let first = from_version.max(1);
        let mut visited = 0;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let from = first + visited;
            let load =
                read::load_stream(&self.inner.pool, sql, stream_id, from, visit, &mut visited);
            match self.bounded("load_stream", load).await {
                Err(error) if self.retries_read(attempt, &error) => {
                    self.purge_dead_connections().await;
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
        let sql = &self.inner.sql.read_all;
        self.with_reconnect("read_all", || {
            read::read_all(&self.inner.pool, sql, from_position, max)
        })
        .await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let sql = &self.inner.sql.head_position;
        self.with_reconnect("head_position", || head_position(&self.inner.pool, sql))
            .await
    }

    fn subscribe(&self) -> PositionWatch {
        let inner = &self.inner;
        if inner.wakeups.get().is_none() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let source = WakeupSource {
                        pool: inner.pool.clone(),
                        head_sql: Arc::from(inner.sql.head_position.as_str()),
                        channel: inner.channel.clone(),
                        notifier: inner.notifier.clone(),
                    };
                    // A concurrent subscriber may win the race; the loser's tasks are
                    // dropped, which aborts them.
                    let _ = inner.wakeups.set(source.spawn(&inner.config.wakeups, &runtime));
                }
                Err(_) => tracing::warn!("subscribe() outside a tokio runtime: no wake-ups, readers fall back to their own polling"),
            }
        }
        inner.notifier.subscribe()
    }

    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        let sql = &self.inner.sql.load_snapshot;
        self.with_reconnect("load_snapshot", || {
            snapshots::load(&self.inner.pool, sql, stream_id)
        })
        .await
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        let sql = &self.inner.sql.save_snapshot;
        self.with_reconnect("save_snapshot", || {
            snapshots::save(&self.inner.pool, sql, &snapshot)
        })
        .await
    }

    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        let sql = &self.inner.sql.load_checkpoint;
        self.with_reconnect("load_checkpoint", || {
            checkpoints::load(&self.inner.pool, sql, name)
        })
        .await
    }

    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        let sql = &self.inner.sql.save_checkpoint;
        self.with_reconnect("save_checkpoint", || {
            checkpoints::save(&self.inner.pool, sql, name, position)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
