//! The lease contract: every guarantee of [`LeaseStore`], against a real store. Uses the
//! store's own clock through short leases (a few hundred milliseconds).

use std::sync::Arc;
use std::time::Duration;

use crate::lease::{FencedWrite, LeaseStore};
use crate::EventStore;

const TTL: Duration = Duration::from_millis(400);
/// Longer than [`TTL`], with room for a slow round trip.
const PAST_EXPIRY: Duration = Duration::from_millis(700);

fn name(case: &str) -> String {
    format!("{case}-{}", uuid::Uuid::new_v4().simple())
}

pub(crate) async fn one_holder_at_a_time_and_reacquiring_keeps_the_token<S: LeaseStore>(
    store: &Arc<S>,
) {
    let name = name("exclusive");
    let a = store.acquire(&name, "a", TTL).await.unwrap().expect("free");
    assert!(
        store.acquire(&name, "b", TTL).await.unwrap().is_none(),
        "a valid lease was taken by another holder"
    );
    let again = store.acquire(&name, "a", TTL).await.unwrap().expect("own");
    assert_eq!(
        again.token, a.token,
        "renewing by acquire changed the token"
    );
    assert!(store.renew(&a).await.unwrap(), "the holder could not renew");
}

pub(crate) async fn renewing_extends_the_lease_by_its_ttl<S: LeaseStore>(store: &Arc<S>) {
    let name = name("renewal");
    let a = store.acquire(&name, "a", TTL).await.unwrap().expect("free");
    tokio::time::sleep(TTL * 3 / 5).await;
    assert!(store.renew(&a).await.unwrap(), "the holder could not renew");
    // Past the first expiry, within the renewed one.
    tokio::time::sleep(TTL * 3 / 5).await;
    assert!(
        store.acquire(&name, "b", TTL).await.unwrap().is_none(),
        "the renewal did not extend the lease"
    );
    tokio::time::sleep(PAST_EXPIRY).await;
    assert!(
        store.acquire(&name, "b", TTL).await.unwrap().is_some(),
        "the renewed lease never expired"
    );
}

pub(crate) async fn an_expired_lease_passes_on_with_a_greater_token_and_fences_the_old<
    S: LeaseStore + EventStore,
>(
    store: &Arc<S>,
) {
    let name = name("expiry");
    let a = store.acquire(&name, "a", TTL).await.unwrap().expect("free");
    assert_eq!(
        store.save_checkpoint_fenced(&name, 5, &a).await.unwrap(),
        FencedWrite::Written
    );
    tokio::time::sleep(PAST_EXPIRY).await;
    let b = store
        .acquire(&name, "b", TTL)
        .await
        .unwrap()
        .expect("expired");
    assert!(b.token > a.token, "token {} after {}", b.token, a.token);
    assert!(!store.renew(&a).await.unwrap(), "a deposed holder renewed");
    for position in [3, 9] {
        assert_eq!(
            store
                .save_checkpoint_fenced(&name, position, &a)
                .await
                .unwrap(),
            FencedWrite::Deposed,
            "a deposed holder wrote checkpoint {position}"
        );
    }
    assert_eq!(store.load_checkpoint(&name).await.unwrap(), Some(5));
    assert_eq!(
        store.save_checkpoint_fenced(&name, 7, &b).await.unwrap(),
        FencedWrite::Written
    );
    assert_eq!(store.load_checkpoint(&name).await.unwrap(), Some(7));
}

pub(crate) async fn a_released_lease_is_free_at_once<S: LeaseStore>(store: &Arc<S>) {
    let name = name("release");
    let a = store
        .acquire(&name, "a", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("free");
    store.release(&a).await.unwrap();
    let b = store
        .acquire(&name, "b", TTL)
        .await
        .unwrap()
        .expect("released");
    assert!(b.token > a.token);
    // Releasing a lease one no longer holds changes nothing.
    store.release(&a).await.unwrap();
    assert!(store.acquire(&name, "c", TTL).await.unwrap().is_none());
    assert!(store.renew(&b).await.unwrap());
}

pub(crate) async fn fenced_checkpoints_never_move_backwards<S: LeaseStore + EventStore>(
    store: &Arc<S>,
) {
    let name = name("monotonic");
    let a = store.acquire(&name, "a", TTL).await.unwrap().expect("free");
    for position in [10, 4, 12, 0] {
        assert_eq!(
            store
                .save_checkpoint_fenced(&name, position, &a)
                .await
                .unwrap(),
            FencedWrite::Written
        );
    }
    assert_eq!(store.load_checkpoint(&name).await.unwrap(), Some(12));
}

pub(crate) async fn concurrent_acquires_elect_one_holder<S: LeaseStore>(store: &Arc<S>) {
    let name: Arc<str> = name("race").into();
    let attempts = (0..8).map(|i| {
        let (store, name) = (store.clone(), name.clone());
        tokio::spawn(async move { store.acquire(&name, &format!("h{i}"), TTL).await })
    });
    let mut holders = 0;
    for attempt in attempts {
        if attempt.await.unwrap().unwrap().is_some() {
            holders += 1;
        }
    }
    assert_eq!(holders, 1, "concurrent acquires elected {holders} holders");
}

pub(crate) async fn live_leases_lists_the_valid_leases_of_a_prefix<S: LeaseStore>(store: &Arc<S>) {
    let prefix = name("live");
    let long = Duration::from_secs(60);
    let b = store
        .acquire(&format!("{prefix}/b"), "hb", long)
        .await
        .unwrap()
        .expect("free");
    store
        .acquire(&format!("{prefix}/a"), "ha", long)
        .await
        .unwrap()
        .expect("free");
    let short = store
        .acquire(&format!("{prefix}/c"), "hc", TTL)
        .await
        .unwrap()
        .expect("free");
    let released = store
        .acquire(&format!("{prefix}/d"), "hd", long)
        .await
        .unwrap()
        .expect("free");
    store.release(&released).await.unwrap();
    // Same beginning, other prefix: `{prefix}x` does not start with `{prefix}/`.
    store
        .acquire(&format!("{prefix}x"), "hx", long)
        .await
        .unwrap()
        .expect("free");
    tokio::time::sleep(PAST_EXPIRY).await;
    let live = store.live_leases(&format!("{prefix}/")).await.unwrap();
    let listed: Vec<(String, String)> = live
        .iter()
        .map(|l| (l.name.to_string(), l.holder.to_string()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (format!("{prefix}/a"), "ha".to_owned()),
            (format!("{prefix}/b"), "hb".to_owned()),
        ],
        "expired ({}) or released leases were listed, or valid ones missed",
        short.name
    );
    assert_eq!(live[1].token, b.token);
    // Characters that mean something in a pattern are plain text in a prefix.
    assert!(store
        .live_leases(&format!("{prefix}/.*"))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .live_leases("%")
        .await
        .unwrap()
        .iter()
        .all(|l| l.name.starts_with('%')));
}
