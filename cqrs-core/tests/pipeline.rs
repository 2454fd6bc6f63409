//! The command pipeline: decisions, retries, refusals versus failures, causality,
//! snapshots, upcasting and the state cache.

mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use cqrs_core::{
    CommandContext, CommandError, DecodeError, EventStore, ExpectedVersion, InMemoryEventStore,
    JsonPayload, Metadata, NewEvent, Repository, RetryPolicy, Snapshot, SnapshotPolicy, StoreError,
    Upcasters,
};
use serde_json::json;
use support::*;

#[tokio::test]
async fn multi_event_command_applies_each_event_to_the_state_of_the_previous() {
    let tabs = Repository::<Tab, _>::new(arc(InMemoryEventStore::new()));
    tabs.execute(open("t1", 7)).await.unwrap();
    let committed = tabs
        .execute(add("t1", &[("a", 3), ("b", 4), ("c", 5)]))
        .await
        .unwrap();
    let types: Vec<_> = committed
        .recorded
        .iter()
        .map(|e| e.event_type.to_string())
        .collect();
    assert_eq!(types, ["Added", "Added", "LimitReached"]);
    assert_eq!(committed.version, 4);
    let loaded = tabs.load("t1").await.unwrap();
    assert_eq!(
        (loaded.state.total, loaded.state.closed, loaded.version),
        (7, true, 4)
    );
    let refused = tabs.execute(add("t1", &[("d", 1)])).await.unwrap_err();
    assert!(matches!(
        refused,
        CommandError::Rejected(TabError::Closed { limit: 7 })
    ));
}

#[tokio::test]
async fn conflict_is_retried_on_a_fresh_load() {
    let store = arc(FaultyStore::racing(0));
    let tabs = Repository::<Tab, _>::new(store.clone());
    tabs.execute(open("t1", 100)).await.unwrap();
    store.races.store(2, Ordering::SeqCst);
    let committed = tabs.execute(add("t1", &[("mine", 10)])).await.unwrap();
    assert_eq!(committed.attempts, 3, "two conflicts, then success");
    assert_eq!(store.appends.load(Ordering::SeqCst), 4);
    let state = tabs.load("t1").await.unwrap().state;
    assert_eq!(
        state.items,
        ["competitor", "competitor", "mine"],
        "the decision ran on the reloaded state"
    );
}

#[tokio::test]
async fn conflict_retries_are_bounded_by_the_policy() {
    let store = arc(FaultyStore::racing(0));
    let tabs = Repository::<Tab, _>::new(store.clone()).with_retry(RetryPolicy::attempts(3));
    tabs.execute(open("t1", 100)).await.unwrap();
    store.races.store(u32::MAX, Ordering::SeqCst);
    match tabs.execute(add("t1", &[("x", 1)])).await {
        Err(CommandError::TooManyConflicts { attempts, last }) => {
            assert_eq!(attempts, 3);
            assert_eq!(last.stream, "Tab-t1");
            assert!(!CommandError::<TabError>::TooManyConflicts { attempts, last }.is_rejection());
        }
        other => panic!("expected TooManyConflicts, got {other:?}"),
    }
}

#[tokio::test]
async fn refusals_and_infrastructure_failures_are_distinct() {
    let store = arc(FaultyStore::default());
    let tabs = Repository::<Tab, _>::new(store.clone());
    let refused = tabs.execute(add("t1", &[("x", 1)])).await.unwrap_err();
    assert!(refused.is_rejection());
    assert_eq!(refused.rejection(), Some(&TabError::NotOpen));

    store.down.store(true, Ordering::SeqCst);
    let failed = tabs.execute(open("t1", 5)).await.unwrap_err();
    assert!(!failed.is_rejection());
    assert!(
        matches!(failed, CommandError::Store(StoreError::Unavailable { .. })),
        "got {failed:?}"
    );
    assert!(store.inner.is_empty(), "nothing written during the outage");

    store.down.store(false, Ordering::SeqCst);
    tabs.execute(open("t1", 5))
        .await
        .expect("works again once the store is back");
}

