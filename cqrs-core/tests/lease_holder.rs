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

#[tokio::test(start_paused = true)]
async fn renewal_comes_due_a_renew_interval_after_the_last_renewal() {
    let store = Arc::new(InMemoryEventStore::new());
    let mut a = holder(&store, "a");
    assert_eq!(a.renewal_due_in(), None, "no lease, nothing to renew");
    a.try_take().await.unwrap().expect("free");
    let every = a.config().renew_every;
    assert_eq!(a.renewal_due_in(), Some(every));
    tokio::time::sleep(every / 4).await;
    assert_eq!(a.renewal_due_in(), Some(every - every / 4));
    tokio::time::sleep(every).await;
    assert_eq!(
        a.renewal_due_in(),
        Some(Duration::from_millis(10)),
        "overdue: due now, with the 10 ms floor"
    );
    a.keep().await.unwrap().expect("renewed");
    assert_eq!(a.renewal_due_in(), Some(every), "counted from the renewal");
}

/// Leases whose renewals fail (the database unreachable) once `failing` is set.
struct FlakyRenewals {
    inner: Arc<InMemoryEventStore>,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl LeaseStore for FlakyRenewals {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<cqrs_core::lease::Lease>, cqrs_core::StoreError> {
        self.inner.acquire(name, holder, ttl).await
    }
    async fn renew(&self, lease: &cqrs_core::lease::Lease) -> Result<bool, cqrs_core::StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(cqrs_core::StoreError::Unavailable {
                operation: "renew_lease",
                source: "database unreachable".into(),
            });
        }
        self.inner.renew(lease).await
    }
    async fn release(&self, lease: &cqrs_core::lease::Lease) -> Result<(), cqrs_core::StoreError> {
        self.inner.release(lease).await
    }
    async fn live_leases(
        &self,
        prefix: &str,
    ) -> Result<Vec<cqrs_core::lease::LiveLease>, cqrs_core::StoreError> {
        self.inner.live_leases(prefix).await
    }
    async fn save_checkpoint_fenced(
        &self,
        checkpoint: &str,
        position: u64,
        lease: &cqrs_core::lease::Lease,
    ) -> Result<FencedWrite, cqrs_core::StoreError> {
        self.inner
            .save_checkpoint_fenced(checkpoint, position, lease)
            .await
    }
}

#[tokio::test(start_paused = true)]
async fn failed_renewals_keep_the_lease_until_its_ttl_then_give_it_up() {
    let leases = Arc::new(FlakyRenewals {
        inner: Arc::new(InMemoryEventStore::new()),
        failing: false.into(),
    });
    let config = LeaseConfig::with_ttl(Duration::from_secs(3));
    let mut a = LeaseHolder::new(leases.clone(), "relay", "a", config);
    a.try_take().await.unwrap().expect("free");
    leases
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let started = Instant::now();
    // Within the ttl: each failed renewal is an error, but the lease is still held.
    while started.elapsed() + config.renew_every < config.ttl {
        tokio::time::sleep(config.renew_every).await;
        assert!(a.keep().await.is_err(), "the renewal did not fail");
        assert_eq!(a.role(), LeaseRole::Leader, "given up before its ttl");
    }
    // Past the ttl since the last good renewal: assumed lost (another may hold it now).
    tokio::time::sleep(config.ttl).await;
    assert!(a.keep().await.is_err());
    assert_eq!(a.role(), LeaseRole::Standby, "kept past its ttl");
    assert!(a.current().is_none());
}
