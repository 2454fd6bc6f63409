//! Mapping of sqlx errors onto the typed [`StoreError`], by SQLSTATE code, never by text.

use cqrs_core::{FailureKind, StoreError};

use crate::schema::InvalidSchemaName;

/// SQLSTATE `unique_violation`.
pub(crate) const UNIQUE_VIOLATION: &str = "23505";
/// Constraint that makes `(stream_id, stream_version)` unique (see the migrations).
pub(crate) const STREAM_VERSION_CONSTRAINT: &str = "events_stream_version_key";
/// Constraint that makes `event_id` unique (see the migrations).
pub(crate) const EVENT_ID_CONSTRAINT: &str = "events_event_id_key";

/// Setting up a store failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The configured schema name is not a plain identifier.
    #[error(transparent)]
    InvalidSchema(#[from] InvalidSchemaName),
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to PostgreSQL: {0}")]
    Connect(#[source] StoreError),
    /// A migration failed; the schema is left at the previous version (migrations run in
    /// one transaction).
    #[error("migration {version} ({description}) of schema `{schema}` failed: {source}")]
    Migration {
        /// The schema being migrated.
        schema: String,
        /// The failing migration's version.
        version: i32,
        /// Its description.
        description: &'static str,
        /// The database error.
        #[source]
        source: StoreError,
    },
    /// The schema was migrated by a newer version of this crate.
    #[error(
        "schema `{schema}` is at migration {found}, newer than the {known} this version knows"
    )]
    SchemaTooNew {
        /// The schema.
        schema: String,
        /// Highest applied migration.
        found: i32,
        /// Highest migration shipped with this crate.
        known: i32,
    },
    /// The schema holds positions at or above this cluster's transaction ids: it was
    /// restored from a logical dump (`pg_dump`/`pg_restore`) into another cluster, whose
    /// transaction counter is behind the one that wrote the events. Positions are
    /// `(transaction id << 20) | index`, so new events would get positions below the stored
    /// ones and every reader resuming after its checkpoint would skip them. Nothing was
    /// written. Advance the cluster's transaction ids past the stored ones, then migrate
    /// again: stop the cluster, run `pg_resetwal --epoch=<epoch> <data directory>` (the
    /// epoch is the high 32 bits of the 64-bit transaction id; PostgreSQL stores it only
    /// in the control file, so any higher value is safe for the database), start it. Or
    /// restore from a physical backup (`pg_basebackup`, a provider snapshot), which keeps
    /// the transaction ids.
    #[error(
        "schema `{schema}` holds position {stored_position} (transaction {stored_transaction}) but this cluster is at transaction {current_transaction}:          the store was restored from a logical dump into another cluster, and new events would get positions below the stored ones (readers would skip them).          Stop the cluster, run `pg_resetwal --epoch={epoch} <data directory>`, start it and migrate again (or restore a physical backup, which keeps transaction ids)"
    )]
    PositionsAhead {
        /// The schema.
        schema: String,
        /// Highest position stored (in events or checkpoints).
        stored_position: u64,
        /// The transaction id in its high bits.
        stored_transaction: u64,
        /// This cluster's current transaction id.
        current_transaction: u64,
        /// A transaction id epoch that puts every new transaction id above the stored ones.
        epoch: u64,
    },
    /// The cluster's transaction ids no longer fit the position's shift
    /// (`id << 20` would overflow a `bigint`); after about 8.8 * 10^12 transactions.
    #[error("schema `{schema}`: transaction id {current_transaction} of this cluster no longer fits a position (id << 20 must stay below 2^63)")]
    TransactionIdsExhausted {
        /// The schema.
        schema: String,
        /// This cluster's current transaction id.
        current_transaction: u64,
    },
    /// Any other store failure during setup.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The SQLSTATE code of a database error, if `error` is one.
pub(crate) fn sqlstate(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// The violated constraint of a `unique_violation`, if `error` is one.
pub(crate) fn unique_violation(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            db.constraint()
        }
        _ => None,
    }
}