#[tokio::test]
async fn correlation_and_causation_flow_from_the_command_context() {
    let tabs = Repository::<Tab, _>::new(arc(InMemoryEventStore::new()));
    let ctx = CommandContext::new().with_header("user", "ada");
    let committed = tabs.execute_in(&ctx, open("t1", 5)).await.unwrap();
    let meta = &committed.recorded[0].metadata;
    assert_eq!(meta.correlation_id, Some(ctx.correlation_id));
    assert_eq!(meta.causation_id, Some(ctx.command_id));
    assert_eq!(meta.headers["user"], "ada");

    let reaction = CommandContext::caused_by(&committed.recorded[0]);
    let next = tabs
        .execute_in(&reaction, add("t1", &[("x", 1)]))
        .await
        .unwrap();
    assert_eq!(
        next.recorded[0].metadata.correlation_id,
        Some(ctx.correlation_id),
        "the correlation carries on"
    );
    assert_eq!(reaction.correlation_id, ctx.correlation_id);
}

#[tokio::test]
async fn snapshots_are_taken_by_policy_and_used_on_load() {
    let store = arc(InMemoryEventStore::new());
    let tabs =
        Repository::<Tab, _>::new(store.clone()).with_snapshots(SnapshotPolicy::EveryNEvents(3));
    tabs.execute(open("t1", 1000)).await.unwrap();
    tabs.execute(add("t1", &[("a", 1)])).await.unwrap();
    assert_eq!(
        store.load_snapshot("Tab-t1").await.unwrap(),
        None,
        "no snapshot before 3 events"
    );
    tabs.execute(add("t1", &[("b", 1), ("c", 1)]))
        .await
        .unwrap();
    let snapshot = store
        .load_snapshot("Tab-t1")
        .await
        .unwrap()
        .expect("snapshot after crossing 3");
    assert_eq!(snapshot.version, 4);

    // Prove the load starts from the snapshot: mark the stored state.
    let mut marked: Tab = snapshot.state.deserialize().unwrap();
    marked.items.push("from-snapshot".into());
    store
        .save_snapshot(Snapshot {
            state: JsonPayload::from_serialize(&marked).unwrap(),
            ..snapshot.clone()
        })
        .await
        .unwrap();
    tabs.execute(add("t1", &[("d", 1)])).await.unwrap();
    let loaded = tabs.load("t1").await.unwrap();
    assert_eq!(loaded.from_snapshot, Some(4));
    assert_eq!(loaded.version, 5);
    assert_eq!(
        loaded.state.items,
        ["a", "b", "c", "from-snapshot", "d"],
        "snapshot plus the tail"
    );
}

#[tokio::test]
async fn outdated_or_broken_snapshots_fall_back_to_a_full_replay() {
    let store = arc(InMemoryEventStore::new());
    let tabs =
        Repository::<Tab, _>::new(store.clone()).with_snapshots(SnapshotPolicy::EveryNEvents(2));
    tabs.execute(open("t1", 1000)).await.unwrap();
    tabs.execute(add("t1", &[("a", 1), ("b", 2)]))
        .await
        .unwrap();
    let good = store
        .load_snapshot("Tab-t1")
        .await
        .unwrap()
        .expect("snapshot");

    for broken in [
        Snapshot {
            schema_version: 99,
            state: JsonPayload::from_value(
                &json!({"open": true, "limit": 0, "total": 0, "items": ["stale"], "closed": false}),
            ),
            version: 10,
            ..good.clone()
        },
        Snapshot {
            state: JsonPayload::from_value(&json!({"unexpected": "shape"})),
            version: 11,
            ..good.clone()
        },
    ] {
        store.save_snapshot(broken).await.unwrap();
        let loaded = tabs.load("t1").await.unwrap();
        assert_eq!(
            loaded.from_snapshot, None,
            "an unusable snapshot is ignored"
        );
        assert_eq!(
            loaded.state.items,
            ["a", "b"],
            "full replay gives the right state"
        );
        assert_eq!(loaded.version, 3);
    }
}

