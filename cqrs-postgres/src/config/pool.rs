//! The connection pool of a [`PgEventStore`](crate::PgEventStore): sizes, timeouts, TCP
//! keepalive, and the session settings every connection starts with.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::{map_sqlx, SetupError};

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
    /// [`PgEventStoreConfig::retries`](super::PgEventStoreConfig::retries)).
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
/// [`PgEventStoreConfig::call_timeout`](super::PgEventStoreConfig::call_timeout) (the store's calls fail with
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
