//! Repeats of one command id that race: the execution that did not see the other's events
//! (its up-front lookup came too early) still reports the stored outcome, whole, whether
//! it decided fewer or more events than were stored.

mod support;

use std::sync::atomic::Ordering;

use cqrs_core::{CommandContext, EventStore, Repository};
use support::*;
use uuid::Uuid;

/// An execution of one command id stores `stored` items; a second execution of the same
/// id, whose lookup of earlier executions finds nothing (the first had not committed
/// when it looked), decides `decided` items.
async fn racing_repeat(stored: usize, decided: usize) {
    let store = arc(FaultyStore::default());
    let tabs = Repository::<Tab, _>::new(store.clone());
    tabs.execute(open("t1", 1_000)).await.expect("open");
    let context = CommandContext::new().with_command_id(Uuid::now_v7());
    let items = |n: usize, name: &str| -> Vec<(String, u32)> {
        (0..n).map(|i| (format!("{name}{i}"), 1)).collect()
    };
    let first = tabs
        .execute_in(
            &context,
            TabCommand::Add {
                id: "t1".into(),
                items: items(stored, "first"),
            },
        )
        .await
        .expect("the first execution is accepted");

    store.blind_lookups.store(1, Ordering::SeqCst);
    let repeat = tabs
        .execute_in(
            &context,
            TabCommand::Add {
                id: "t1".into(),
                items: items(decided, "second"),
            },
        )
        .await
        .expect("the repeat reports the stored outcome");
    assert_eq!(
        store.blind_lookups.load(Ordering::SeqCst),
        0,
        "the repeat's up-front lookup was blind"
    );
    assert!(repeat.replayed, "stored {stored}, decided {decided}");
    assert_eq!(
        repeat.events, first.events,
        "stored {stored}, decided {decided}"
    );
    assert_eq!(repeat.recorded, first.recorded);
    assert_eq!(repeat.version, first.version);
    let stream = store.read_stream("Tab-t1", 1).await.expect("read");
    assert_eq!(
        stream.len(),
        1 + stored,
        "nothing of the repeat was written"
    );
}

#[tokio::test]
async fn a_racing_repeat_that_decides_more_events_reports_the_stored_batch() {
    racing_repeat(1, 3).await;
}

#[tokio::test]
async fn a_racing_repeat_that_decides_fewer_events_reports_the_whole_stored_batch() {
    racing_repeat(3, 1).await;
}

#[tokio::test]
async fn a_racing_repeat_of_the_same_batch_reports_it() {
    racing_repeat(2, 2).await;
}

#[tokio::test]
async fn a_repeat_finds_a_batch_longer_than_one_lookup_page() {
    // 150 events: more than the 64 derived ids one lookup asks for.
    let store = arc(FaultyStore::default());
    let tabs = Repository::<Tab, _>::new(store.clone());
    tabs.execute(open("t1", 1_000)).await.expect("open");
    let context = CommandContext::new().with_command_id(Uuid::now_v7());
    let items: Vec<(String, u32)> = (0..150).map(|i| (format!("i{i}"), 1)).collect();
    let first = tabs
        .execute_in(
            &context,
            TabCommand::Add {
                id: "t1".into(),
                items: items.clone(),
            },
        )
        .await
        .expect("accepted");
    tabs.execute(add("t1", &[("later", 1)]))
        .await
        .expect("later");
    let repeat = tabs
        .execute_in(
            &context,
            TabCommand::Add {
                id: "t1".into(),
                items,
            },
        )
        .await
        .expect("replayed");
    assert!(repeat.replayed);
    assert_eq!(repeat.events.len(), 150);
    assert_eq!(repeat.recorded, first.recorded);
}
