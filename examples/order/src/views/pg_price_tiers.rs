//! The price-tier read model kept in PostgreSQL (services mode).
//!
//! A [`TypedProjection`] of the `Order` aggregate: fed from Kafka through
//! [`cqrs_kafka::ProjectionHandler`], it receives `OrderEvent`s decoded. Each event is
//! applied in its own transaction that first claims the event id in
//! `tier_applied_events`: a redelivered event (Kafka at-least-once delivery) finds its id
//! claimed and changes nothing, so the view has exactly one effect per event.

use async_trait::async_trait;
use cqrs_core::{FailureKind, Persistence, RecordedEvent, TypedProjection};
use cqrs_postgres::SchemaName;
use sqlx::{PgPool, Row};

use super::{QueryError, TierGroup, TierItem, TierQueries};
use crate::domain::{Cents, Order, OrderEvent, OrderLine, Tier};

/// Applying an event to the PostgreSQL view failed (an event that does not decode never
/// gets here: [`TypedProjection`] reports it as a permanent failure).
#[derive(Debug, thiserror::Error)]
pub enum PgViewError {
    /// The database failed: transient or permanent by [`cqrs_postgres::classify`].
    #[error("price-tier view database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored data does not have the expected shape.
    #[error("price-tier view holds corrupt data: {0}")]
    Corrupt(String),
}

impl PgViewError {
    /// How a consumer treats this failure: a database error by its SQLSTATE class
    /// ([`cqrs_postgres::classify`]: a lost connection, a timeout, a closed pool or a
    /// serialization failure is transient; a data exception (22, e.g. a NUL in text), an
    /// integrity violation (23), a syntax or access rule (42) or a program limit (54, e.g.
    /// a sku over the b-tree index key limit) is permanent); corrupt data is permanent.
    pub fn kind(&self) -> FailureKind {
        match self {
            PgViewError::Database(error) => cqrs_postgres::classify(error),
            PgViewError::Corrupt(_) => FailureKind::Permanent,
        }
    }
}

/// The price-tier view in a PostgreSQL schema.
#[derive(Debug, Clone)]
pub struct PgPriceTiers {
    pool: PgPool,
    schema: SchemaName,
}

struct LineColumns {
    tiers: Vec<String>,
    skus: Vec<String>,
    prices: Vec<i64>,
    labels: Vec<String>,
    quantities: Vec<i64>,
}

fn columns(lines: &[OrderLine]) -> Result<LineColumns, PgViewError> {
    let mut c = LineColumns {
        tiers: Vec::new(),
        skus: Vec::new(),
        prices: Vec::new(),
        labels: Vec::new(),
        quantities: Vec::new(),
    };
    for line in lines {
        c.tiers.push(Tier::of(line.unit_price).as_str().to_owned());
        c.skus.push(line.sku.clone());
        c.prices.push(
            i64::try_from(line.unit_price.0)
                .map_err(|_| PgViewError::Corrupt("unit price beyond i64".into()))?,
        );
        c.labels.push(line.label.clone());
        c.quantities.push(i64::from(line.quantity));
    }
    Ok(c)
}

impl PgPriceTiers {
    /// Checkpoint name, should the view be fed from the log instead of Kafka.
    pub const NAME: &'static str = "order-price-tiers-pg";

    /// The view in `schema` on `pool`; call [`migrate`](Self::migrate) once.
    pub fn new(pool: PgPool, schema: SchemaName) -> Self {
        Self { pool, schema }
    }

    fn sql(&self, template: &str) -> String {
        self.schema.render(template)
    }

