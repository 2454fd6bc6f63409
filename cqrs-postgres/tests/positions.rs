//! Position safety: `migrate()` refuses a schema whose stored positions are ahead of the
//! cluster's transaction ids (a logical dump restored into another cluster), because new
//! events would get positions below the stored ones and readers would skip them.

mod support;

use cqrs_core::{EventStore, ExpectedVersion, Metadata};
use cqrs_postgres::sqlx;
use cqrs_postgres::SetupError;
use serde_json::json;
use support::event;

/// Positions keep the transaction id in their bits above the low 20.
const INDEX_BITS: u32 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_refuses_positions_restored_ahead_of_the_clusters_transaction_ids() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    for n in 0..3 {
        store
            .append(
                "Restored-1",
                ExpectedVersion::Any,
                vec![event("Happened", json!({ "n": n }))],
                &Metadata::default(),
            )
            .await
            .expect("append");
    }
    // An untouched store migrates again without complaint.
    assert_eq!(
        store.migrate().await.expect("migrate again"),
        Vec::<i32>::new()
    );

    // The restore: the same rows, but written by a cluster whose transaction counter was
    // about 2^40 (positions keep their order; only the counter behind them is missing).
    let current: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(store.pool())
        .await
        .expect("xid");
    let schema = store.config().schema.quoted();
    sqlx::query(&format!(
        "UPDATE {schema}.events SET position = position + (1::bigint << 60)"
    ))
    .execute(store.pool())
    .await
    .expect("simulate the restore");

    let refused = store.migrate().await.expect_err("migrate refuses");
    match &refused {
        SetupError::PositionsAhead {
            stored_transaction,
            current_transaction,
            epoch,
            ..
        } => {
            assert!(*stored_transaction >= 1 << (60 - INDEX_BITS));
            assert!(*current_transaction as i64 >= current);
            // The epoch it asks for puts new transaction ids above every stored one.
            assert!(epoch << 32 > *stored_transaction);
        }
        other => panic!("unexpected error: {other:?}"),
    }
    let message = refused.to_string();
    assert!(
        message.contains("restored from a logical dump")
            && message.contains("pg_resetwal --epoch="),
        "{message}"
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_refuses_a_checkpoint_ahead_of_the_clusters_transaction_ids() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    // A relay's checkpoint from the old cluster, with no event left that high (pruned).
    store
        .save_checkpoint("relay", 1 << 61)
        .await
        .expect("checkpoint");
    let refused = store.migrate().await.expect_err("migrate refuses");
    assert!(
        matches!(refused, SetupError::PositionsAhead { stored_position, .. } if stored_position == 1 << 61),
        "{refused:?}"
    );
    db.cleanup().await;
}
