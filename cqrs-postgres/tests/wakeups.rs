//! LISTEN/NOTIFY wake-ups reach subscribers in other processes within milliseconds.

mod support;

use std::time::{Duration, Instant};

use cqrs_core::{EventStore, ExpectedVersion, Metadata, PositionWatch};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, WakeupConfig};
use serde_json::json;
use support::event;

/// The tests of this file measure latencies that a transaction held open by another test
/// would stretch (the gap-safe bound is server-wide), so they run one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A separate store on `writer`'s schema (as another process would be) with the fallback
/// poll off, and its watch, once its listener had time to connect and LISTEN.
async fn listening_subscriber(
    db: &support::TestDb,
    writer: &PgEventStore,
) -> (PgEventStore, PositionWatch) {
    let config = PgEventStoreConfig::new(writer.config().schema.clone()).wakeups(WakeupConfig {
        listen: true,
        fallback_poll: None,
    });
    let subscriber = PgEventStore::from_pool(db.pool.clone(), config);
    let watch = subscriber.subscribe();
    tokio::time::sleep(Duration::from_millis(300)).await;
    (subscriber, watch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notification_wakes_a_subscriber_of_another_store_without_polling() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(db) = support::database().await else {
        return;
    };
    let writer = db.store().await;
    // Only a notification can wake the subscriber.
    let (subscriber, mut watch) = listening_subscriber(&db, &writer).await;

    let mut latencies = Vec::new();
    for n in 0..5 {
        let started = Instant::now();
        let appended = writer
            .append(
                "Wake-1",
                ExpectedVersion::Any,
                vec![event("Pinged", json!({"n": n}))],
                &Metadata::default(),
            )
            .await
            .expect("append");
        let position = appended.events[0].position;
        while watch.head() < position {
            assert!(
                watch
                    .wait_beyond(position - 1, Duration::from_secs(3))
                    .await,
                "no wake-up for position {position}"
            );
        }
        latencies.push(started.elapsed());
    }
    let worst = latencies.iter().max().copied().unwrap_or_default();
    assert!(
        worst < Duration::from_millis(250),
        "wake-ups took {latencies:?}"
    );
    drop(subscriber);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_wakes_soon_after_a_transaction_holding_the_bound_back_ends() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(db) = support::database().await else {
        return;
    };
    let writer = db.store().await;
    // Once the notification has come and gone, only the listener's chase of the held-back
    // position can wake the subscriber.
    let (subscriber, mut watch) = listening_subscriber(&db, &writer).await;

    // An unrelated transaction with a transaction id, opened before the append, holds the
    // gap-safe bound below the appended event.
    let mut holder = db.pool.begin().await.expect("begin");
    cqrs_postgres::sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *holder)
        .await
        .expect("take a transaction id");
    let appended = writer
        .append(
            "Held-1",
            ExpectedVersion::Any,
            vec![event("Pinged", json!({}))],
            &Metadata::default(),
        )
        .await
        .expect("append");
    let position = appended.events[0].position;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        watch.head() < position,
        "position {position} was announced while an older transaction was still open"
    );

    holder.commit().await.expect("commit the holder");
    let released = Instant::now();
    while watch.head() < position {
        assert!(
            watch
                .wait_beyond(position - 1, Duration::from_secs(3))
                .await,
            "no wake-up after the holding transaction ended"
        );
    }
    let latency = released.elapsed();
    assert!(
        latency < Duration::from_millis(400),
        "woke {latency:?} after the holding transaction ended"
    );
    drop(subscriber);
    db.cleanup().await;
}