    /// Creates the view's schema and tables if they do not exist. Safe from several
    /// processes at once (replicas starting together), also beside an event store in the
    /// same schema: [`cqrs_postgres::lock_schema_migrations`] serializes them.
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        cqrs_postgres::lock_schema_migrations(&mut tx, &self.schema).await?;
        // A script without arguments, by the simple query protocol (not `sqlx::raw_sql`,
        // whose future is not `Send` for every lifetime).
        let script = self.sql(include_str!("sql/tiers_schema.sql"));
        sqlx::Executor::execute(&mut *tx, script.as_str()).await?;
        tx.commit().await
    }

    /// Applies one order event exactly once: the event id is claimed in the transaction
    /// that changes the view, so a redelivery changes nothing.
    async fn apply_once(
        &self,
        decoded: &OrderEvent,
        event: &RecordedEvent,
    ) -> Result<(), PgViewError> {
        let position = i64::try_from(event.position)
            .map_err(|_| PgViewError::Corrupt("position beyond i64".into()))?;
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(&self.sql(include_str!("sql/tiers_claim_event.sql")))
            .bind(event.event_id)
            .bind(position)
            .fetch_optional(&mut *tx)
            .await?;
        if claimed.is_none() {
            tracing::debug!(event_id = %event.event_id, "redelivered event skipped");
            return Ok(());
        }
        match decoded {
            OrderEvent::OrderPlaced {
                order_id,
                customer_id,
                lines,
            } => {
                let c = columns(lines)?;
                sqlx::query(&self.sql(include_str!("sql/tiers_place.sql")))
                    .bind(order_id)
                    .bind(customer_id)
                    .bind(sqlx::types::Json(lines))
                    .bind(&c.tiers)
                    .bind(&c.skus)
                    .bind(&c.prices)
                    .bind(&c.labels)
                    .bind(&c.quantities)
                    .execute(&mut *tx)
                    .await?;
            }
            OrderEvent::OrderCancelled { .. } => {
                let order_id = event.aggregate_id();
                let cancelled = sqlx::query(&self.sql(include_str!("sql/tiers_cancel.sql")))
                    .bind(order_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = cancelled {
                    let customer_id: String = row.try_get("customer_id")?;
                    let sqlx::types::Json(lines): sqlx::types::Json<Vec<OrderLine>> =
                        row.try_get("lines")?;
                    let c = columns(&lines)?;
                    sqlx::query(&self.sql(include_str!("sql/tiers_remove.sql")))
                        .bind(&customer_id)
                        .bind(&c.tiers)
                        .bind(&c.skus)
                        .bind(&c.prices)
                        .bind(&c.quantities)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            OrderEvent::OrderPaid { .. }
            | OrderEvent::OrderShipped
            | OrderEvent::OrderConfirmed => {}
        }
        tx.commit().await?;
        Ok(())
    }

    async fn query_items(
        &self,
        customer_id: &str,
        tier: Option<Tier>,
    ) -> Result<Vec<TierGroup>, PgViewError> {
        let rows = sqlx::query(&self.sql(include_str!("sql/tiers_items.sql")))
            .bind(customer_id)
            .bind(tier.map(Tier::as_str))
            .fetch_all(&self.pool)
            .await?;
        let mut groups: Vec<TierGroup> = Tier::ALL
            .into_iter()
            .filter(|t| tier.is_none_or(|wanted| wanted == *t))
            .map(|t| TierGroup {
                tier: t,
                items: Vec::new(),
            })
            .collect();
        for row in rows {
            let row_tier: String = row.try_get("tier")?;
            let row_tier: Tier = row_tier.parse().map_err(PgViewError::Corrupt)?;
            let unit_price: i64 = row.try_get("unit_price")?;
            let quantity: i64 = row.try_get("quantity")?;
            let item = TierItem {
                sku: row.try_get("sku")?,
                label: row.try_get("label")?,
                unit_price: Cents(
                    u64::try_from(unit_price)
                        .map_err(|_| PgViewError::Corrupt("negative price".into()))?,
                ),
                quantity: u64::try_from(quantity)
                    .map_err(|_| PgViewError::Corrupt("negative quantity".into()))?,
            };
            if let Some(group) = groups.iter_mut().find(|g| g.tier == row_tier) {
                group.items.push(item);
            }
        }
        Ok(groups)
    }
}

/// Fed the `Order` aggregate's events, decoded; failures classified by
/// [`PgViewError::kind`].
#[async_trait]
impl TypedProjection for PgPriceTiers {
    type Aggregate = Order;
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
        event: &OrderEvent,
        envelope: &RecordedEvent,
    ) -> Result<(), PgViewError> {
        self.apply_once(event, envelope).await
    }

    fn failure_kind(&self, error: &PgViewError) -> FailureKind {
        error.kind()
    }
}

#[async_trait]
impl TierQueries for PgPriceTiers {
    async fn items(
        &self,
        customer_id: &str,
        tier: Option<Tier>,
    ) -> Result<Vec<TierGroup>, QueryError> {
        self.query_items(customer_id, tier).await.map_err(|e| {
            tracing::error!(error = %e, "price-tier query failed");
            QueryError(e.to_string())
        })
    }
}
