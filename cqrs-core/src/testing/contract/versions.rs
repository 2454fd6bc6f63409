//! Optimistic concurrency: every `ExpectedVersion` case and what a conflict leaves behind.

use super::{
    append_ok, event, events, last_position, settled_log, try_append, unique_stream, whole_log,
};
use crate::{Conflict, EventStore, ExpectedVersion, StoreError};

fn expect_conflict<T: std::fmt::Debug>(
    result: Result<T, StoreError>,
    stream: &str,
    expected: ExpectedVersion,
    actual: u64,
) {
    match result {
        Err(StoreError::Conflict(conflict)) => assert_eq!(
            conflict,
            Conflict {
                stream: stream.to_owned(),
                expected,
                actual
            },
            "conflict should name the stream, the expectation and the actual version"
        ),
        other => panic!("expected a Conflict (expected {expected}, actual {actual}) on `{stream}`, got {other:?}"),
    }
}

pub(crate) async fn no_stream_accepts_only_a_new_stream<S: EventStore>(store: &S) {
    let stream = unique_stream("NoStream");
    let first = append_ok(store, &stream, ExpectedVersion::NoStream, events(0..2)).await;
    assert_eq!(first.current_version, 2);
    let again = try_append(store, &stream, ExpectedVersion::NoStream, vec![event(2)]).await;
    expect_conflict(again, &stream, ExpectedVersion::NoStream, 2);
    let other = unique_stream("NoStream");
    let zero = append_ok(store, &other, ExpectedVersion::Exact(0), vec![event(0)]).await;
    assert_eq!(
        zero.current_version, 1,
        "Exact(0) on a new stream is NoStream"
    );
}

pub(crate) async fn exact_checks_the_current_version<S: EventStore>(store: &S) {
    let stream = unique_stream("Exact");
    append_ok(store, &stream, ExpectedVersion::NoStream, vec![event(0)]).await;
    let second = append_ok(store, &stream, ExpectedVersion::Exact(1), events(1..3)).await;
    assert_eq!(second.current_version, 3);
    assert_eq!(
        second
            .events
            .iter()
            .map(|e| e.stream_version)
            .collect::<Vec<_>>(),
        vec![2, 3]
    );
    for stale in [0, 1, 2, 4, 10, 11, 100] {
        let result = try_append(
            store,
            &stream,
            ExpectedVersion::Exact(stale),
            vec![event(9)],
        )
        .await;
        expect_conflict(result, &stream, ExpectedVersion::Exact(stale), 3);
    }
    let missing = unique_stream("Exact");
    let result = try_append(store, &missing, ExpectedVersion::Exact(1), vec![event(0)]).await;
    expect_conflict(result, &missing, ExpectedVersion::Exact(1), 0);
}

pub(crate) async fn stream_exists_refuses_a_missing_stream<S: EventStore>(store: &S) {
    let stream = unique_stream("Exists");
    let result = try_append(
        store,
        &stream,
        ExpectedVersion::StreamExists,
        vec![event(0)],
    )
    .await;
    expect_conflict(result, &stream, ExpectedVersion::StreamExists, 0);
    append_ok(store, &stream, ExpectedVersion::NoStream, vec![event(0)]).await;
    let appended = append_ok(
        store,
        &stream,
        ExpectedVersion::StreamExists,
        vec![event(1)],
    )
    .await;
    assert_eq!(appended.current_version, 2);
}

pub(crate) async fn any_always_appends<S: EventStore>(store: &S) {
    let stream = unique_stream("Any");
    for i in 0..3u64 {
        let result = append_ok(
            store,
            &stream,
            ExpectedVersion::Any,
            events(i * 2..i * 2 + 2),
        )
        .await;
        assert_eq!(result.current_version, i * 2 + 2);
    }
}

pub(crate) async fn conflict_writes_nothing<S: EventStore>(store: &S) {
    let stream = unique_stream("ConflictNothing");
    let first = append_ok(store, &stream, ExpectedVersion::NoStream, events(0..2)).await;
    let before = settled_log(store, last_position(&first)).await;
    let result = try_append(store, &stream, ExpectedVersion::Exact(1), events(2..5)).await;
    expect_conflict(result, &stream, ExpectedVersion::Exact(1), 2);
    assert_eq!(
        settled_log(store, last_position(&first)).await,
        before,
        "a conflicting append must write nothing"
    );
    assert_eq!(store.read_stream(&stream, 1).await.expect("read").len(), 2);
}

pub(crate) async fn empty_append_checks_version_and_writes_nothing<S: EventStore>(store: &S) {
    let stream = unique_stream("Empty");
    let empty = append_ok(store, &stream, ExpectedVersion::NoStream, Vec::new()).await;
    assert_eq!(empty.current_version, 0);
    assert!(empty.events.is_empty());
    assert!(
        whole_log(store).await.is_empty(),
        "an empty append writes nothing"
    );
    let first = append_ok(store, &stream, ExpectedVersion::NoStream, events(0..2)).await;
    let empty = append_ok(store, &stream, ExpectedVersion::Exact(2), Vec::new()).await;
    assert_eq!(
        empty.current_version, 2,
        "an empty append reports the current version"
    );
    let result = try_append(store, &stream, ExpectedVersion::Exact(1), Vec::new()).await;
    expect_conflict(result, &stream, ExpectedVersion::Exact(1), 2);
    let log = settled_log(store, last_position(&first)).await;
    assert_eq!(log.len(), 2, "empty appends added nothing");
    assert_eq!(store.head_position().await.expect("head"), log[1].position);
}