/// How a failure with SQLSTATE `code` is treated, by the code's class (its first two
/// characters), never by the message text:
///
/// | class | meaning | kind |
/// |---|---|---|
/// | `08` | connection exception | transient |
/// | `40` | transaction rollback (serialization failure, deadlock) | transient |
/// | `53` | insufficient resources (disk full, out of memory, too many connections) | transient |
/// | `55` | object not in prerequisite state (lock not available) | transient |
/// | `57` | operator intervention (statement timeout, admin shutdown, cannot connect now) | transient |
/// | `58`, `XX` | system and internal errors (I/O error) | transient |
/// | `0A` | feature not supported | permanent |
/// | `21` | cardinality violation | permanent |
/// | `22` | data exception (NUL in text, value out of range, invalid JSON) | permanent |
/// | `23` | integrity constraint violation | permanent |
/// | `27` | triggered data change violation | permanent |
/// | `42` | syntax error or access rule violation | permanent |
/// | `44` | `WITH CHECK OPTION` violation | permanent |
/// | `54` | program limit exceeded (index row too large, too many columns) | permanent |
/// | `P0` | PL/pgSQL error (a trigger's `RAISE EXCEPTION`) | permanent |
/// | any other | | transient |
///
/// Unknown classes are transient: a retried permanent error stalls visibly, a skipped
/// transient one loses data silently.
///
/// ```
/// use cqrs_core::FailureKind;
/// use cqrs_postgres::sqlstate_kind;
///
/// assert_eq!(sqlstate_kind("22021"), FailureKind::Permanent); // NUL byte in text
/// assert_eq!(sqlstate_kind("54000"), FailureKind::Permanent); // index row too large
/// assert_eq!(sqlstate_kind("40001"), FailureKind::Transient); // serialization failure
/// assert_eq!(sqlstate_kind("57P01"), FailureKind::Transient); // admin shutdown
/// ```
pub fn sqlstate_kind(code: &str) -> FailureKind {
    match code.get(..2) {
        Some("0A" | "21" | "22" | "23" | "27" | "42" | "44" | "54" | "P0") => {
            FailureKind::Permanent
        }
        _ => FailureKind::Transient,
    }
}

/// True when a permanent SQLSTATE `code` refuses the data itself (every permanent class but
/// `42` syntax or access rule and `0A` feature not supported, which refuse the operation
/// whatever the data: the service's setup is at fault, not its input).
///
/// ```
/// assert!(cqrs_postgres::sqlstate_blames_input("22021")); // NUL in text
/// assert!(!cqrs_postgres::sqlstate_blames_input("42501")); // insufficient privilege
/// ```
pub fn sqlstate_blames_input(code: &str) -> bool {
    sqlstate_kind(code) == FailureKind::Permanent && !matches!(code.get(..2), Some("42" | "0A"))
}

/// How a failure of a query a user runs with sqlx (a read model's update, say) is treated:
/// a database error by its SQLSTATE ([`sqlstate_kind`]); a lost or refused connection, a
/// pool timeout or a closed pool is transient; a row that does not decode
/// ([`sqlx::Error::ColumnDecode`], [`sqlx::Error::Decode`], ...) or a missing row is
/// permanent.
///
/// ```no_run
/// # async fn update(pool: &sqlx::PgPool) {
/// use cqrs_core::FailureKind;
///
/// match sqlx::query("INSERT INTO view VALUES ($1)").bind("a\0b").execute(pool).await {
///     Ok(_) => {}
///     Err(error) if cqrs_postgres::classify(&error) == FailureKind::Transient => { /* retry */ }
///     Err(error) => { /* dead-letter the input with `error` as the reason */ }
/// }
/// # }
/// ```
pub fn classify(error: &sqlx::Error) -> FailureKind {
    match error {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => sqlstate_kind(&code),
            None => FailureKind::Transient,
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => FailureKind::Transient,
        sqlx::Error::RowNotFound
        | sqlx::Error::TypeNotFound { .. }
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Encode(_)
        | sqlx::Error::Decode(_)
        | sqlx::Error::InvalidArgument(_) => FailureKind::Permanent,
        _ => FailureKind::Transient,
    }
}

