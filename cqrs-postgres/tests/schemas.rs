//! Schemas: two stores in one database are independent; migrations are idempotent and safe
//! to run concurrently.

mod support;

use cqrs_core::{EventStore, ExpectedVersion, Metadata};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig};
use serde_json::json;
use support::event;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schemas_in_one_database_are_independent() {
    let Some(db) = support::database().await else {
        return;
    };
    let tenant_a = db.store().await;
    let tenant_b = db.store().await;
    let meta = Metadata::default();

    // The same stream id is new in each schema.
    for (store, who) in [(&tenant_a, "a"), (&tenant_b, "b")] {
        store
            .append(
                "Order-1",
                ExpectedVersion::NoStream,
                vec![event("Placed", json!({"tenant": who}))],
                &meta,
            )
            .await
            .expect("each schema has its own streams");
    }
    tenant_a
        .append(
            "Order-2",
            ExpectedVersion::NoStream,
            vec![event("Placed", json!({"tenant": "a"}))],
            &meta,
        )
        .await
        .expect("append");

    let all_a = support::read_all_visible(&tenant_a, 2).await;
    let all_b = support::read_all_visible(&tenant_b, 1).await;
    assert_eq!(all_a.len(), 2);
    assert_eq!(all_b.len(), 1);
    assert!(all_b
        .iter()
        .all(|e| e.payload.to_value().expect("json")["tenant"] == "b"));

    tenant_a
        .save_checkpoint("projection", 7)
        .await
        .expect("checkpoint a");
    assert_eq!(
        tenant_b
            .load_checkpoint("projection")
            .await
            .expect("checkpoint b"),
        None
    );
    assert_eq!(
        tenant_a
            .load_checkpoint("projection")
            .await
            .expect("checkpoint a"),
        Some(7)
    );
    assert_ne!(
        tenant_a.config().schema.notify_channel(),
        tenant_b.config().schema.notify_channel()
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_is_idempotent_and_safe_to_run_concurrently() {
    let Some(db) = support::database().await else {
        return;
    };
    let schema = db.fresh_schema();
    let stores: Vec<PgEventStore> = (0..4)
        .map(|_| PgEventStore::from_pool(db.pool.clone(), PgEventStoreConfig::new(schema.clone())))
        .collect();
    let runs = futures::future::join_all(stores.iter().map(|s| s.migrate())).await;
    let mut applied: Vec<i32> = Vec::new();
    for run in runs {
        applied.extend(run.expect("concurrent migrate succeeds"));
    }
    applied.sort_unstable();
    assert_eq!(
        applied,
        vec![1, 2, 3, 4, 5],
        "each migration applied exactly once"
    );
    assert_eq!(stores[0].migrate().await.expect("again"), Vec::<i32>::new());
    db.cleanup().await;
}
