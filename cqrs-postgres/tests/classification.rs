//! Failure classification against errors the real server produces: data PostgreSQL refuses
//! for good is permanent (and `StoreError::Refused` through the store), the infrastructure's
//! failures are transient.

mod support;

use std::time::Duration;

use cqrs_core::{ExpectedVersion, FailureKind, Metadata, StoreError, StoreLimits};
use cqrs_postgres::sqlx::{self, PgPool};
use cqrs_postgres::{classify, classify_error, PgEventStoreConfig, PoolConfig};
use serde_json::json;
use support::event;

/// A text of `len` hexadecimal characters that does not compress (so an index entry of it
/// stays over PostgreSQL's b-tree limit of about 2,700 bytes).
fn incompressible(len: usize) -> String {
    let mut rng = support::Rng::new(0x5eed);
    (0..len)
        .map(|_| char::from_digit(rng.below(16) as u32, 16).unwrap_or('0'))
        .collect()
}

async fn sqlstate_of(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()).unwrap_or_default(),
        other => panic!("not a database error: {other:?}"),
    }
}

/// A projection's own error type wrapping the driver's, as users write them.
#[derive(Debug, thiserror::Error)]
enum ViewError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_the_server_raises_for_refused_data_are_permanent_and_the_rest_transient() {
    let Some(db) = support::database().await else {
        return;
    };
    let pool = &db.pool;

    // 22021: a NUL character in text.
    let nul = sqlx::query("SELECT $1::text")
        .bind("a\0b")
        .execute(pool)
        .await
        .expect_err("PostgreSQL refuses a NUL in text");
    assert_eq!(sqlstate_of(&nul).await, "22021");
    assert_eq!(classify(&nul), FailureKind::Permanent);
    // Also when a projection wraps it in its own error type.
    assert_eq!(
        classify_error(&ViewError::from(nul)),
        FailureKind::Permanent
    );

    // 54000: an index row over the b-tree limit.
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("CREATE TEMP TABLE labels (label text PRIMARY KEY) ON COMMIT DROP")
        .execute(&mut *tx)
        .await
        .expect("create");
    let too_large = sqlx::query("INSERT INTO labels VALUES ($1)")
        .bind(incompressible(20_000))
        .execute(&mut *tx)
        .await
        .expect_err("the index refuses the row");
    assert_eq!(sqlstate_of(&too_large).await, "54000");
    assert_eq!(classify(&too_large), FailureKind::Permanent);
    drop(tx);

    // 42P01: a missing table.
    let missing = sqlx::query("SELECT * FROM no_such_table_anywhere")
        .execute(pool)
        .await
        .expect_err("no such table");
    assert_eq!(sqlstate_of(&missing).await, "42P01");
    assert_eq!(classify(&missing), FailureKind::Permanent);

    // 57014: statement_timeout, set through PoolConfig.
    let timed: PgPool = PoolConfig {
        statement_timeout: Some(Duration::from_millis(100)),
        max_connections: 2,
        ..PoolConfig::default()
    }
    .connect(&db.url)
    .await
    .expect("pool with a statement timeout");
    let timeout = sqlx::query("SELECT pg_sleep(5)")
        .execute(&timed)
        .await
        .expect_err("cancelled by statement_timeout");
    assert_eq!(sqlstate_of(&timeout).await, "57014");
    assert_eq!(classify(&timeout), FailureKind::Transient);

    // 40001: two serializable transactions that each read what the other writes.
    sqlx::query("CREATE TABLE IF NOT EXISTS public.classify_skew (v int)")
        .execute(pool)
        .await
        .expect("create");
    let mut first = pool.begin().await.expect("begin");
    let mut second = pool.begin().await.expect("begin");
    for tx in [&mut first, &mut second] {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            .execute(&mut **tx)
            .await
            .expect("serializable");
        sqlx::query("SELECT count(*) FROM public.classify_skew")
            .execute(&mut **tx)
            .await
            .expect("read");
        sqlx::query("INSERT INTO public.classify_skew VALUES (1)")
            .execute(&mut **tx)
            .await
            .expect("write");
    }
    first.commit().await.expect("the first commits");
    let serialization = second
        .commit()
        .await
        .expect_err("the second loses the serialization check");
    assert_eq!(sqlstate_of(&serialization).await, "40001");
    assert_eq!(classify(&serialization), FailureKind::Transient);
    let _ = sqlx::query("DROP TABLE IF EXISTS public.classify_skew")
        .execute(pool)
        .await;
}

/// What PostgreSQL refuses inside a `PgTransaction` comes out as `StoreError::Refused`
/// with its SQLSTATE, and so does every later call of the transaction it aborted: the
/// same work in a new transaction fails again, so the caller dead-letters the input
/// instead of retrying it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_refused_inside_a_transaction_is_refused_and_permanent() {
    let Some(db) = support::database().await else {
        return;
    };
    // Stream ids are limited to 512 bytes by default, well under the index limit; a user
    // who raises the limit meets PostgreSQL's.
    let limits = StoreLimits {
        max_stream_id_bytes: 64 * 1024,
        ..StoreLimits::default()
    };
    let store = db
        .store_with(PgEventStoreConfig::new(db.fresh_schema()).limits(limits))
        .await;

    // 54000: a stream id over the b-tree limit of the (stream_id, version) index.
    let mut tx = store.begin().await.expect("begin");
    let long_stream = format!("Order-{}", incompressible(20_000));
    let refused = tx
        .append(
            &long_stream,
            ExpectedVersion::Any,
            vec![event("Placed", json!({}))],
            &Metadata::default(),
        )
        .await
        .expect_err("the index refuses the stream id");
    assert!(
        matches!(&refused, StoreError::Refused { code, .. } if code == "54000"),
        "{refused:?}"
    );
    assert_eq!(refused.kind(), FailureKind::Permanent);
    let commit = tx.commit().await.expect_err("the transaction was aborted");
    assert!(
        matches!(&commit, StoreError::Refused { operation: "commit", code, .. } if code == "54000"),
        "{commit:?}"
    );

    // A NUL in a metadata header (jsonb would refuse it with 22P05) is refused before
    // anything reaches the server: the transaction stays usable.
    let mut tx = store.begin().await.expect("begin");
    let refused = tx
        .append(
            "Order-1",
            ExpectedVersion::Any,
            vec![event("Placed", json!({}))],
            &Metadata::default().with_header("tenant", "a\0b"),
        )
        .await
        .expect_err("a NUL in a header is refused");
    assert!(
        matches!(&refused, StoreError::InvalidInput { reason, .. } if reason.contains("NUL")),
        "{refused:?}"
    );
    assert_eq!(refused.kind(), FailureKind::Permanent);
    tx.append(
        "Order-2",
        ExpectedVersion::Any,
        vec![event("Placed", json!({}))],
        &Metadata::default(),
    )
    .await
    .expect("the transaction is still usable");
    drop(tx);

    // 22021 from the user's own statement on the transaction's connection.
    let mut tx = store.begin().await.expect("begin");
    let own = sqlx::query("SELECT $1::text")
        .bind("a\0b")
        .execute(tx.connection())
        .await
        .expect_err("NUL in text");
    assert_eq!(classify(&own), FailureKind::Permanent);
    drop(tx);

    // A transaction that loses nothing to the input stays transient-free: a good append
    // commits.
    let mut tx = store.begin().await.expect("begin");
    tx.append(
        "Order-3",
        ExpectedVersion::NoStream,
        vec![event("Placed", json!({}))],
        &Metadata::default(),
    )
    .await
    .expect("a good append");
    tx.commit().await.expect("commit");
    db.cleanup().await;
}
