//! The stock level read model in PostgreSQL (services mode).
//!
//! One row per sku. A [`TypedProjection`] of the `Product` aggregate: fed from Kafka through
//! [`cqrs_kafka::ProjectionHandler`], it receives `ProductEvent`s decoded. Each is applied as
//! one upsert of deltas guarded by the stream version, so the view is exact under
//! at-least-once delivery from Kafka (a stream's events arrive in order on one partition; a
//! redelivered one is skipped).

use async_trait::async_trait;
use cqrs_core::{FailureKind, Persistence, RecordedEvent, TypedProjection};
use cqrs_postgres::sqlx::{self, PgPool, Row};
use cqrs_postgres::SchemaName;

use super::{StockLevel, StockQueries, ViewUnavailable};
use crate::domain::{Product, ProductEvent};

const MIGRATE: &str = include_str!("sql/migrate.sql");
const APPLY: &str = include_str!("sql/apply.sql");
const GET: &str = include_str!("sql/get.sql");
const ALL: &str = include_str!("sql/all.sql");
const LOW_STOCK: &str = include_str!("sql/low_stock.sql");

/// Why an event could not be applied to the PostgreSQL view (an event that does not decode
/// never gets here: [`TypedProjection`] reports it as a permanent failure).
#[derive(Debug, thiserror::Error)]
pub enum PgViewError {
    /// The database failed in a way that may pass (connection lost, timeout, pool
    /// closed): retry.
    #[error(transparent)]
    Unavailable(#[from] ViewUnavailable),
    /// The database refused the event's data for good (SQLSTATE classes 22, 23, 42, 54,
    /// e.g. a sku over the b-tree key limit): dead-letter it and move on.
    #[error("the stock view refused the event for `{sku}`: {source}")]
    Refused {
        /// The product concerned.
        sku: String,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },
}

impl PgViewError {
    /// How a consumer treats this failure: [`Unavailable`](Self::Unavailable) is
    /// transient; a [`Refused`](Self::Refused) event is permanent.
    pub fn kind(&self) -> FailureKind {
        match self {
            PgViewError::Unavailable(_) => FailureKind::Transient,
            PgViewError::Refused { .. } => FailureKind::Permanent,
        }
    }
}

/// The stock view in a PostgreSQL schema. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PgStockLevels {
    pool: PgPool,
    sql_apply: String,
    sql_get: String,
    sql_all: String,
    sql_low_stock: String,
    sql_migrate: String,
    /// The schema, keying the migration's lock.
    schema: SchemaName,
}

fn unavailable(operation: &'static str) -> impl FnOnce(sqlx::Error) -> ViewUnavailable {
    move |e| ViewUnavailable {
        operation,
        source: Box::new(e),
    }
}

fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl PgStockLevels {
    /// Checkpoint name, should the view be fed from the log instead of Kafka.
    pub const NAME: &'static str = "inventory-stock-levels-pg";

    /// The view in `schema` of the database behind `pool`.
    pub fn new(pool: PgPool, schema: &SchemaName) -> Self {
        let sql = |text: &str| schema.render(text);
        Self {
            pool,
            sql_apply: sql(APPLY),
            sql_get: sql(GET),
            sql_all: sql(ALL),
            sql_low_stock: sql(LOW_STOCK),
            sql_migrate: sql(MIGRATE),
            schema: schema.clone(),
        }
    }

    /// Creates the schema, table and index if missing. Safe from several processes at
    /// once (replicas starting together), also beside an event store in the same schema:
    /// [`cqrs_postgres::lock_schema_migrations`] serializes them.
    pub async fn migrate(&self) -> Result<(), ViewUnavailable> {
        let mut tx = self.pool.begin().await.map_err(unavailable("migrate"))?;
        cqrs_postgres::lock_schema_migrations(&mut tx, &self.schema)
            .await
            .map_err(unavailable("migrate"))?;
        // A script without arguments, by the simple query protocol (not `sqlx::raw_sql`,
        // whose future is not `Send` for every lifetime).
        sqlx::Executor::execute(&mut *tx, self.sql_migrate.as_str())
            .await
            .map_err(unavailable("migrate"))?;
        tx.commit().await.map_err(unavailable("migrate"))
    }

    /// Applies one product event as an upsert guarded by its stream version.
    async fn upsert(
        &self,
        event: &ProductEvent,
        envelope: &RecordedEvent,
    ) -> Result<(), PgViewError> {
        let sku = envelope.aggregate_id();
        let (name, on_hand, reserved) = match event {
            ProductEvent::ProductRegistered { name, .. } => (name.as_str(), 0, 0),
            ProductEvent::StockReceived { qty } => ("", as_i64(*qty), 0),
            ProductEvent::StockReserved { qty, .. } => ("", 0, as_i64(*qty)),
            ProductEvent::ReservationReleased { qty, .. } => ("", 0, -as_i64(*qty)),
            ProductEvent::ShipmentConfirmed { qty, .. } => ("", -as_i64(*qty), -as_i64(*qty)),
        };
        sqlx::query(&self.sql_apply)
            .bind(sku)
            .bind(name)
            .bind(on_hand)
            .bind(reserved)
            .bind(as_i64(envelope.stream_version))
            .execute(&self.pool)
            .await
            .map_err(|source| match cqrs_postgres::classify(&source) {
                FailureKind::Permanent => PgViewError::Refused {
                    sku: sku.to_owned(),
                    source,
                },
                FailureKind::Transient => unavailable("apply")(source).into(),
            })?;
        Ok(())
    }

    async fn levels(
        &self,
        operation: &'static str,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<StockLevel>, ViewUnavailable> {
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable(operation))?;
        rows.iter()
            .map(|row| {
                let on_hand: i64 = row.try_get("on_hand")?;
                let reserved: i64 = row.try_get("reserved")?;
                let (on_hand, reserved) = (on_hand.max(0) as u64, reserved.max(0) as u64);
                Ok(StockLevel {
                    sku: row.try_get("sku")?,
                    name: row.try_get("name")?,
                    on_hand,
                    reserved,
                    available: on_hand.saturating_sub(reserved),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(unavailable(operation))
    }
}

/// Fed the `Product` aggregate's events, decoded; failures classified by
/// [`PgViewError::kind`].
#[async_trait]
impl TypedProjection for PgStockLevels {
    type Aggregate = Product;
    type Error = PgViewError;

    fn name(&self) -> &str {
        Self::NAME
    }

    /// In PostgreSQL: the view outlives the process.
    fn persistence(&self) -> Persistence {
        Persistence::Durable
    }

    async fn apply(
        &mut self,
        event: &ProductEvent,
        envelope: &RecordedEvent,
    ) -> Result<(), PgViewError> {
        self.upsert(event, envelope).await
    }

    fn failure_kind(&self, error: &PgViewError) -> FailureKind {
        error.kind()
    }
}

#[async_trait]
impl StockQueries for PgStockLevels {
    async fn stock_level(&self, sku: &str) -> Result<Option<StockLevel>, ViewUnavailable> {
        let query = sqlx::query(&self.sql_get).bind(sku);
        Ok(self.levels("stock_level", query).await?.into_iter().next())
    }

    async fn stock_levels(&self) -> Result<Vec<StockLevel>, ViewUnavailable> {
        self.levels("stock_levels", sqlx::query(&self.sql_all))
            .await
    }

    async fn low_stock(&self, threshold: u64) -> Result<Vec<StockLevel>, ViewUnavailable> {
        let query = sqlx::query(&self.sql_low_stock).bind(as_i64(threshold));
        self.levels("low_stock", query).await
    }
}
