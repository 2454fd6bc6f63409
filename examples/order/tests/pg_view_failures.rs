//! The PostgreSQL price-tier view's updater classifies failures: an event the database
//! refuses for good (a sku over the b-tree key limit, SQLSTATE 54000; a NUL in text,
//! 22P05) is a rejection (the consumer dead-letters it and moves on) and the next good
//! event is applied; a database that cannot be reached is transient (retried, never
//! skipped). Needs PostgreSQL (`DATABASE_URL`); prints SKIPPED without it unless `CI=true`.

use std::sync::Arc;

use cqrs_core::FailureKind;
use cqrs_kafka::{HandlerError, MessageHandler, MessageSource};
use cqrs_postgres::SchemaName;
use fixtures::recorded;
use order::domain::{Cents, OrderEvent, OrderLine, Tier};
use order::services::TierViewHandler;
use order::views::PgPriceTiers;
use order::views::TierQueries;

mod fixtures {
    use super::*;
    use cqrs_core::{Metadata, RecordedEvent};

    /// An `OrderPlaced` as a consumer receives it, bypassing the domain's limits (an old
    /// event, or another producer).
    pub fn recorded(position: u64, order_id: &str, sku: &str, label: &str) -> RecordedEvent {
        let event = OrderEvent::OrderPlaced {
            order_id: order_id.into(),
            customer_id: "dora".into(),
            lines: vec![OrderLine {
                sku: sku.into(),
                label: label.into(),
                unit_price: Cents(150),
                quantity: 2,
            }],
        };
        RecordedEvent {
            event_id: uuid::Uuid::now_v7(),
            stream_id: Arc::from(format!("Order-{order_id}")),
            stream_version: 1,
            position,
            recorded_at: Default::default(),
            event_type: Arc::from("OrderPlaced"),
            event_version: 1,
            payload: cqrs_core::NewEvent::from_event(&event)
                .expect("encode")
                .payload,
            metadata: Arc::new(Metadata::default()),
        }
    }
}

async fn pool() -> Option<sqlx::PgPool> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&url)
        .await
    {
        Ok(pool) => Some(pool),
        Err(e) => {
            cqrs_core::testing::skip_or_fail(
                "order PostgreSQL view failure tests",
                format!("PostgreSQL unreachable at {url}: {e}"),
            );
            None
        }
    }
}

fn source() -> MessageSource<'static> {
    MessageSource {
        topic: "Order",
        partition: 0,
        offset: 0,
    }
}

#[tokio::test]
async fn a_row_the_database_refuses_for_good_is_rejected_and_the_next_event_applied() {
    let Some(pool) = pool().await else { return };
    let schema = format!("order_fail_{}", uuid::Uuid::now_v7().simple());
    let view = PgPriceTiers::new(
        pool.clone(),
        SchemaName::new(schema.clone()).expect("schema"),
    );
    view.migrate().await.expect("migrate");
    let mut handler = TierViewHandler::new(view.clone());

    // Incompressible (a repeated letter would compress under the b-tree limit).
    let long_sku: String = (0..320)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    for (position, poison) in [
        (1, recorded(1, "o1", &long_sku, "Pen")),
        (2, recorded(2, "o2", "pen", "P\u{0}en")),
    ] {
        let error = handler
            .handle(&poison, &source())
            .await
            .expect_err("the database refuses it");
        assert_eq!(
            error.kind(),
            FailureKind::Permanent,
            "position {position}: {error}"
        );
        assert!(matches!(error, HandlerError::Rejected(_)), "{error:?}");
    }
    handler
        .handle(&recorded(3, "o3", "pen", "Pen"), &source())
        .await
        .expect("the next good event is applied");
    let items = view.items("dora", Some(Tier::Cheap)).await.expect("query");
    assert_eq!(items[0].items.len(), 1, "{items:?}");
    assert_eq!(items[0].items[0].sku, "pen");

    // An unreachable database is transient: retried, never skipped.
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&pool)
        .await
        .expect("cleanup");
    pool.close().await;
    let error = handler
        .handle(&recorded(4, "o4", "pen", "Pen"), &source())
        .await
        .expect_err("the pool is closed");
    assert_eq!(error.kind(), FailureKind::Transient, "{error}");
}
