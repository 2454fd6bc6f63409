//! Configuration of a [`PgEventStore`](crate::PgEventStore): schema, pool, limits, wake-ups.

use std::time::Duration;

use cqrs_core::StoreLimits;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::{map_sqlx, SetupError};
use crate::schema::SchemaName;

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
    /// How often one call is retried after a transient failure that is safe to retry: a
    /// connection found dead (the pool hands out a connection whose server went away) and,
    /// for [`ExpectedVersion::Any`](cqrs_core::ExpectedVersion::Any), a lost race for the
    /// next stream version. Appends are idempotent by event id, so a retry after a lost
    /// reply never writes twice. Default 3.
    pub retries: u32,
    /// Append coalescing (group commit) of concurrent appends (on by default).
    pub coalescing: CoalescingConfig,
    /// The client-side bound of one append: a caller's wait for the coalescing writer's
    /// answer, and each append statement (direct or coalesced), fail with
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

/// Connection pool and session settings: the pool's sizes and waits (sqlx's
/// [`PgPoolOptions`]) and server settings every connection starts with (sent as startup
/// `options`, see [`PoolConfig::apply`]).
///
/// Build read-model pools with the same settings through [`PoolConfig::connect`].
///
/// ```
/// use std::time::Duration;
/// use cqrs_postgres::PoolConfig;
///
/// let pool = PoolConfig {
///     statement_timeout: Some(Duration::from_secs(5)),
///     ..PoolConfig::default()
/// };
/// let options = pool.connect_options("postgres://app@db.example.com/app?sslmode=verify-full").unwrap();
/// let sent = options.get_options().unwrap();
/// assert!(sent.contains("-c statement_timeout=5000"));
/// assert!(sent.contains("-c tcp_keepalives_idle=60"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most open connections (default 10).
    pub max_connections: u32,
    /// Connections kept open when idle (default 0).
    pub min_connections: u32,
    /// Longest wait for a connection (default 5 s).
    pub acquire_timeout: Duration,
    /// Idle connections are closed after this long (default 10 min).
    pub idle_timeout: Option<Duration>,
    /// Connections are replaced after this long (default 30 min).
    pub max_lifetime: Option<Duration>,
    /// Ping each idle connection before handing it out (default false). The ping costs a
    /// round trip per call; without it, a connection whose server went away fails its call
    /// with [`StoreError::Unavailable`](cqrs_core::StoreError::Unavailable), is discarded,
    /// and the store retries on a fresh connection (see
    /// [`PgEventStoreConfig::retries`]).
    pub test_before_acquire: bool,
    /// PostgreSQL's `statement_timeout` for every connection (default 30 s; `None` leaves
    /// the server's setting). A statement running longer is cancelled by the server and
    /// fails as [`StoreError::Timeout`](cqrs_core::StoreError::Timeout) (SQLSTATE 57014,
    /// transient): a statement stuck behind a lock, say, cannot hold a connection forever.
    pub statement_timeout: Option<Duration>,
    /// PostgreSQL's `idle_in_transaction_session_timeout` (default 60 s; `None` leaves the
    /// server's setting): the server ends a session that sits in an open transaction doing
    /// nothing for this long (a [`PgTransaction`](crate::PgTransaction) forgotten by its
    /// owner, or whose client vanished), so its locks and the gap-safe readers' bound are
    /// released.
    pub idle_in_transaction_timeout: Option<Duration>,
    /// TCP keepalive probes sent **by the server** on each connection (default idle 60 s,
    /// interval 10 s, 6 probes; `None` leaves the server's settings). See
    /// [`TcpKeepalive`] for what this does and does not detect.
    pub keepalive: Option<TcpKeepalive>,
}

/// The server's TCP keepalive settings for a connection (`tcp_keepalives_idle`,
/// `tcp_keepalives_interval`, `tcp_keepalives_count`).
///
/// sqlx 0.8 does not expose client-side socket options, so these are set on the server's
/// side of each connection, as startup options. What that does:
/// - the server detects a client that vanished without closing its connection (host
///   crashed, network partition) after `idle + interval * count` of silence, ends its
///   session and rolls back its transaction (its locks are released);
/// - the probes keep the connection's entry alive in NAT gateways and load balancers that
///   drop idle flows (managed databases behind a proxy), so an idle pooled connection is
///   not cut silently.
///
/// What it does **not** do: make this client notice a server that vanished (a half-open
/// connection to a crashed host). A call on such a connection waits for an answer that
/// never comes; that wait is bounded on the client by
/// [`PgEventStoreConfig::call_timeout`] (the store's calls fail with
/// [`StoreError::Timeout`](cqrs_core::StoreError::Timeout) and the connection is
/// discarded). Over a Unix socket the settings are ignored by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Silence before the first probe (default 60 s).
    pub idle: Duration,
    /// Between probes (default 10 s).
    pub interval: Duration,
    /// Unanswered probes before the connection is considered dead (default 6).
    pub count: u32,
}

