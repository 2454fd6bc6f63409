//! The core ProjectionRunner under a lease, on the in-memory store with tokio's clock
//! paused: one replica works, a standby takes over within the bound and resumes from the
//! stored checkpoint, a deposed runner's checkpoint write is refused, a graceful stop hands
//! the lease over at once, and an in-memory projection refuses a lease.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::lease::{LeaseConfig, LeaseStore};
use cqrs_core::worker::{LeaseRole, ShutdownError};
use cqrs_core::{
    EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent, Persistence,
    Projection, ProjectionRunner, RecordedEvent, RunnerConfig, RunnerError, RunningProjection,
};
use tokio::sync::Notify;
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(3);

/// Holds a runner inside `apply` of one position until released: a pause (GC, a stalled
/// host) in the middle of a batch.
#[derive(Default)]
struct Gate {
    at: Option<u64>,
    reached: Notify,
    open: Notify,
}

/// Records the positions it applied (shared by every replica: one durable read model).
#[derive(Clone)]
struct Recorder {
    seen: Arc<Mutex<Vec<(char, u64)>>>,
    replica: char,
    durable: bool,
    gate: Arc<Gate>,
}

impl Recorder {
    fn replica(seen: &Arc<Mutex<Vec<(char, u64)>>>, replica: char) -> Self {
        Self {
            seen: seen.clone(),
            replica,
            durable: true,
            gate: Arc::default(),
        }
    }

    fn paused_at(mut self, position: u64) -> Self {
        self.gate = Arc::new(Gate {
            at: Some(position),
            ..Gate::default()
        });
        self
    }
}

#[async_trait]
impl Projection for Recorder {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "recorder"
    }
    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
        if self.gate.at == Some(event.position) {
            self.gate.reached.notify_one();
            self.gate.open.notified().await;
        }
        self.seen
            .lock()
            .unwrap()
            .push((self.replica, event.position));
        Ok(())
    }
    fn persistence(&self) -> Persistence {
        if self.durable {
            Persistence::Durable
        } else {
            Persistence::InMemory
        }
    }
}

async fn append(store: &InMemoryEventStore, n: usize) {
    for i in 0..n {
        let event = NewEvent::raw("Ticked", 1, JsonPayload::parse("{}").unwrap());
        store
            .append(
                &format!("S-{}", i % 3),
                ExpectedVersion::Any,
                vec![event],
                &Metadata::default(),
            )
            .await
            .unwrap();
    }
}

fn start(store: &Arc<InMemoryEventStore>, projection: Recorder) -> RunningProjection<Recorder> {
    let holder = projection.replica.to_string();
    ProjectionRunner::new(store.clone(), projection)
        .with_config(RunnerConfig {
            batch_size: 10,
            // Far beyond the lease's ttl: an idle leader must still wake up to renew.
            idle_poll: Duration::from_secs(60),
            ..RunnerConfig::default()
        })
        // The holder first: either order works.
        .with_lease_holder(holder)
        .with_lease(store.clone(), LeaseConfig::with_ttl(TTL))
        .spawn()
}

async fn leader(running: &RunningProjection<Recorder>) {
    running
        .wait_for(Duration::from_secs(60), |p| p.role == LeaseRole::Leader)
        .await
        .expect("becomes the leader");
}

#[tokio::test(start_paused = true)]
async fn a_standby_takes_over_within_the_bound_and_resumes_from_the_stored_checkpoint() {
    let store = Arc::new(InMemoryEventStore::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    append(&store, 25).await;
    let a = start(&store, Recorder::replica(&seen, 'a'));
    leader(&a).await;
    let live = store.live_leases("recorder").await.unwrap();
    assert_eq!(
        live.iter().map(|l| &*l.holder).collect::<Vec<_>>(),
        ["a"],
        "the lease is held under the holder given before with_lease"
    );
    a.wait_for_position(25, Duration::from_secs(5))
        .await
        .unwrap();
    let b = start(&store, Recorder::replica(&seen, 'b'));
    // b stands by while a renews: a full minute of it.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(b.progress().role, LeaseRole::Standby);
    assert_eq!(a.progress().role, LeaseRole::Leader);
    append(&store, 5).await;
    a.wait_for_position(30, Duration::from_secs(5))
        .await
        .unwrap();

    let died = Instant::now();
    a.abort(); // a crash: the lease is not released
    leader(&b).await;
    let failover = died.elapsed();
    assert!(
        failover <= TTL + TTL / 3,
        "failover took {failover:?}, bound {:?}",
        TTL + TTL / 3
    );
    append(&store, 5).await;
    b.wait_for_position(35, Duration::from_secs(5))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let by_b: Vec<u64> = seen
        .iter()
        .filter(|(r, _)| *r == 'b')
        .map(|s| s.1)
        .collect();
    // b resumed after the checkpoint a stored, not from its own start.
    assert_eq!(by_b, (31..=35).collect::<Vec<_>>(), "{seen:?}");
    assert_eq!(store.load_checkpoint("recorder").await.unwrap(), Some(35));
    b.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_deposed_runner_cannot_store_its_checkpoint_and_stands_by() {
    let store = Arc::new(InMemoryEventStore::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    append(&store, 10).await;
    let a_model = Recorder::replica(&seen, 'a').paused_at(5);
    let a_gate = a_model.gate.clone();
    let a = start(&store, a_model);
    a_gate.reached.notified().await;
    // a is paused mid-batch, past its ttl; b takes over and is paused mid-batch too.
    let b_model = Recorder::replica(&seen, 'b').paused_at(7);
    let b_gate = b_model.gate.clone();
    let b = start(&store, b_model);
    b_gate.reached.notified().await;
    assert_eq!(b.progress().role, LeaseRole::Leader);

    a_gate.open.notify_one();
    a.wait_for(Duration::from_secs(5), |p| p.role == LeaseRole::Standby)
        .await
        .expect("a learns it was deposed");
    // a's write of checkpoint 10 was refused.
    assert_eq!(store.load_checkpoint("recorder").await.unwrap(), None);
    assert_eq!(a.progress().checkpoint, 0);

    b_gate.open.notify_one();
    b.wait_for_position(10, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(store.load_checkpoint("recorder").await.unwrap(), Some(10));
    // a stays a standby while b renews.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(a.progress().role, LeaseRole::Standby);
    assert_eq!(a.progress().checkpoint, 0);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_graceful_shutdown_hands_the_lease_over_at_the_next_retry() {
    let store = Arc::new(InMemoryEventStore::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let a = start(&store, Recorder::replica(&seen, 'a'));
    leader(&a).await;
    let b = start(&store, Recorder::replica(&seen, 'b'));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let stopped = Instant::now();
    a.shutdown().await.unwrap();
    leader(&b).await;
    let handed_over = stopped.elapsed();
    assert!(
        handed_over <= TTL / 3,
        "took {handed_over:?}: the lease was not released"
    );
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_in_memory_projection_refuses_a_lease() {
    let store = Arc::new(InMemoryEventStore::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut projection = Recorder::replica(&seen, 'a');
    projection.durable = false;
    let running = start(&store, projection);
    let stopped = running.shutdown().await;
    assert!(
        matches!(
            &stopped,
            Err(ShutdownError::Failed(RunnerError::LeaseOnInMemory { projection })) if projection == "recorder"
        ),
        "{:?}",
        stopped.err()
    );
}
