//! Snapshots, checkpoints and wake-ups.

use std::time::Duration;

use chrono::Utc;

use super::{append_ok, events, unique_stream};
use crate::{EventStore, ExpectedVersion, JsonPayload, Snapshot};

fn snapshot(stream: &str, version: u64) -> Snapshot {
    Snapshot {
        stream_id: stream.to_owned(),
        version,
        schema_version: 2,
        state: JsonPayload::from_value(&serde_json::json!({"version": version, "name": "ünï'"})),
        taken_at: Utc::now(),
    }
}

async fn snapshot_version<S: EventStore>(store: &S, stream: &str) -> Option<u64> {
    let stored = store.load_snapshot(stream).await.expect("load snapshot");
    stored.map(|s| s.version)
}

pub(crate) async fn snapshots_keep_the_latest_version_per_stream<S: EventStore>(store: &S) {
    let a = unique_stream("Snap");
    let b = unique_stream("Snap");
    assert_eq!(store.load_snapshot(&a).await.expect("load"), None);
    store.save_snapshot(snapshot(&a, 5)).await.expect("save");
    let loaded = store
        .load_snapshot(&a)
        .await
        .expect("load")
        .expect("a snapshot");
    assert_eq!((loaded.version, loaded.schema_version), (5, 2));
    assert_eq!(
        loaded.state.to_value().expect("json"),
        snapshot(&a, 5).state.to_value().expect("json")
    );
    store.save_snapshot(snapshot(&a, 3)).await.expect("save");
    assert_eq!(
        snapshot_version(store, &a).await,
        Some(5),
        "an older snapshot is ignored"
    );
    store.save_snapshot(snapshot(&a, 9)).await.expect("save");
    assert_eq!(snapshot_version(store, &a).await, Some(9));
    assert_eq!(
        store.load_snapshot(&b).await.expect("load"),
        None,
        "snapshots are per stream"
    );
}

pub(crate) async fn checkpoints_are_per_name_and_can_move_back<S: EventStore>(store: &S) {
    assert_eq!(
        store.load_checkpoint("orders-view").await.expect("load"),
        None
    );
    store
        .save_checkpoint("orders-view", 42)
        .await
        .expect("save");
    store
        .save_checkpoint("o'brien \"view\"", 7)
        .await
        .expect("save");
    assert_eq!(
        store.load_checkpoint("orders-view").await.expect("load"),
        Some(42)
    );
    assert_eq!(
        store
            .load_checkpoint("o'brien \"view\"")
            .await
            .expect("load"),
        Some(7)
    );
    store.save_checkpoint("orders-view", 0).await.expect("save");
    assert_eq!(
        store.load_checkpoint("orders-view").await.expect("load"),
        Some(0),
        "rebuilds move a checkpoint back"
    );
    let big = u64::from(u32::MAX) * 1000;
    store.save_checkpoint("big", big).await.expect("save");
    assert_eq!(
        store.load_checkpoint("big").await.expect("load"),
        Some(big),
        "positions beyond 32 bits"
    );
}

pub(crate) async fn subscribers_are_woken_by_appends<S: EventStore>(store: &S) {
    let stream = unique_stream("Wake");
    append_ok(store, &stream, ExpectedVersion::NoStream, events(0..1)).await;
    let head = store.head_position().await.expect("head");
    let mut watch = store.subscribe();
    let waiter = async {
        let started = std::time::Instant::now();
        let mut seen = head;
        // Wake-ups are hints: re-read the head after each one.
        while seen <= head && started.elapsed() < Duration::from_secs(10) {
            watch.wait_beyond(head, Duration::from_secs(10)).await;
            seen = store.head_position().await.expect("head");
        }
        (seen, started.elapsed())
    };
    let writer = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        append_ok(store, &stream, ExpectedVersion::Exact(1), events(1..2)).await
    };
    let ((seen, waited), appended) = tokio::join!(waiter, writer);
    assert!(
        seen >= appended.events[0].position,
        "the waiter must see the new event"
    );
    assert!(
        waited < Duration::from_secs(5),
        "a subscriber must be woken promptly, not by a slow poll (waited {waited:?})"
    );
}
