//! The PostgreSQL stock view, fed as the consumer feeds it (a typed projection through
//! `ProjectionHandler`), classifies failures: an event the database refuses for good (a sku
//! over the b-tree key limit, SQLSTATE 54000; a NUL in a product name, 22021) or one that
//! does not decode is a rejection (the consumer dead-letters it and moves on) and the next
//! good event is applied; a database that cannot be reached is transient (retried, never
//! skipped). Needs PostgreSQL (`DATABASE_URL`); prints SKIPPED without it unless `CI=true`.

use std::sync::Arc;

use cqrs_core::{FailureKind, JsonPayload, Metadata, RecordedEvent};
use cqrs_kafka::{HandlerError, MessageHandler, MessageSource, ProjectionHandler};
use cqrs_postgres::sqlx;
use cqrs_postgres::SchemaName;
use inventory::domain::ProductEvent;
use inventory::views::{PgStockLevels, StockQueries};
use service_kit::testing::services::{key_over_btree_limit, postgres_or_skip};

/// A product event as a consumer receives it, bypassing the domain's limits (an old
/// event, or another producer).
fn recorded(sku: &str, version: u64, event: &ProductEvent) -> RecordedEvent {
    RecordedEvent {
        event_id: uuid::Uuid::now_v7(),
        stream_id: Arc::from(format!("Product-{sku}")),
        stream_version: version,
        position: version,
        recorded_at: Default::default(),
        event_type: Arc::from(cqrs_core::Event::event_type(event)),
        event_version: 1,
        payload: cqrs_core::NewEvent::from_event(event)
            .expect("encode")
            .payload,
        metadata: Arc::new(Metadata::default()),
    }
}

fn registered(sku: &str, name: &str) -> ProductEvent {
    ProductEvent::ProductRegistered {
        sku: sku.into(),
        name: name.into(),
    }
}

fn source() -> MessageSource<'static> {
    MessageSource {
        topic: "Product",
        partition: 0,
        offset: 0,
    }
}

#[tokio::test]
async fn a_row_the_database_refuses_for_good_is_rejected_and_the_next_event_applied() {
    let Some(pool) = postgres_or_skip("inventory PostgreSQL view failure tests").await else {
        return;
    };
    let schema = format!("inventory_fail_{}", uuid::Uuid::now_v7().simple());
    let view = PgStockLevels::new(
        pool.clone(),
        &SchemaName::new(schema.clone()).expect("schema"),
    );
    view.migrate().await.expect("migrate");
    let mut handler = ProjectionHandler::new(view.clone());

    let long_sku = key_over_btree_limit();
    let mut undecodable = recorded("pen", 1, &registered("pen", "Pen"));
    undecodable.payload = JsonPayload::parse(r#"{"sku":["pen"]}"#).expect("json");
    for poison in [
        recorded(&long_sku, 1, &registered(&long_sku, "Long")),
        recorded("pen", 1, &registered("pen", "P\u{0}en")),
        undecodable,
    ] {
        let error = handler
            .handle(&poison, &source())
            .await
            .expect_err("the database refuses it");
        assert_eq!(error.kind(), FailureKind::Permanent, "{error}");
        assert!(matches!(error, HandlerError::Rejected(_)), "{error:?}");
    }
    handler
        .handle(&recorded("pen", 1, &registered("pen", "Pen")), &source())
        .await
        .expect("the next good event is applied");
    let level = view
        .stock_level("pen")
        .await
        .expect("query")
        .expect("registered");
    assert_eq!(level.name, "Pen");

    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(&pool)
        .await
        .expect("cleanup");
    pool.close().await;
    let error = handler
        .handle(&recorded("mug", 1, &registered("mug", "Mug")), &source())
        .await
        .expect_err("the pool is closed");
    assert_eq!(error.kind(), FailureKind::Transient, "{error}");
}
