//! The core runner's sharded projections on the in-memory store with tokio's clock
//! paused: 4 shards shared by 1, 2 and 3 instances as they join and leave gracefully,
//! each event applied once by the shard that owns its stream, in stream order; a killed
//! instance's shards move to the others after the ttl; more instances than shards leave
//! the extra ones idle; an in-memory projection cannot be sharded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::lease::LeaseConfig;
use cqrs_core::projection::shard::{shard_of, RunningShards, Shard, ShardedRunner};
use cqrs_core::{
    EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent, Persistence,
    Projection, RecordedEvent, RunnerConfig,
};
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(3);

/// One durable read model shared by every instance: who applied which event, in order.
type Applied = Arc<Mutex<Vec<(Shard, String, u64)>>>;

#[derive(Debug)]
struct Recorder {
    applied: Applied,
    shard: Shard,
    durable: bool,
    /// Refuses the event at this position for good (a poison event in this instance).
    refuse: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("refused position {0}")]
struct Refused(u64);

#[async_trait]
impl Projection for Recorder {
    type Error = Refused;
    fn name(&self) -> &str {
        "recorder"
    }
    fn persistence(&self) -> Persistence {
        if self.durable {
            Persistence::Durable
        } else {
            Persistence::InMemory
        }
    }
    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
        if self.refuse == Some(event.position) {
            return Err(Refused(event.position));
        }
        self.applied.lock().unwrap().push((
            self.shard,
            event.stream_id.to_string(),
            event.position,
        ));
        Ok(())
    }
}

fn instance(
    store: &Arc<InMemoryEventStore>,
    applied: &Applied,
    holder: &str,
) -> RunningShards<Recorder> {
    refusing(store, applied, holder, None)
}

fn refusing(
    store: &Arc<InMemoryEventStore>,
    applied: &Applied,
    holder: &str,
    refuse: Option<u64>,
) -> RunningShards<Recorder> {
    let applied = applied.clone();
    ShardedRunner::projection(store.clone(), store.clone(), 4, move |shard| Recorder {
        applied: applied.clone(),
        shard,
        durable: true,
        refuse,
    })
    .with_config(RunnerConfig {
        batch_size: 7,
        idle_poll: Duration::from_millis(100),
        ..RunnerConfig::default()
    })
    .with_lease_config(LeaseConfig::with_ttl(TTL))
    .with_lease_holder(holder)
    .spawn()
}

async fn append(store: &InMemoryEventStore, from: u64, count: u64) {
    for n in from..from + count {
        let event = NewEvent::raw("Ticked", 1, JsonPayload::parse("{}").unwrap());
        store
            .append(
                &format!("Clock-{}", n % 13),
                ExpectedVersion::Any,
                vec![event],
                &Metadata::default(),
            )
            .await
            .unwrap();
    }
}

