//! LeaseHolder on the in-memory store, with tokio's clock paused: standby, failover within
//! the bound, release, and a deposed holder standing by.

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::lease::{FencedWrite, LeaseConfig, LeaseStore};
use cqrs_core::worker::{LeaseHolder, LeaseRole};
use cqrs_core::InMemoryEventStore;
use tokio::sync::watch;
use tokio::time::Instant;

fn holder(store: &Arc<InMemoryEventStore>, who: &str) -> LeaseHolder {
    LeaseHolder::new(
        store.clone(),
        "projection",
        who,
        LeaseConfig::with_ttl(Duration::from_secs(3)),
    )
}

#[tokio::test(start_paused = true)]
async fn a_standby_takes_over_within_the_bound_when_the_holder_stops_renewing() {
    let store = Arc::new(InMemoryEventStore::new());
    let (_stop_tx, mut stop) = watch::channel(false);
    let mut a = holder(&store, "a");
    let first = a.hold(&mut stop).await.unwrap().unwrap().clone();
    let mut b = holder(&store, "b");
    let bound = b.failover_bound();
    // "a" dies now: it never renews again.
    let died = Instant::now();
    let taken = b.hold(&mut stop).await.unwrap().unwrap().clone();
    let waited = died.elapsed();
    assert!(taken.token > first.token);
    assert!(
        waited >= Duration::from_secs(3) && waited <= bound,
        "took over after {waited:?}, bound {bound:?}"
    );
    assert_eq!(b.role(), LeaseRole::Leader);
    assert_eq!(
        store
            .save_checkpoint_fenced("projection", 1, &first)
            .await
            .unwrap(),
        FencedWrite::Deposed
    );
}

#[tokio::test(start_paused = true)]
async fn a_live_holder_keeps_its_lease_and_the_standby_waits() {
    let store = Arc::new(InMemoryEventStore::new());
    let (stop_tx, mut stop) = watch::channel(false);
    let mut a = holder(&store, "a");
    a.hold(&mut stop).await.unwrap().unwrap();
    let b_store = store.clone();
    let (b_stop_tx, mut b_stop) = watch::channel(false);
    let standby = tokio::spawn(async move {
        let mut b = holder(&b_store, "b");
        let held = b.hold(&mut b_stop).await.unwrap().cloned();
        (held, b.role())
    });
    // "a" works for 30 s, holding on between batches.
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            a.hold(&mut stop).await.unwrap().is_some(),
            "a lost its lease"
        );
    }
    b_stop_tx.send(true).unwrap();
    let (held, role) = standby.await.unwrap();
    assert_eq!(held, None, "the standby took a lease that was renewed");
    assert_eq!(role, LeaseRole::Standby);
    drop(stop_tx);
}

#[tokio::test(start_paused = true)]
async fn a_released_lease_passes_at_the_next_retry() {
    let store = Arc::new(InMemoryEventStore::new());
    let (_stop_tx, mut stop) = watch::channel(false);
    let mut a = holder(&store, "a");
    a.hold(&mut stop).await.unwrap().unwrap();
    a.release().await;
    assert_eq!(a.role(), LeaseRole::Standby);
    let started = Instant::now();
    let mut b = holder(&store, "b");
    b.hold(&mut stop).await.unwrap().unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "a released lease is free at once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_deposed_holder_stands_by_at_its_next_hold() {
    let store = Arc::new(InMemoryEventStore::new());
    let (stop_tx, mut stop) = watch::channel(false);
    let mut a = holder(&store, "a");
    a.hold(&mut stop).await.unwrap().unwrap();
    // "a" is paused past its ttl; "b" takes over meanwhile and keeps working.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let b_store = store.clone();
    let mut b_stop = stop.clone();
    let b_works = tokio::spawn(async move {
        let mut b = holder(&b_store, "b");
        while !*b_stop.borrow() && b.hold(&mut b_stop).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    // "a" wakes up: its renewal fails, so it stands by (here until stopped) while "b" works.
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        stop_tx.send(true).unwrap();
    });
    assert!(a.hold(&mut stop).await.unwrap().is_none());
    assert_eq!(a.role(), LeaseRole::Standby);
    stopper.await.unwrap();
    b_works.await.unwrap();
}