impl Default for TcpKeepalive {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(60),
            interval: Duration::from_secs(10),
            count: 6,
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            test_before_acquire: false,
            statement_timeout: Some(Duration::from_secs(30)),
            idle_in_transaction_timeout: Some(Duration::from_secs(60)),
            keepalive: Some(TcpKeepalive::default()),
        }
    }
}

impl PoolConfig {
    /// These settings as sqlx pool options (sizes and waits; the session settings are in
    /// [`apply`](Self::apply)).
    pub fn to_pool_options(&self) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(self.max_connections.max(1))
            .min_connections(self.min_connections)
            .acquire_timeout(self.acquire_timeout)
            .idle_timeout(self.idle_timeout)
            .max_lifetime(self.max_lifetime)
            .test_before_acquire(self.test_before_acquire)
    }

    /// The server settings each connection starts with, as `(name, value)` pairs
    /// (durations in milliseconds or seconds, as PostgreSQL reads them).
    pub fn session_settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = Vec::new();
        if let Some(timeout) = self.statement_timeout {
            settings.push(("statement_timeout", millis(timeout)));
        }
        if let Some(timeout) = self.idle_in_transaction_timeout {
            settings.push(("idle_in_transaction_session_timeout", millis(timeout)));
        }
        if let Some(keepalive) = self.keepalive {
            settings.push(("tcp_keepalives_idle", seconds(keepalive.idle)));
            settings.push(("tcp_keepalives_interval", seconds(keepalive.interval)));
            settings.push(("tcp_keepalives_count", keepalive.count.to_string()));
        }
        settings
    }

    /// Adds the [`session_settings`](Self::session_settings) to `options` as startup
    /// `options` (`-c name=value`). A setting the options already carry (from the URL's
    /// `options=` parameter, say) is left as given there.
    ///
    /// Connection poolers in transaction mode (PgBouncer) may refuse startup options; set
    /// the three fields to `None` there and configure the pooler or the role instead
    /// (`ALTER ROLE app SET statement_timeout = '30s'`).
    pub fn apply(&self, options: PgConnectOptions) -> PgConnectOptions {
        let given = options.get_options().unwrap_or_default().to_owned();
        let missing: Vec<_> = self
            .session_settings()
            .into_iter()
            .filter(|(name, _)| !given.contains(&format!("{name}=")))
            .collect();
        if missing.is_empty() {
            options
        } else {
            options.options(missing)
        }
    }

    /// Parses `database_url` and [`apply`](Self::apply)s these settings to it.
    pub fn connect_options(&self, database_url: &str) -> Result<PgConnectOptions, SetupError> {
        let options: PgConnectOptions = database_url
            .parse()
            .map_err(|e| SetupError::Connect(map_sqlx("connect", e)))?;
        Ok(self.apply(options))
    }

    /// A pool with these settings: what [`PgEventStore::connect`](crate::PgEventStore::connect)
    /// builds for the store, for your read models (timeouts and keepalive included).
    ///
    /// ```no_run
    /// # async fn doc() -> Result<(), cqrs_postgres::SetupError> {
    /// let pool = cqrs_postgres::PoolConfig::default()
    ///     .connect("postgres://app@db.example.com/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(&self, database_url: &str) -> Result<PgPool, SetupError> {
        self.connect_with(self.connect_options(database_url)?).await
    }

    /// Like [`connect`](Self::connect), from parsed options (the settings are applied).
    ///
    /// When the pool cannot open a connection within `acquire_timeout`, the error names
    /// the cause (connection refused, authentication failed, certificate refused), not
    /// only the timeout: one direct connection attempt reports it.
    pub async fn connect_with(&self, options: PgConnectOptions) -> Result<PgPool, SetupError> {
        let options = self.apply(options);
        match self.to_pool_options().connect_with(options.clone()).await {
            Ok(pool) => Ok(pool),
            Err(sqlx::Error::PoolTimedOut) => {
                let cause = tokio::time::timeout(
                    self.acquire_timeout,
                    <sqlx::PgConnection as sqlx::Connection>::connect_with(&options),
                )
                .await;
                let error = match cause {
                    Ok(Err(cause)) => cause,
                    Ok(Ok(connection)) => {
                        let _ = sqlx::Connection::close(connection).await;
                        sqlx::Error::PoolTimedOut
                    }
                    Err(_) => sqlx::Error::PoolTimedOut,
                };
                Err(SetupError::Connect(map_sqlx("connect", error)))
            }
            Err(error) => Err(SetupError::Connect(map_sqlx("connect", error))),
        }
    }
}

fn millis(duration: Duration) -> String {
    // At least 1 ms: 0 would mean "no timeout" to PostgreSQL.
    duration.as_millis().clamp(1, i32::MAX as u128).to_string()
}

fn seconds(duration: Duration) -> String {
    duration.as_secs().clamp(1, i32::MAX as u64).to_string()
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
