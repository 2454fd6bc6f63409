//! Configuration of a [`PgEventStore`](crate::PgEventStore): schema, pool, limits, wake-ups.

use std::time::Duration;

use cqrs_core::StoreLimits;

use crate::schema::SchemaName;

mod pool;

pub use pool::{PoolConfig, TcpKeepalive};

/// Everything a [`PgEventStore`](crate::PgEventStore) can be tuned with.
///
/// ```
/// use std::time::Duration;
/// use cqrs_postgres::{PgEventStoreConfig, SchemaName};
///
/// let config = PgEventStoreConfig::new(SchemaName::new("orders").unwrap())
///     .max_connections(20)
///     .acquire_timeout(Duration::from_secs(2));
/// assert_eq!(config.pool.max_connections, 20);
/// assert_eq!(config.schema.as_str(), "orders");
/// ```
#[derive(Debug, Clone)]
pub struct PgEventStoreConfig {
    /// The schema holding the store's tables (default `cqrs`).
    pub schema: SchemaName,
    /// Connection pool settings (ignored by [`PgEventStore::from_pool`](crate::PgEventStore::from_pool)).
    pub pool: PoolConfig,
    /// Input limits checked before every append. The store lowers `max_batch_len` to 2^20,
    /// the most events one transaction can append.
    pub limits: StoreLimits,
    /// LISTEN/NOTIFY and fallback polling.
    pub wakeups: WakeupConfig,
    /// How often one call is retried on a connection found dead (the pool hands out a
    /// connection whose server went away), after purging the pool's dead ones. Appends are
    /// idempotent by event id, so a retry after a lost reply never writes twice. Default 3.
    /// (An append that loses a race for the next stream version under
    /// [`ExpectedVersion::Any`](cqrs_core::ExpectedVersion::Any) retries on its own budget,
    /// for up to 64 attempts in all.)
    pub retries: u32,
    /// Append coalescing (group commit) of concurrent appends (on by default).
    pub coalescing: CoalescingConfig,
    /// The client-side bound of one call: each read, lease call and append statement
    /// (direct or coalesced), and a caller's wait for the coalescing writer's answer, fail
    /// with
    /// [`StoreError::Timeout`](cqrs_core::StoreError::Timeout) (transient) after this
    /// long, and the connection is discarded. It covers what the server's
    /// `statement_timeout` cannot: a connection to a server that vanished without closing
    /// it. The append may or may not be stored (a statement only waiting on a lock goes on
    /// and commits once the lock is gone); retry it with the same event ids (appends are
    /// idempotent, a committed one comes back `deduplicated`). Keep it above [`PoolConfig::statement_timeout`] so the server's
    /// cancel normally comes first. Default 35 s; `None` waits as long as the server does.
    pub call_timeout: Option<Duration>,
}

impl Default for PgEventStoreConfig {
    fn default() -> Self {
        Self::new(SchemaName::default())
    }
}

impl PgEventStoreConfig {
    /// Defaults for `schema`.
    pub fn new(schema: SchemaName) -> Self {
        Self {
            schema,
            pool: PoolConfig::default(),
            limits: StoreLimits::default(),
            wakeups: WakeupConfig::default(),
            retries: 3,
            coalescing: CoalescingConfig::default(),
            call_timeout: Some(Duration::from_secs(35)),
        }
    }

    /// Sets the pool's maximum size.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.pool.max_connections = max.max(1);
        self
    }

    /// Sets how long a call waits for a pooled connection before failing with
    /// [`StoreError::Timeout`](cqrs_core::StoreError::Timeout).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.pool.acquire_timeout = timeout;
        self
    }

    /// Sets the client-side bound of one append (see the `call_timeout` field).
    pub fn call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets the server-side `statement_timeout` of the store's connections.
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pool.statement_timeout = timeout;
        self
    }

    /// Sets the input limits.
    pub fn limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the wake-up configuration.
    pub fn wakeups(mut self, wakeups: WakeupConfig) -> Self {
        self.wakeups = wakeups;
        self
    }

    /// Sets the append coalescing configuration.
    pub fn coalescing(mut self, coalescing: CoalescingConfig) -> Self {
        self.coalescing = coalescing;
        self
    }
}

/// Append coalescing, or group commit: concurrent [`append`](cqrs_core::EventStore::append)
/// calls on one store share one statement, one transaction and one commit.
///
/// Callers queue their appends; a writer task takes everything queued (up to
/// `max_requests` requests and `max_events` events), appends it with one statement that
/// checks each request's expected version against its own stream, and hands every caller
/// exactly its own result or its own typed error. Batches form only while the previous
/// batch is in flight: nothing ever waits for company, so a lone caller is not delayed by a
/// timer, only by a hand-over to the writer task (tens of microseconds).
///
/// **Trade-off.** With many concurrent writers PostgreSQL's commit (WAL flush) caps
/// one-commit-per-append throughput; coalescing turns N commits into one and multiplies
/// appends/s under concurrency. The price is a little latency per append (the hand-over,
/// and waiting for the batch in flight), and a conflict of one request no longer costs
/// only that request a round trip: a batch that fails as a whole (a concurrent writer
/// outside the batch took one of its stream versions, or an event id was reused) is
/// retried request by request on the direct path. Appends inside a
/// [`PgTransaction`](crate::PgTransaction), empty appends, and appends of more than
/// `max_request_events` events always take the direct path: a large append already
/// amortizes its commit, and the single-stream statement is cheaper per event.
///
/// Measured on 2 cores (8 concurrent tasks, one event per append): about 2.3x the appends/s
/// of the direct path with one writer; a second writer split the batches in half and
/// gained less (1.5x). See the crate README.
///
/// ```
/// use cqrs_postgres::{CoalescingConfig, PgEventStoreConfig};
///
/// let config = PgEventStoreConfig::default().coalescing(CoalescingConfig::disabled());
/// assert!(!config.coalescing.enabled);
/// assert!(CoalescingConfig::default().enabled);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoalescingConfig {
    /// Queue concurrent appends and write them in shared statements (default true).
    pub enabled: bool,
    /// Writer tasks (default 1). More writers overlap one batch's round trip with the
    /// next batch, but split the queue into smaller batches. A writer keeps one pooled
    /// connection while requests keep coming and returns it when the queue is empty.
    pub writers: usize,
    /// Most requests in one batch (default 64).
    pub max_requests: usize,
    /// Most events in one batch (default 1,024).
    pub max_events: usize,
    /// Appends with more events take the direct path (default 16).
    pub max_request_events: usize,
}

impl Default for CoalescingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            writers: 1,
            max_requests: 64,
            max_events: 1_024,
            max_request_events: 16,
        }
    }
}

impl CoalescingConfig {
    /// Every append takes the direct path: one statement and one commit per append.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

/// How readers learn about new events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakeupConfig {
    /// After commit, appends are announced with `pg_notify` (coalesced, from a background
    /// task on its own connection), and the first [`subscribe`](cqrs_core::EventStore::subscribe)
    /// starts a task that LISTENs for them (default true). Turn off to save the
    /// announcements when nothing subscribes; the fallback poll still runs.
    pub listen: bool,
    /// How often the background task re-reads the gap-safe head, whatever the
    /// notifications said: covers lost notifications and transactions outside this store
    /// that held readers back (default 500 ms). `None` disables it.
    pub fallback_poll: Option<Duration>,
}

impl Default for WakeupConfig {
    fn default() -> Self {
        Self {
            listen: true,
            fallback_poll: Some(Duration::from_millis(500)),
        }
    }
}
