//! LISTEN/NOTIFY wake-ups reach subscribers in other processes within milliseconds.

mod support;

use std::time::{Duration, Instant};

use cqrs_core::{EventStore, ExpectedVersion, Metadata};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, WakeupConfig};
use serde_json::json;
use support::event;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notification_wakes_a_subscriber_of_another_store_without_polling() {
    let Some(db) = support::database().await else {
        return;
    };
    let writer = db.store().await;
    // The subscriber is a separate store on the same schema (as another process would be),
    // with the fallback poll off: only a notification can wake it.
    let config = PgEventStoreConfig::new(writer.config().schema.clone()).wakeups(WakeupConfig {
        listen: true,
        fallback_poll: None,
    });
    let subscriber = PgEventStore::from_pool(db.pool.clone(), config);
    let mut watch = subscriber.subscribe();
    // Let the listener connect and LISTEN.
    tokio::time::sleep(Duration::from_millis(300)).await;

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
