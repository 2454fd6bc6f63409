//! The lean load: [`EventStore::load_stream`] feeds a visitor the same events as
//! `read_stream`, in version order, and stops when the visitor breaks.

use std::ops::ControlFlow;

use serde_json::json;

use super::{append_ok, events, unique_stream};
use crate::{EventStore, ExpectedVersion, JsonPayload, NewEvent, StreamEventRef};

/// What a visitor saw, owned so it outlives the visit.
#[derive(Debug, PartialEq)]
struct Seen {
    stream_id: String,
    stream_version: u64,
    event_type: String,
    event_version: u32,
    payload: serde_json::Value,
}

impl From<StreamEventRef<'_>> for Seen {
    fn from(event: StreamEventRef<'_>) -> Self {
        Self {
            stream_id: event.stream_id.to_owned(),
            stream_version: event.stream_version,
            event_type: event.event_type.to_owned(),
            event_version: event.event_version,
            payload: serde_json::from_str(event.payload).unwrap_or_else(|e| {
                panic!(
                    "load_stream gave a payload that is not JSON ({e}): {:?}",
                    event.payload
                )
            }),
        }
    }
}

async fn loaded<S: EventStore>(store: &S, stream: &str, from_version: u64) -> Vec<Seen> {
    let mut seen = Vec::new();
    store
        .load_stream(stream, from_version, &mut |event| {
            seen.push(Seen::from(event));
            ControlFlow::Continue(())
        })
        .await
        .unwrap_or_else(|e| panic!("load_stream of `{stream}` from {from_version}: {e}"));
    seen
}

async fn read<S: EventStore>(store: &S, stream: &str, from_version: u64) -> Vec<Seen> {
    let events = store.read_stream(stream, from_version).await.expect("read");
    events
        .iter()
        .map(|e| Seen::from(StreamEventRef::from(e)))
        .collect()
}

pub(crate) async fn load_stream_visits_what_read_stream_returns<S: EventStore>(store: &S) {
    let stream = unique_stream("Load");
    let other = unique_stream("Load");
    // Several types and schema versions (1 and others, mixed within one batch), across
    // batches, with another stream's events in between.
    let mixed = vec![
        NewEvent::raw("Opened", 1, JsonPayload::from_value(&json!({"v": 1}))),
        NewEvent::raw(
            "Renamed",
            3,
            JsonPayload::from_value(&json!({"name": "ü \"q\" \\ 🦀"})),
        ),
        NewEvent::raw(
            "Renamed",
            1,
            JsonPayload::from_value(&json!([1, 2.5, null, true])),
        ),
        NewEvent::raw("Closed", 7, JsonPayload::from_value(&json!("text"))),
    ];
    append_ok(store, &stream, ExpectedVersion::NoStream, mixed).await;
    append_ok(store, &other, ExpectedVersion::NoStream, events(0..3)).await;
    append_ok(store, &stream, ExpectedVersion::Exact(4), events(10..13)).await;

    let all = read(store, &stream, 1).await;
    assert_eq!(all.len(), 7);
    for from in [0, 1, 2, 4, 5, 7] {
        let expected: Vec<&Seen> = all.iter().filter(|e| e.stream_version >= from).collect();
        let visited = loaded(store, &stream, from).await;
        assert_eq!(
            visited.iter().collect::<Vec<_>>(),
            expected,
            "load_stream from version {from} must visit what read_stream returns"
        );
    }
    assert_eq!(
        loaded(store, &stream, 1).await[1].event_version,
        3,
        "schema versions come through"
    );
    assert!(loaded(store, &stream, 8).await.is_empty(), "past the end");
    assert!(
        loaded(store, &unique_stream("Missing"), 1).await.is_empty(),
        "a missing stream visits nothing"
    );
}

pub(crate) async fn load_stream_stops_when_the_visitor_breaks<S: EventStore>(store: &S) {
    let stream = unique_stream("LoadStop");
    append_ok(store, &stream, ExpectedVersion::NoStream, events(0..50)).await;
    let mut calls = 0;
    store
        .load_stream(&stream, 1, &mut |event| {
            calls += 1;
            assert_eq!(event.stream_version, calls, "visited in version order");
            if calls == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
        .expect("a visitor that breaks is not a store error");
    assert_eq!(calls, 3, "no event is visited after the visitor breaks");
    // The store is usable afterwards (a store reading over a connection must not leave
    // the rest of the read behind for the next caller).
    assert_eq!(loaded(store, &stream, 1).await.len(), 50);
    assert_eq!(read(store, &stream, 48).await.len(), 3);
}