/// Waits (tokio's clock) until `done`, at most `within`.
async fn until(what: &str, within: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

fn led(instances: &[&RunningShards<Recorder>]) -> Vec<usize> {
    instances.iter().map(|i| i.led().len()).collect()
}

/// Settled: every instance sees the same members and leads exactly the shards assigned
/// to it, and every shard is led once.
fn every_shard_once(instances: &[&RunningShards<Recorder>]) -> bool {
    let mut all: Vec<u32> = instances.iter().flat_map(|i| i.led()).collect();
    all.sort_unstable();
    let views: Vec<_> = instances
        .iter()
        .map(|i| i.membership().progress())
        .collect();
    all == [0, 1, 2, 3]
        && views
            .iter()
            .all(|v| v.members == views[0].members && v.members.len() == instances.len())
        && instances
            .iter()
            .zip(&views)
            .all(|(i, v)| i.led() == v.assigned)
}

async fn caught_up(store: &InMemoryEventStore, instances: &[&RunningShards<Recorder>]) {
    let head = store.head_position().await.unwrap();
    until("every led shard caught up", Duration::from_secs(30), || {
        instances.iter().all(|i| {
            i.led()
                .iter()
                .all(|&s| i.shards()[s as usize].progress().checkpoint >= head)
        })
    })
    .await;
}

/// Each event once, by the shard owning its stream, each stream in log order.
fn assert_applied_once(applied: &Applied, events: u64) {
    let applied = applied.lock().unwrap();
    let mut positions: Vec<u64> = applied.iter().map(|(_, _, p)| *p).collect();
    positions.sort_unstable();
    assert_eq!(
        positions,
        (1..=events).collect::<Vec<_>>(),
        "each event once"
    );
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for (shard, stream, position) in applied.iter() {
        assert_eq!(
            shard.index,
            shard_of(stream, 4),
            "{stream} applied by {shard}"
        );
        let before = last.insert(stream, *position).unwrap_or(0);
        assert!(*position > before, "{stream}: {position} after {before}");
    }
}

#[tokio::test(start_paused = true)]
async fn instances_joining_and_leaving_share_four_shards_and_apply_each_event_once() {
    let store = Arc::new(InMemoryEventStore::new());
    let applied = Applied::default();
    append(&store, 0, 100).await;

    let a = instance(&store, &applied, "a");
    until("a alone leads all 4", Duration::from_secs(10), || {
        led(&[&a]) == [4]
    })
    .await;
    caught_up(&store, &[&a]).await;

    let b = instance(&store, &applied, "b");
    until("a and b lead 2 each", Duration::from_secs(10), || {
        every_shard_once(&[&a, &b]) && led(&[&a, &b]) == [2, 2]
    })
    .await;
    append(&store, 100, 100).await;
    caught_up(&store, &[&a, &b]).await;

    let c = instance(&store, &applied, "c");
    until(
        "a, b and c share them 2 + 1 + 1",
        Duration::from_secs(10),
        || every_shard_once(&[&a, &b, &c]) && led(&[&a, &b, &c]) == [2, 1, 1],
    )
    .await;
    append(&store, 200, 100).await;
    caught_up(&store, &[&a, &b, &c]).await;

    // b leaves gracefully: its shards move without waiting for the ttl.
    b.shutdown().await.unwrap();
    let moved = until("a and c lead 2 each", Duration::from_secs(10), || {
        every_shard_once(&[&a, &c]) && led(&[&a, &c]) == [2, 2]
    })
    .await;
    assert!(moved < TTL, "a graceful leave waited {moved:?}");
    append(&store, 300, 100).await;
    caught_up(&store, &[&a, &c]).await;
    a.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
    assert_applied_once(&applied, 400);
}

#[tokio::test(start_paused = true)]
async fn a_killed_instances_shards_move_after_the_ttl() {
    let store = Arc::new(InMemoryEventStore::new());
    let applied = Applied::default();
    append(&store, 0, 50).await;
    let a = instance(&store, &applied, "a");
    let b = instance(&store, &applied, "b");
    until("a and b lead 2 each", Duration::from_secs(10), || {
        every_shard_once(&[&a, &b]) && led(&[&a, &b]) == [2, 2]
    })
    .await;
    caught_up(&store, &[&a, &b]).await;
    b.abort();
    let moved = until("a leads all 4", Duration::from_secs(20), || {
        led(&[&a]) == [4]
    })
    .await;
    let config = LeaseConfig::with_ttl(TTL);
    // Its leases were renewed at most `renew_every` before the kill.
    assert!(
        moved >= config.ttl - config.renew_every,
        "b's shards moved before its lease could expire: {moved:?}"
    );
    assert!(
        moved <= config.ttl + config.renew_every + config.retry_every + Duration::from_millis(100),
        "b's shards moved only after {moved:?}"
    );
    append(&store, 50, 50).await;
    caught_up(&store, &[&a]).await;
    a.shutdown().await.unwrap();
    // At least once (the core runner): b may have applied a batch it never checkpointed.
    let applied = applied.lock().unwrap();
    let mut positions: Vec<u64> = applied.iter().map(|(_, _, p)| *p).collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(positions, (1..=100).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn more_instances_than_shards_leave_the_extra_ones_idle() {
    let store = Arc::new(InMemoryEventStore::new());
    let applied = Applied::default();
    let instances: Vec<_> = (0..6)
        .map(|i| instance(&store, &applied, &format!("m{i}")))
        .collect();
    let refs: Vec<&RunningShards<Recorder>> = instances.iter().collect();
    until(
        "four instances lead one shard each",
        Duration::from_secs(10),
        || {
            let mut counts = led(&refs);
            counts.sort_unstable();
            every_shard_once(&refs) && counts == [0, 0, 1, 1, 1, 1]
        },
    )
    .await;
    let membership = instances[0].membership().progress();
    assert_eq!(membership.members.len(), 6);
    for instance in instances {
        instance.shutdown().await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn an_in_memory_projection_cannot_be_sharded() {
    let store = Arc::new(InMemoryEventStore::new());
    let running = ShardedRunner::projection(store.clone(), store.clone(), 2, |shard| Recorder {
        applied: Applied::default(),
        shard,
        durable: false,
        refuse: None,
    })
    .spawn();
    let error = running.shutdown().await.unwrap_err();
    assert!(error.to_string().contains("in-memory"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn an_instance_whose_shard_stops_for_good_leaves_and_the_others_take_its_shards() {
    let store = Arc::new(InMemoryEventStore::new());
    let applied = Applied::default();
    let b = instance(&store, &applied, "b");
    // `a` sorts first and gets shard 0 among two; it refuses an event of that shard.
    let refused = (1..)
        .find(|&n| shard_of(&format!("Clock-{}", (n - 1) % 13), 4) == 0)
        .unwrap();
    let a = refusing(&store, &applied, "a", Some(refused));
    until("a and b lead 2 each", Duration::from_secs(10), || {
        every_shard_once(&[&a, &b]) && led(&[&a, &b]) == [2, 2]
    })
    .await;
    append(&store, 0, 60).await;
    let left = tokio::time::timeout(Duration::from_secs(30), a.membership().state().stopped())
        .await
        .expect("a's membership did not end after its shard stopped");
    assert!(
        matches!(&left, cqrs_core::worker::WorkerState::Failed(reason) if reason.contains("shard 0")),
        "{left:?}"
    );
    until("b leads all 4", Duration::from_secs(10), || {
        led(&[&b]) == [4]
    })
    .await;
    caught_up(&store, &[&b]).await;
    b.shutdown().await.unwrap();
    let mut positions: Vec<u64> = applied.lock().unwrap().iter().map(|(_, _, p)| *p).collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions,
        (1..=60).collect::<Vec<_>>(),
        "b applied what a refused"
    );
    drop(a);
}
