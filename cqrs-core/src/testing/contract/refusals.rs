//! Contract cases for what a store keeps about commands (see `store::commands`):
//! events by id and recorded refusals.

use std::sync::Arc;

use uuid::Uuid;

use super::{append_ok, events, unique_stream};
use crate::{EventStore, ExpectedVersion, Metadata, RecordedEvent, RecordedRefusal};

/// How many executions of one command id record a refusal at once.
const RACERS: usize = 16;

pub(crate) async fn read_events_by_id_finds_stored_events_in_any_stream<S: EventStore>(
    store: &Arc<S>,
) {
    let (first, second) = (unique_stream("ById"), unique_stream("ById"));
    let a = append_ok(&**store, &first, ExpectedVersion::NoStream, events(0..3)).await;
    // The other stream's events carry metadata, so the whole envelope is compared.
    let metadata = Metadata {
        correlation_id: Some(Uuid::now_v7()),
        ..Metadata::default()
    }
    .with_header("user", "Zoë \"o'brien\"");
    let b = store
        .append(&second, ExpectedVersion::NoStream, events(3..5), &metadata)
        .await
        .expect("append with metadata");
    let unknown = Uuid::now_v7();
    let (a, b) = (&a.events, &b.events);
    // Scrambled, across both streams, one stored event left out and one unknown id.
    let ids = [
        b[1].event_id,
        a[2].event_id,
        unknown,
        a[0].event_id,
        b[0].event_id,
    ];

    let mut found = store
        .read_events_by_id(&ids)
        .await
        .expect("read_events_by_id");
    found.sort_by_key(|e| e.position);
    let mut stored: Vec<RecordedEvent> = store.read_stream(&first, 1).await.expect("read");
    stored.extend(store.read_stream(&second, 1).await.expect("read"));
    let mut expected: Vec<RecordedEvent> = stored
        .into_iter()
        .filter(|e| ids.contains(&e.event_id))
        .collect();
    expected.sort_by_key(|e| e.position);
    assert_eq!(
        expected.len(),
        4,
        "the four stored ids are in the two streams"
    );
    assert_eq!(
        found, expected,
        "read_events_by_id returns exactly the stored events of the ids, with the envelopes read_stream returns"
    );
    assert!(
        found.iter().all(|e| e.event_id != unknown),
        "an unknown id is left out"
    );

    let none = store
        .read_events_by_id(&[])
        .await
        .expect("read_events_by_id of no ids");
    assert!(none.is_empty(), "no ids find no events, found {none:?}");
    let only_unknown = store
        .read_events_by_id(&[unknown])
        .await
        .expect("read_events_by_id of an unknown id");
    assert!(
        only_unknown.is_empty(),
        "an unknown id finds nothing, found {only_unknown:?}"
    );
}

pub(crate) async fn the_first_recorded_refusal_of_a_command_id_wins<S: EventStore>(store: &Arc<S>) {
    let command = Uuid::now_v7();
    // Quotes, backslashes, SQL and unicode are plain data in both stream id and message.
    let stream = format!(
        "Tab-'o\"brien'\\-Zoë-✓-{}; DROP TABLE events;--",
        command.simple()
    );
    let message = "the tab's limit of \"10 €\" is reached \\ ' ; -- 🎉 Ünïcödé\nsecond line";
    let first = RecordedRefusal::new(command, &stream, 3, "limit_reached", message);

    let recorded = store
        .record_refusal(first.clone())
        .await
        .expect("record a refusal");
    assert_eq!(
        recorded, first,
        "recording a new command id's refusal returns it as given"
    );

    let later = RecordedRefusal::new(command, unique_stream("Other"), 7, "other", "later message");
    let again = store
        .record_refusal(later)
        .await
        .expect("record a refusal again");
    assert_eq!(
        again, first,
        "a second refusal of one command id returns the first one recorded"
    );

    let loaded = store.load_refusal(command).await.expect("load_refusal");
    assert_eq!(
        loaded.as_ref(),
        Some(&first),
        "load_refusal returns the recorded refusal, every field equal (recorded_at to the ms)"
    );

    let unknown = store
        .load_refusal(Uuid::now_v7())
        .await
        .expect("load_refusal of an unknown id");
    assert_eq!(unknown, None, "a command id never refused has no refusal");

    // Refusals are per command id: another id on the same stream records its own.
    let other = RecordedRefusal::new(Uuid::now_v7(), &stream, 3, "limit_reached", "other");
    let recorded = store
        .record_refusal(other.clone())
        .await
        .expect("record another command's refusal");
    assert_eq!(recorded, other);
    assert_eq!(
        store.load_refusal(command).await.expect("load_refusal"),
        Some(first),
        "another command id's refusal leaves the first one alone"
    );
}

pub(crate) async fn concurrent_refusals_of_one_command_id_record_one<S: EventStore>(
    store: &Arc<S>,
) {
    let command = Uuid::now_v7();
    let stream: Arc<str> = unique_stream("RacingRefusal").into();
    let racers = (0..RACERS).map(|i| {
        let (store, stream) = (store.clone(), stream.clone());
        let refusal =
            RecordedRefusal::new(command, &*stream, 1, "refused", &format!("execution {i}"));
        tokio::spawn(async move { store.record_refusal(refusal).await })
    });
    let mut recorded = Vec::with_capacity(RACERS);
    for racer in futures::future::join_all(racers).await {
        recorded.push(
            racer
                .expect("racing task did not panic")
                .expect("record_refusal under contention"),
        );
    }
    let winner = recorded[0].clone();
    assert!(
        recorded.iter().all(|r| *r == winner),
        "every racer must report the one refusal recorded, got {:?}",
        recorded.iter().map(|r| &r.message).collect::<Vec<_>>()
    );
    assert!(
        (0..RACERS).any(|i| winner.message == format!("execution {i}")),
        "the recorded refusal is one of the racers', got {winner:?}"
    );
    assert_eq!(
        store.load_refusal(command).await.expect("load_refusal"),
        Some(winner),
        "load_refusal returns the refusal every racer reported"
    );
}
