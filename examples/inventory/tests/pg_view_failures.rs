//! The PostgreSQL stock view's updater classifies failures: an event the database refuses
//! for good (a sku over the b-tree key limit, SQLSTATE 54000; a NUL in a product name,
//! 22021) is a rejection (the consumer dead-letters it and moves on) and the next good
//! event is applied; a database that cannot be reached is transient (retried, never
//! skipped). Needs PostgreSQL (`DATABASE_URL`); prints SKIPPED without it unless `CI=true`.

use std::sync::Arc;

use cqrs_core::{FailureKind, Metadata, RecordedEvent};
use cqrs_kafka::{HandlerError, MessageHandler, MessageSource};
use cqrs_postgres::sqlx;
use cqrs_postgres::SchemaName;
use inventory::domain::ProductEvent;
use inventory::services::StockViewHandler;
use inventory::views::{PgStockLevels, StockQueries};

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
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(e) => {
            cqrs_core::testing::skip_or_fail(
                "inventory PostgreSQL view failure tests",
                format!("PostgreSQL unreachable at {url}: {e}"),
            );
            return;
        }
    };
    let schema = format!("inventory_fail_{}", uuid::Uuid::now_v7().simple());
    let view = PgStockLevels::new(
        pool.clone(),
        &SchemaName::new(schema.clone()).expect("schema"),
    );
    view.migrate().await.expect("migrate");
    let mut handler = StockViewHandler::new(view.clone());

    // Incompressible (a repeated letter would compress under the b-tree limit).
    let long_sku: String = (0..320)
        .map(|_| uuid::Uuid::new_v4().simple().to_string())
        .collect();
    for poison in [
        recorded(&long_sku, 1, &registered(&long_sku, "Long")),
        recorded("pen", 1, &registered("pen", "P\u{0}en")),
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
