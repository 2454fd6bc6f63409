//! Payload and stream id edge cases, input validation, upcasting through the store.

use serde_json::json;

use super::{
    append_ok, event, last_position, settled_log, try_append, unique_stream, whole_log,
    ContractEvent,
};
use crate::{
    DecodeError, EventStore, ExpectedVersion, JsonPayload, NewEvent, StoreError, Upcasters,
};

pub(crate) async fn large_payload_round_trips<S: EventStore>(store: &S) {
    let stream = unique_stream("Large");
    let big_text: String = "é🦀'\"\\x".repeat(1024 * 1024 / 12) + &"a".repeat(1000);
    let payload = JsonPayload::from_serialize(&ContractEvent::Happened {
        n: 1,
        text: big_text.clone(),
    })
    .expect("json");
    assert!(
        payload.len() >= 1024 * 1024,
        "the large payload must be at least 1 MiB"
    );
    let sent = NewEvent::raw("Happened", 1, payload);
    append_ok(store, &stream, ExpectedVersion::NoStream, vec![sent]).await;
    let read = store.read_stream(&stream, 1).await.expect("read");
    match read[0].payload.deserialize::<ContractEvent>() {
        Ok(ContractEvent::Happened { text, .. }) => {
            assert!(text == big_text, "1 MiB payload must round-trip exactly")
        }
        Err(e) => panic!("large payload does not decode: {e}"),
    }
}

pub(crate) async fn hostile_and_unicode_stream_ids_are_plain_data<S: EventStore>(store: &S) {
    let ids = [
        "o'brien; DROP TABLE events;--".to_owned(),
        "Robert'); DELETE FROM events WHERE ('1'='1".to_owned(),
        "\"quoted\" $1 %s \\ backslash".to_owned(),
        "🦀-ünïcödé-流-😀".to_owned(),
        unique_stream("plain"),
    ];
    let mut last = 0;
    for (i, id) in ids.iter().enumerate() {
        let payload = JsonPayload::from_value(
            &json!({"type": "Happened", "n": i, "text": format!("{id} ✓ \u{1F600}")}),
        );
        last = last_position(
            &append_ok(
                store,
                id,
                ExpectedVersion::NoStream,
                vec![NewEvent::raw("Happened", 1, payload)],
            )
            .await,
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let read = store.read_stream(id, 1).await.expect("read");
        assert_eq!(
            read.len(),
            1,
            "stream `{id}` must hold exactly its own event"
        );
        assert_eq!(&*read[0].stream_id, id.as_str());
        assert_eq!(read[0].payload.to_value().expect("json")["n"], i);
        assert_eq!(
            read[0].payload.to_value().expect("json")["text"],
            format!("{id} ✓ \u{1F600}")
        );
    }
    assert_eq!(
        settled_log(store, last).await.len(),
        ids.len(),
        "the store still holds every event"
    );
}

pub(crate) async fn oversized_and_invalid_input_is_refused<S: EventStore>(store: &S) {
    let stream = unique_stream("Invalid");
    let empty_id = try_append(store, "", ExpectedVersion::Any, vec![event(0)]).await;
    assert!(
        matches!(empty_id, Err(StoreError::InvalidInput { .. })),
        "empty stream id: {empty_id:?}"
    );
    let huge = JsonPayload::from_value(&json!({"text": "x".repeat(9 * 1024 * 1024)}));
    let oversized = try_append(
        store,
        &stream,
        ExpectedVersion::Any,
        vec![event(0), NewEvent::raw("Happened", 1, huge)],
    )
    .await;
    assert!(
        matches!(oversized, Err(StoreError::InvalidInput { .. })),
        "a payload over the default 8 MiB limit: {:?}",
        oversized.as_ref().map(|r| r.current_version)
    );
    let nul = JsonPayload::from_value(&json!({"text": "a\u{0}b"}));
    let with_nul = try_append(
        store,
        &stream,
        ExpectedVersion::Any,
        vec![NewEvent::raw("Happened", 1, nul)],
    )
    .await;
    assert!(
        matches!(with_nul, Err(StoreError::InvalidInput { .. })),
        "NUL in payload: {with_nul:?}"
    );
    assert!(
        whole_log(store).await.is_empty(),
        "refused input writes nothing"
    );
}

pub(crate) async fn upcasters_apply_to_stored_events<S: EventStore>(store: &S) {
    let stream = unique_stream("Upcast");
    // v1 stored `{"count": n}`; v2 renamed it to `n`; v3 added `text`.
    let v1 = NewEvent::raw(
        "Happened",
        1,
        JsonPayload::from_value(&json!({"type": "Happened", "count": 7})),
    );
    let unknown = NewEvent::raw(
        "Vanished",
        1,
        JsonPayload::from_value(&json!({"type": "Vanished"})),
    );
    append_ok(store, &stream, ExpectedVersion::NoStream, vec![v1, unknown]).await;
    let upcasters = Upcasters::new()
        .register("Happened", 1, |mut v| {
            let count = v.get("count").cloned().ok_or("missing count")?;
            v["n"] = count;
            Ok(v)
        })
        .register("Happened", 2, |mut v| {
            v["text"] = json!("upcast");
            Ok(v)
        });
    let read = store.read_stream(&stream, 1).await.expect("read");
    let decoded: ContractEvent = read[0].decode(&upcasters).expect("upcast chain v1 -> v3");
    assert_eq!(
        decoded,
        ContractEvent::Happened {
            n: 7,
            text: "upcast".into()
        }
    );
    match read[1].decode::<ContractEvent>(&upcasters) {
        Err(DecodeError::UnknownEventType {
            stream: s,
            stream_version,
            event_type,
        }) => {
            assert_eq!(s, stream);
            assert_eq!(stream_version, 2);
            assert_eq!(event_type, "Vanished");
        }
        other => panic!("an unknown type must be UnknownEventType, got {other:?}"),
    }
    let failing = Upcasters::new().register("Happened", 1, |_| Err("cannot".to_owned()));
    assert!(matches!(
        read[0].decode::<ContractEvent>(&failing),
        Err(DecodeError::Upcast {
            from_version: 1,
            ..
        })
    ));
}
