//! Two relays with the same name over one PostgreSQL store (each with its own pool): one
//! publishes, the other stands by; when the holder is killed mid-stream the standby takes
//! over within the lease's ttl plus one retry, resumes from the stored checkpoint, and the
//! only duplicates on Kafka are the events the dead holder had published past it.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cqrs_core::lease::{LeaseConfig, LeaseStore};
use cqrs_core::worker::LeaseRole;
use cqrs_core::EventStore;
use cqrs_kafka::{EventRelay, KafkaConfig, RelayConfig};

const EVENTS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_relay_takes_over_a_killed_holder_with_bounded_duplicates() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let Some(pg) = support::postgres::schema().await else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let (prefix, topics) = support::publish::category_topics("replicas");
    support::create_topics(&kafka, &topics).await;
    let seed = pg.store().await.expect("connect");
    let appended = support::append_events(&seed, 50, EVENTS).await;
    let config = RelayConfig {
        batch_size: 250,
        max_in_flight: 1_000,
        checkpoint_interval: Duration::from_millis(20),
        ..support::publish::relay_config(&prefix)
    };
    // PostgreSQL's log positions are not counts: compare with the appended events' own.
    let last = appended.last().expect("events").position;
    let after_2000 = appended[2_000].position;
    let lease = LeaseConfig::with_ttl(Duration::from_secs(2));
    let replica = |store: Arc<cqrs_postgres::PgEventStore>| {
        EventRelay::new(store.clone(), kafka.clone())
            .with_config(config.clone())
            .with_lease(store, lease)
            .spawn()
    };

    let first = replica(Arc::new(pg.store().await.expect("connect")));
    first
        .wait_for(Duration::from_secs(10), |p| p.role == LeaseRole::Leader)
        .await
        .expect("the first relay takes the lease");
    let second = replica(Arc::new(pg.store().await.expect("connect")));

    // Sample the stored checkpoint throughout, from a third pool.
    let sampling = Arc::new(AtomicBool::new(true));
    let samples = Arc::new(Mutex::new(Vec::<u64>::new()));
    let sampler = tokio::spawn({
        let (sampling, samples) = (sampling.clone(), samples.clone());
        let reader = pg.store().await.expect("connect");
        async move {
            while sampling.load(Ordering::Relaxed) {
                let checkpoint = reader.load_checkpoint("kafka-relay").await.unwrap();
                samples.lock().unwrap().push(checkpoint.unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    // Kill the holder once it checkpointed some events and has more in flight.
    let mut watch = first.watch();
    tokio::time::timeout(
        Duration::from_secs(60),
        watch.wait_for(|p| p.checkpoint >= after_2000 && p.sent_position > p.acked_position),
    )
    .await
    .expect("the holder makes progress")
    .expect("progress watch");
    assert_eq!(
        second.progress().role,
        LeaseRole::Standby,
        "one relay publishes at a time"
    );
    assert_eq!(
        second.progress().sent_position,
        0,
        "the standby sent nothing"
    );
    first.abort();
    let killed_at = Instant::now();
    // The task is gone once its progress sender is: what it reported last is final.
    tokio::time::timeout(Duration::from_secs(5), async {
        while watch.changed().await.is_ok() {}
    })
    .await
    .expect("the killed relay's task ends");
    let at_kill = watch.borrow().clone();
    let checkpoint = seed
        .load_checkpoint("kafka-relay")
        .await
        .unwrap()
        .unwrap_or(0);
    assert!(
        checkpoint < last,
        "killed mid-stream (checkpoint {checkpoint}, progress {at_kill:?})"
    );

    second
        .wait_for(Duration::from_secs(10), |p| p.role == LeaseRole::Leader)
        .await
        .expect("the standby takes over");
    let takeover = killed_at.elapsed();
    let bound = lease.ttl + lease.retry_every;
    second
        .wait_for_position(last, Duration::from_secs(120))
        .await
        .expect("the new holder publishes the rest");
    second.shutdown().await.expect("clean shutdown");
    sampling.store(false, Ordering::Relaxed);
    sampler.await.expect("sampler");

    let received = support::read_topics(
        &kafka,
        &topics,
        EVENTS,
        Duration::from_secs(3),
        Duration::from_secs(120),
    )
    .await;
    let copies = support::copies_by_event_id(&received);
    let mut duplicated = 0;
    for event in &appended {
        let count = copies
            .get(event.event_id.to_string().as_str())
            .copied()
            .unwrap_or(0);
        assert!(count >= 1, "event at position {} was lost", event.position);
        assert!(
            count <= 2,
            "position {} published {count} times",
            event.position
        );
        if count > 1 {
            duplicated += 1;
            assert!(
                event.position > checkpoint,
                "position {} duplicated although checkpointed ({checkpoint})",
                event.position
            );
        }
    }
    // The documented bound: what the dead holder had acknowledged past its stored
    // checkpoint, plus its in-flight window.
    let acked_unsaved = appended
        .iter()
        .filter(|e| e.position > checkpoint && e.position <= at_kill.acked_position)
        .count();
    let duplicate_bound = acked_unsaved + config.max_in_flight;
    assert!(
        duplicated <= duplicate_bound,
        "{duplicated} duplicates, bound {duplicate_bound} (checkpoint {checkpoint}, {at_kill:?})"
    );
    let samples = samples.lock().unwrap().clone();
    assert!(
        samples.windows(2).all(|w| w[0] <= w[1]),
        "the checkpoint moved backwards: {samples:?}"
    );
    assert!(
        takeover <= bound + Duration::from_millis(500),
        "took over after {takeover:?}, bound {bound:?}"
    );
    println!(
        "failover: took over {takeover:?} after the kill (bound ttl + retry = {bound:?}); \
         checkpoint at kill {checkpoint}, holder {at_kill:?}; {duplicated} events duplicated \
         (bound {duplicate_bound}); {} checkpoint samples, never decreasing",
        samples.len()
    );
    pg.drop().await;
}

/// A lease store whose renewals report success without reaching the database, as a holder
/// paused past its lease's expiry believes it still holds it.
struct UnawareLeases {
    inner: Arc<cqrs_postgres::PgEventStore>,
    paused: AtomicBool,
}

#[async_trait::async_trait]
impl LeaseStore for UnawareLeases {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<cqrs_core::lease::Lease>, cqrs_core::StoreError> {
        self.inner.acquire(name, holder, ttl).await
    }

    async fn renew(&self, lease: &cqrs_core::lease::Lease) -> Result<bool, cqrs_core::StoreError> {
        if self.paused.load(Ordering::SeqCst) {
            return Ok(true);
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
    ) -> Result<cqrs_core::lease::FencedWrite, cqrs_core::StoreError> {
        self.inner
            .save_checkpoint_fenced(checkpoint, position, lease)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_deposed_while_paused_cannot_move_the_checkpoint() {
    let Some(brokers) = support::broker() else {
        return;
    };
    let Some(pg) = support::postgres::schema().await else {
        return;
    };
    let kafka = KafkaConfig::new(brokers);
    let (prefix, topics) = support::publish::category_topics("deposed");
    support::create_topics(&kafka, &topics).await;
    let store = Arc::new(pg.store().await.expect("connect"));
    let first = support::append_events(&*store, 10, 500).await;
    let leases = Arc::new(UnawareLeases {
        inner: store.clone(),
        paused: AtomicBool::new(false),
    });
    let lease = LeaseConfig::with_ttl(Duration::from_secs(1));
    let relay = EventRelay::new(store.clone(), kafka.clone())
        .with_config(RelayConfig {
            checkpoint_interval: Duration::from_millis(10),
            ..support::publish::relay_config(&prefix)
        })
        .with_lease(leases.clone(), lease)
        .spawn();
    relay
        .wait_for_position(
            first.last().expect("events").position,
            Duration::from_secs(30),
        )
        .await
        .expect("the relay publishes while it holds the lease");

    // The relay's lease expires while it believes it renews it; another instance takes it.
    leases.paused.store(true, Ordering::SeqCst);
    let intruder = loop {
        if let Some(lease) = store
            .acquire("kafka-relay", "other-replica", Duration::from_secs(60))
            .await
            .unwrap()
        {
            break lease;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let at_takeover = store.load_checkpoint("kafka-relay").await.unwrap();

    // New events: the deposed relay may send some before its fenced write is refused, but
    // it cannot checkpoint them, and then it stops publishing and stands by.
    support::append_events(&*store, 10, 500).await;
    relay
        .wait_for(Duration::from_secs(10), |p| p.role == LeaseRole::Standby)
        .await
        .expect("the deposed relay stands by");
    let stopped_at = relay.progress().sent_position;
    support::append_events(&*store, 10, 100).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        store.load_checkpoint("kafka-relay").await.unwrap(),
        at_takeover,
        "a deposed relay moved the checkpoint"
    );
    assert_eq!(
        relay.progress().sent_position,
        stopped_at,
        "a standby publishes nothing"
    );
    assert_eq!(relay.progress().role, LeaseRole::Standby);
    store.release(&intruder).await.unwrap();
    relay.shutdown().await.expect("shutdown");
    pg.drop().await;
}

/// No broker needed: an idle relay sends nothing.
#[tokio::test]
async fn idle_relay_keeps_its_lease_and_releases_it_on_shutdown() {
    let store = Arc::new(cqrs_core::InMemoryEventStore::new());
    let ttl = Duration::from_millis(300);
    let relay = EventRelay::new(store.clone(), KafkaConfig::new("127.0.0.1:1"))
        .with_config(RelayConfig {
            // Far longer than the lease: the idle wait must still wake up to renew.
            idle_poll: Duration::from_secs(10),
            ..RelayConfig::default()
        })
        .with_lease_holder("pod-0") // before `with_lease`: either order works
        .with_lease(store.clone(), LeaseConfig::with_ttl(ttl))
        .spawn();
    relay
        .wait_for(Duration::from_secs(5), |p| p.role == LeaseRole::Leader)
        .await
        .expect("the relay takes its lease");
    let live = store.live_leases("kafka-relay").await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(
        &*live[0].holder, "pod-0",
        "the relay took its lease as the holder given"
    );
    for _ in 0..10 {
        tokio::time::sleep(ttl / 2).await;
        assert!(
            store
                .acquire("kafka-relay", "other-replica", ttl)
                .await
                .unwrap()
                .is_none(),
            "an idle relay let its lease expire"
        );
    }
    relay.shutdown().await.expect("shutdown");
    assert!(
        store
            .acquire("kafka-relay", "other-replica", ttl)
            .await
            .unwrap()
            .is_some(),
        "a graceful shutdown releases the lease at once"
    );
}
