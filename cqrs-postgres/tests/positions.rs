//! Position safety: `migrate()` refuses a schema whose stored positions are ahead of the
//! cluster's transaction ids (a logical dump restored into another cluster), because new
//! events would get positions below the stored ones and readers would skip them.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use cqrs_core::{EventStore, ExpectedVersion, Metadata};
use cqrs_postgres::sqlx::{self, PgPool};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, PoolConfig, SetupError};
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

/// The real thing: the schema is dumped with `pg_dump` from the test cluster and restored
/// with `psql` into another cluster whose transaction ids are behind (the TLS-only cluster
/// of `scripts/start-postgres-tls.sh`); `migrate()` there refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_refuses_a_schema_restored_by_pg_dump_into_a_cluster_that_is_behind() {
    let Some(db) = support::database().await else {
        return;
    };
    let (Ok(tls_url), Ok(ca)) = (std::env::var("PG_TLS_URL"), std::env::var("PG_TLS_CA")) else {
        cqrs_core::testing::skip_or_fail(
            "cqrs-postgres restore",
            "PG_TLS_URL/PG_TLS_CA not set: no second cluster to restore into (scripts/test.sh)",
        );
        return;
    };
    let tools = ["pg_dump", "psql"]
        .iter()
        .all(|tool| Command::new(tool).arg("--version").output().is_ok());
    if !tools {
        cqrs_core::testing::skip_or_fail("cqrs-postgres restore", "pg_dump/psql not installed");
        return;
    }
    let separator = if tls_url.contains('?') { '&' } else { '?' };
    let target_url = format!("{tls_url}{separator}sslmode=verify-full&sslrootcert={ca}");
    let target = PoolConfig::default()
        .connect(&target_url)
        .await
        .expect("connect to the second cluster");

    // The source cluster must be ahead of the target (on a fresh machine both start near
    // the same id): spend transaction ids until it is.
    let xid = |pool: PgPool| async move {
        sqlx::query_scalar::<_, i64>("SELECT pg_current_xact_id()::text::bigint")
            .fetch_one(&pool)
            .await
            .expect("xid")
    };
    let target_xid = xid(target.clone()).await;
    while xid(db.pool.clone()).await < target_xid + 1_000 {}

    let store = db.store().await;
    for n in 0..3 {
        store
            .append(
                "Dumped-1",
                ExpectedVersion::Any,
                vec![event("Happened", json!({ "n": n }))],
                &Metadata::default(),
            )
            .await
            .expect("append");
    }
    let schema = store.config().schema.clone();
    let dump = Command::new("pg_dump")
        .args(["--no-owner", "--schema", schema.as_str(), &db.url])
        .output()
        .expect("pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut restore = Command::new("psql")
        .args(["-q", "-v", "ON_ERROR_STOP=1", &target_url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql");
    restore
        .stdin
        .take()
        .expect("stdin")
        .write_all(&dump.stdout)
        .expect("feed the dump");
    let restored = restore.wait_with_output().expect("psql");
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );

    let restored_store =
        PgEventStore::from_pool(target.clone(), PgEventStoreConfig::new(schema.clone()));
    assert_eq!(
        restored_store
            .read_stream("Dumped-1", 1)
            .await
            .expect("read")
            .len(),
        3,
        "the events were restored"
    );
    let refused = restored_store.migrate().await.expect_err("migrate refuses");
    assert!(
        matches!(&refused, SetupError::PositionsAhead { current_transaction, .. } if (*current_transaction as i64) < target_xid + 1_000),
        "{refused:?}"
    );
    let _ = sqlx::query(&format!("DROP SCHEMA {} CASCADE", schema.quoted()))
        .execute(&target)
        .await;
    db.cleanup().await;
}