#[tokio::test]
async fn upcaster_chains_apply_when_loading_an_aggregate() {
    let store = arc(InMemoryEventStore::new());
    let old = [
        NewEvent::raw(
            "Opened",
            1,
            JsonPayload::from_value(&json!({"type": "Opened", "max": 50})),
        ),
        NewEvent::raw(
            "Added",
            1,
            JsonPayload::from_value(&json!({"type": "Added", "name": "tea", "pence": 3})),
        ),
    ];
    store
        .append(
            "Tab-old",
            ExpectedVersion::NoStream,
            old.to_vec(),
            &Metadata::default(),
        )
        .await
        .unwrap();
    let upcasters = Upcasters::new()
        .register("Opened", 1, |mut v| {
            v["limit"] = v["max"].take();
            Ok(v)
        })
        .register("Added", 1, |mut v| {
            v["item"] = v["name"].take();
            Ok(v)
        })
        .register("Added", 2, |mut v| {
            v["cents"] = v["pence"].take();
            Ok(v)
        });
    let plain = Repository::<Tab, _>::new(store.clone());
    assert!(matches!(
        plain.load("old").await,
        Err(cqrs_core::LoadError::Decode(
            DecodeError::Deserialize { .. }
        ))
    ));
    let tabs = plain.with_upcasters(upcasters);
    let state = tabs.load("old").await.unwrap().state;
    assert_eq!(
        (state.limit, state.total, state.items),
        (50, 3, vec!["tea".to_owned()])
    );
}

#[tokio::test]
async fn an_unknown_stored_event_type_is_a_decode_error_naming_the_stream() {
    let store = arc(InMemoryEventStore::new());
    let tabs = Repository::<Tab, _>::new(store.clone());
    tabs.execute(open("t1", 5)).await.unwrap();
    let alien = NewEvent::raw("Teleported", 1, JsonPayload::from_value(&json!({})));
    store
        .append(
            "Tab-t1",
            ExpectedVersion::Exact(1),
            vec![alien],
            &Metadata::default(),
        )
        .await
        .unwrap();
    match tabs.execute(add("t1", &[("x", 1)])).await {
        Err(CommandError::Decode(DecodeError::UnknownEventType {
            stream,
            stream_version,
            event_type,
        })) => {
            assert_eq!(
                (stream.as_str(), stream_version, event_type.as_str()),
                ("Tab-t1", 2, "Teleported")
            );
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn cached_states_stay_correct_when_another_writer_moves_the_stream() {
    let store = arc(InMemoryEventStore::new());
    let cached = Repository::<Tab, _>::new(store.clone()).with_cache(100);
    let other = Repository::<Tab, _>::new(store.clone());
    cached.execute(open("t1", 10)).await.unwrap();
    other.execute(add("t1", &[("theirs", 6)])).await.unwrap();
    // The cached state says total 0; the append conflicts, the command reloads.
    let committed = cached.execute(add("t1", &[("mine", 4)])).await.unwrap();
    assert_eq!(committed.attempts, 2);
    assert_eq!(
        committed.events.len(),
        2,
        "decided on the fresh state: the limit is reached"
    );
    // A refusal decided on a stale cached state is re-decided on a fresh load.
    let shared = Arc::new(InMemoryEventStore::new());
    let cached = Repository::<Tab, _>::new(shared.clone()).with_cache(100);
    cached.execute(open("t2", 5)).await.unwrap();
    cached.execute(add("t2", &[("a", 5)])).await.unwrap(); // closed now
    let reopened = NewEvent::from_event(&TabEvent::Opened { limit: 50 }).unwrap();
    let appended = shared
        .append(
            "Tab-t2",
            ExpectedVersion::Any,
            vec![reopened],
            &Metadata::default(),
        )
        .await
        .unwrap();
    assert_eq!(appended.current_version, 4);
    // Tab::apply keeps `closed`, so the fresh state still refuses: the refusal stands,
    // but only after a fresh load (the error carries the fresh limit).
    let refused = cached.execute(add("t2", &[("b", 1)])).await.unwrap_err();
    assert_eq!(refused.rejection(), Some(&TabError::Closed { limit: 50 }));
}

#[tokio::test]
async fn aggregates_load_through_the_stores_lean_read() {
    let store = arc(FaultyStore::default());
    let tabs = Repository::<Tab, _>::new(store.clone());
    tabs.execute(open("t1", 5)).await.unwrap();
    tabs.load("t1").await.unwrap();
    assert_eq!(
        store.lean_loads.load(Ordering::SeqCst),
        2,
        "the pipeline must reach the store's own load_stream, also through Arc"
    );
}
