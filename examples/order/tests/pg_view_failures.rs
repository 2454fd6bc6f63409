//! The PostgreSQL price-tier view, fed as the consumer feeds it (a typed projection
//! through `ProjectionHandler`), classifies failures: an event the database refuses for
//! good (a sku over the b-tree key limit, SQLSTATE 54000; a NUL in text, 22P05) or one that
//! does not decode is a rejection (the consumer dead-letters it and moves on) and the next
//! good event is applied; a database that cannot be reached is transient (retried, never
//! skipped). Needs PostgreSQL (`DATABASE_URL`); prints SKIPPED without it unless `CI=true`.

use std::sync::Arc;

use cqrs_core::{FailureKind, JsonPayload};
use cqrs_kafka::{HandlerError, MessageHandler, MessageSource, ProjectionHandler};
use cqrs_postgres::SchemaName;
use fixtures::recorded;
use order::domain::{Cents, OrderEvent, OrderLine, Tier};
use order::views::{PgPriceTiers, TierQueries};
use service_kit::testing::services::{key_over_btree_limit, postgres_or_skip};

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

fn source() -> MessageSource<'static> {
    MessageSource {
        topic: "Order",
        partition: 0,
        offset: 0,
    }
}

#[tokio::test]
async fn a_row_the_database_refuses_for_good_is_rejected_and_the_next_event_applied() {
    let Some(pool) = postgres_or_skip("order PostgreSQL view failure tests").await else {
        return;
    };
    let schema = format!("order_fail_{}", uuid::Uuid::now_v7().simple());
    let view = PgPriceTiers::new(
        pool.clone(),
        SchemaName::new(schema.clone()).expect("schema"),
    );
    view.migrate().await.expect("migrate");
    let mut handler = ProjectionHandler::new(view.clone());

    let long_sku = key_over_btree_limit();
    let mut undecodable = recorded(3, "o3", "pen", "Pen");
    undecodable.payload = JsonPayload::parse(r#"{"lines":"none"}"#).expect("json");
    for (position, poison) in [
        (1, recorded(1, "o1", &long_sku, "Pen")),
        (2, recorded(2, "o2", "pen", "P\u{0}en")),
        (3, undecodable),
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
        .handle(&recorded(4, "o4", "pen", "Pen"), &source())
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
        .handle(&recorded(5, "o5", "pen", "Pen"), &source())
        .await
        .expect_err("the pool is closed");
    assert_eq!(error.kind(), FailureKind::Transient, "{error}");
}
