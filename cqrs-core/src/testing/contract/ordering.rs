//! Stream order, global order and the envelope.

use chrono::Utc;
use uuid::Uuid;

use super::{append_ok, events, last_position, n_of, settled_log, unique_stream};
use crate::{EventStore, ExpectedVersion, Metadata};

pub(crate) async fn read_stream_returns_versions_in_order<S: EventStore>(store: &S) {
    let a = unique_stream("OrderA");
    let b = unique_stream("OrderB");
    append_ok(store, &a, ExpectedVersion::NoStream, events(0..3)).await;
    append_ok(store, &b, ExpectedVersion::NoStream, events(100..102)).await;
    append_ok(store, &a, ExpectedVersion::Exact(3), events(3..5)).await;
    let all = store.read_stream(&a, 1).await.expect("read");
    assert_eq!(
        all.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        all.iter().map(n_of).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
    assert!(
        all.iter().all(|e| *e.stream_id == *a),
        "only the stream's own events"
    );
    let tail = store.read_stream(&a, 4).await.expect("read");
    assert_eq!(
        tail.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert!(store.read_stream(&a, 6).await.expect("read").is_empty());
    assert_eq!(
        store.read_stream(&a, 0).await.expect("read").len(),
        5,
        "from 0 reads from the start"
    );
    assert!(store
        .read_stream(&unique_stream("Missing"), 1)
        .await
        .expect("read")
        .is_empty());
}

pub(crate) async fn read_all_pages_the_global_log_in_order<S: EventStore>(store: &S) {
    assert_eq!(
        store.head_position().await.expect("head"),
        0,
        "a fresh store is empty"
    );
    assert!(store.read_all(1, 10).await.expect("read").is_empty());
    let streams: Vec<String> = (0..4).map(|_| unique_stream("Global")).collect();
    let mut written = Vec::new();
    let mut last = 0;
    for round in 0..5u64 {
        for (i, stream) in streams.iter().enumerate() {
            let n = round * 10 + i as u64;
            let result = append_ok(
                store,
                stream,
                ExpectedVersion::Any,
                events(n * 10..n * 10 + 2),
            )
            .await;
            written.extend(result.events.iter().map(|e| e.event_id));
            last = last_position(&result);
        }
    }
    let log = settled_log(store, last).await;
    assert_eq!(
        log.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        written,
        "global log in append order"
    );
    assert!(
        log.windows(2).all(|w| w[0].position < w[1].position),
        "positions strictly increase"
    );
    assert_eq!(
        store.head_position().await.expect("head"),
        log.last().map_or(0, |e| e.position)
    );
    // Paging with small pages from arbitrary positions yields the same sequence.
    let mut paged = Vec::new();
    let mut from = 0;
    loop {
        let page = store.read_all(from, 3).await.expect("read");
        assert!(page.len() <= 3, "read_all must respect max");
        let Some(last) = page.last() else { break };
        from = last.position + 1;
        paged.extend(page);
    }
    assert_eq!(paged, log);
    let middle = &log[7];
    let from_middle = store.read_all(middle.position, 5).await.expect("read");
    assert_eq!(
        from_middle,
        log[7..12].to_vec(),
        "read_all is inclusive of from_position"
    );
    let beyond = log.last().map_or(1, |e| e.position + 1);
    assert!(store.read_all(beyond, 10).await.expect("read").is_empty());
}

pub(crate) async fn envelope_round_trips<S: EventStore>(store: &S) {
    let stream = unique_stream("Envelope");
    let correlation = Uuid::now_v7();
    let causation = Uuid::now_v7();
    let metadata = Metadata {
        correlation_id: Some(correlation),
        causation_id: Some(causation),
        headers: [
            ("user".to_owned(), "ada".to_owned()),
            ("quote".to_owned(), "it's \"x\"".to_owned()),
        ]
        .into(),
    };
    let batch = events(0..2);
    let before = Utc::now() - chrono::Duration::seconds(5);
    let result = store
        .append(&stream, ExpectedVersion::NoStream, batch.clone(), &metadata)
        .await
        .expect("append");
    let after = Utc::now() + chrono::Duration::seconds(5);
    let read = store.read_stream(&stream, 1).await.expect("read");
    assert_eq!(
        read, result.events,
        "append returns exactly what is read back"
    );
    for (stored, sent) in read.iter().zip(&batch) {
        assert_eq!(stored.event_id, sent.event_id);
        assert_eq!(&*stored.event_type, sent.event_type);
        assert_eq!(stored.event_version, sent.event_version);
        assert_eq!(
            stored.payload.to_value().expect("json"),
            sent.payload.to_value().expect("json"),
            "payload must round-trip"
        );
        assert_eq!(*stored.metadata, metadata, "metadata must round-trip");
        assert!(
            stored.recorded_at > before && stored.recorded_at < after,
            "recorded_at {} should be now (UTC)",
            stored.recorded_at
        );
    }
    let from_log = store.read_all(read[0].position, 2).await.expect("read");
    assert_eq!(
        from_log, read,
        "read_all returns the same envelopes as read_stream"
    );
}