/// How any error is treated, found by walking its [`source`](std::error::Error::source)
/// chain for the first error this crate can classify: a [`sqlx::Error`] ([`classify`]), a
/// PostgreSQL error reached through a wrapper ([`sqlstate_kind`] of its code) or a
/// [`StoreError`] ([`StoreError::kind`]). An error with none of them in its chain is
/// transient: retrying an input that can never succeed stalls visibly, skipping one that
/// could have succeeded loses it silently.
///
/// The store classifies a transactional projection's error with it when the projection's
/// [`failure_kind`](crate::TransactionalProjection::failure_kind) leaves it to the store
/// (the default), so a projection error that wraps the `sqlx::Error` (`#[from]`,
/// `#[source]` or `#[error(transparent)]`) is classified without further code.
///
/// ```
/// use cqrs_core::{FailureKind, StoreError};
///
/// #[derive(Debug, thiserror::Error)]
/// enum ViewError {
///     #[error("view update failed: {0}")]
///     Store(#[from] StoreError),
///     #[error("upstream hiccup")]
///     Upstream,
/// }
///
/// let refused = ViewError::Store(StoreError::InvalidInput { stream: "s".into(), reason: "NUL".into() });
/// assert_eq!(cqrs_postgres::classify_error(&refused), FailureKind::Permanent);
/// assert_eq!(cqrs_postgres::classify_error(&ViewError::Upstream), FailureKind::Transient);
/// ```
pub fn classify_error(error: &(dyn std::error::Error + 'static)) -> FailureKind {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(sqlx_error) = error.downcast_ref::<sqlx::Error>() {
            return classify(sqlx_error);
        }
        // `sqlx::Error::Database` exposes its inner error as a boxed trait object; a
        // wrapper with `#[error(transparent)]` hands that out instead of the sqlx::Error.
        if let Some(database) = error.downcast_ref::<Box<dyn sqlx::error::DatabaseError>>() {
            return database
                .code()
                .map_or(FailureKind::Transient, |c| sqlstate_kind(&c));
        }
        if let Some(database) = error.downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            return sqlstate_kind(database.code());
        }
        if let Some(store_error) = error.downcast_ref::<StoreError>() {
            return store_error.kind();
        }
        current = error.source();
    }
    FailureKind::Transient
}

/// Maps a driver error to the [`StoreError`] a caller can act on.
///
/// - connection refused/lost, TLS, protocol breakage, pool closed, server shutting down or
///   terminating the backend (`57P01`-`57P03`), connection exceptions (`08xxx`):
///   [`StoreError::Unavailable`];
/// - pool acquire timeout, `statement_timeout`/cancel (`57014`): [`StoreError::Timeout`];
/// - `serialization_failure` (`40001`), `deadlock_detected` (`40P01`):
///   [`StoreError::Serialization`];
/// - a permanent SQLSTATE ([`sqlstate_kind`]: classes 0A, 21, 22, 23, 27, 42, 44, 54, P0):
///   [`StoreError::Refused`] with the code;
/// - anything else: [`StoreError::Backend`] (transient).
pub(crate) fn map_sqlx(operation: &'static str, error: sqlx::Error) -> StoreError {
    let code = sqlstate(&error);
    match (&error, code.as_deref()) {
        (sqlx::Error::PoolTimedOut, _) | (_, Some("57014")) => StoreError::Timeout { operation },
        (_, Some("40001" | "40P01")) => StoreError::Serialization {
            operation,
            source: Box::new(error),
        },
        (_, Some("57P01" | "57P02" | "57P03")) => unavailable(operation, error),
        (_, Some(code)) if code.starts_with("08") => unavailable(operation, error),
        (_, Some(code)) if sqlstate_kind(code) == FailureKind::Permanent => StoreError::Refused {
            operation,
            code: code.to_owned(),
            input_at_fault: sqlstate_blames_input(code),
            source: Box::new(error),
        },
        (
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed,
            _,
        ) => unavailable(operation, error),
        _ => StoreError::Backend {
            operation,
            source: Box::new(error),
        },
    }
}

fn unavailable(operation: &'static str, error: sqlx::Error) -> StoreError {
    StoreError::Unavailable {
        operation,
        source: Box::new(error),
    }
}

/// True for failures after which the same call may succeed on another connection.
pub(crate) fn is_connection_failure(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_and_pool_errors_are_typed() {
        let io = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset",
        ));
        assert!(matches!(
            map_sqlx("append", io),
            StoreError::Unavailable {
                operation: "append",
                ..
            }
        ));
        assert!(matches!(
            map_sqlx("read_all", sqlx::Error::PoolTimedOut),
            StoreError::Timeout { .. }
        ));
        assert!(matches!(
            map_sqlx("read_all", sqlx::Error::PoolClosed),
            StoreError::Unavailable { .. }
        ));
        assert!(matches!(
            map_sqlx("x", sqlx::Error::RowNotFound),
            StoreError::Backend { operation: "x", .. }
        ));
    }
}
