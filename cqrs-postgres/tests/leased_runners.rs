//! TransactionalRunner replicas under a lease on PostgreSQL: three instances with separate
//! pools on one projection while 2,000 events are appended; exactly one works at a time,
//! a mid-stream loss of the leader's connections changes nothing, an aborted leader is
//! replaced within ttl + retry (the failover time is printed), the checkpoint never moves
//! backwards, and the read model equals a single-runner replay. A deposed instance (paused
//! past its ttl in the middle of a batch) cannot commit that batch.

mod leased_runners_models;
mod support;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_core::lease::LeaseConfig;
use cqrs_core::worker::{LeaseRole, WorkerStateWatch};
use cqrs_core::{EventStore, ExpectedVersion, Metadata, ProjectionProgress, RunnerConfig};
use cqrs_postgres::sqlx::postgres::PgConnectOptions;
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, PoolConfig, TransactionalRunner};
use leased_runners_models::{Applied, Gate};
use serde_json::json;
use support::{event, TestDb};
use tokio::sync::watch;

const EVENTS: u64 = 2_000;

/// A replica: its own pool, tagged with `application_name` so its backends can be found.
async fn replica_store(db: &TestDb, base: &PgEventStore, app: &str) -> PgEventStore {
    let options = PgConnectOptions::from_str(&db.url)
        .unwrap()
        .application_name(app);
    let config = PgEventStoreConfig {
        pool: PoolConfig {
            max_connections: 4,
            ..PoolConfig::default()
        },
        ..PgEventStoreConfig::new(base.config().schema.clone())
    };
    let store = PgEventStore::connect_with(options, config).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn runner(
    store: PgEventStore,
    model: Applied,
    holder: &str,
    lease: LeaseConfig,
) -> cqrs_core::RunningProjection<Applied> {
    TransactionalRunner::new(Arc::new(store), model)
        .with_config(RunnerConfig {
            batch_size: 50,
            idle_poll: Duration::from_millis(200),
            ..RunnerConfig::default()
        })
        .with_lease(lease)
        .with_lease_holder(holder)
        .spawn()
}

/// What a sampler watches of one replica.
struct Probe {
    progress: watch::Receiver<ProjectionProgress>,
    state: WorkerStateWatch,
}

/// Samples every 10 ms: how many live replicas report Leader (never two; none only while a
/// failover is under way), and the stored checkpoint (never backwards).
struct Sampler {
    stop: Arc<AtomicBool>,
    failing_over: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

impl Sampler {
    fn start(store: PgEventStore, name: String, probes: Vec<Probe>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let failing_over = Arc::new(AtomicBool::new(false));
        let (stop_flag, failover_flag) = (stop.clone(), failing_over.clone());
        let task = tokio::spawn(async move {
            let (mut samples, mut last_checkpoint) = (0, 0);
            while !stop_flag.load(Ordering::SeqCst) {
                let excused = failover_flag.load(Ordering::SeqCst);
                let leaders = probes
                    .iter()
                    .filter(|p| !p.state.current().is_stopped())
                    .filter(|p| p.progress.borrow().role == LeaseRole::Leader)
                    .count();
                assert!(leaders <= 1, "{leaders} replicas report Leader at once");
                // Read again: the failover may have ended while the roles were read.
                let excused = excused || failover_flag.load(Ordering::SeqCst);
                assert!(
                    leaders == 1 || excused,
                    "no replica reports Leader outside a failover"
                );
                let checkpoint = store.load_checkpoint(&name).await.unwrap().unwrap_or(0);
                assert!(
                    checkpoint >= last_checkpoint,
                    "the checkpoint moved back from {last_checkpoint} to {checkpoint}"
                );
                last_checkpoint = checkpoint;
                samples += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (samples, last_checkpoint)
        });
        Self {
            stop,
            failing_over,
            task,
        }
    }

    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("sampler assertions")
    }
}

fn leader(probes: &[cqrs_core::RunningProjection<Applied>]) -> Option<usize> {
    probes
        .iter()
        .position(|r| !r.state().current().is_stopped() && r.progress().role == LeaseRole::Leader)
}

async fn until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Three replicas over `EVENTS` events appended every `pace`; returns the failover time.
async fn three_replicas(lease: LeaseConfig, pace: Duration) -> Option<Duration> {
    let db = support::database().await?;
    let base = db.store().await;
    let schema = base.config().schema.quoted();
    let model = Applied::create(&db.pool, &schema, "leased").await;
    let apps: Vec<String> = (0..3)
        .map(|i| format!("lease-{}-{i}", &base.config().schema.as_str()[2..12]))
        .collect();
    let mut running = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let store = replica_store(&db, &base, app).await;
        running.push(runner(store, model.clone(), &format!("r{i}"), lease));
    }
    until("a first leader", Duration::from_secs(30), || {
        leader(&running).is_some()
    })
    .await;
    let probes = running
        .iter()
        .map(|r| Probe {
            progress: r.watch(),
            state: r.state(),
        })
        .collect();
    let sampler = Sampler::start(base.clone(), "leased".into(), probes);

    let appended = Arc::new(AtomicU64::new(0));
    let appender = {
        let (store, appended) = (base.clone(), appended.clone());
        tokio::spawn(async move {
            for i in 0..EVENTS / 10 {
                let events = (0..10)
                    .map(|n| event("Ticked", json!({ "n": n })))
                    .collect();
                let stream = format!("S-{}", i % 10);
                store
                    .append(&stream, ExpectedVersion::Any, events, &Metadata::default())
                    .await
                    .unwrap();
                appended.fetch_add(10, Ordering::SeqCst);
                tokio::time::sleep(pace).await;
            }
        })
    };

    // The leader's connections are terminated mid-stream: it reconnects and goes on.
    let checkpoint_at =
        |r: &[cqrs_core::RunningProjection<Applied>], i: usize| r[i].progress().checkpoint;
    let first = leader(&running).unwrap();
    until("300 events applied", Duration::from_secs(60), || {
        checkpoint_at(&running, first) >= 300
    })
    .await;
    let terminated: Vec<(bool,)> = cqrs_postgres::sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&apps[first])
    .fetch_all(&db.pool)
    .await
    .unwrap();
    eprintln!(
        "terminated {} backend(s) of leader r{first}",
        terminated.len()
    );
    // The leader itself goes on: its next lease renewal and checkpoint retry on a fresh
    // connection instead of losing the lease to a standby.
    until(
        "the leader's progress after its connections were terminated",
        Duration::from_secs(60),
        || checkpoint_at(&running, first) >= 900,
    )
    .await;
    assert_eq!(
        leader(&running),
        Some(first),
        "the leader lost its lease to its terminated connections"
    );

    // The leader is aborted (a crash, mid-batch or between batches): another takes over.
    let doomed = running.remove(leader(&running).expect("a leader"));
    sampler.failing_over.store(true, Ordering::SeqCst);
    let died = Instant::now();
    doomed.abort();
    let bound = lease.ttl + lease.retry_every;
    until("a new leader", bound + Duration::from_secs(2), || {
        leader(&running).is_some()
    })
    .await;
    let failover = died.elapsed();
    sampler.failing_over.store(false, Ordering::SeqCst);
    eprintln!(
        "failover with ttl {:?}: {failover:?} (bound {bound:?})",
        lease.ttl
    );
    assert!(
        failover <= bound + Duration::from_millis(500),
        "{failover:?}"
    );

    appender.await.unwrap();
    let new_leader = leader(&running).unwrap();
    let head = base.head_position().await.unwrap();
    running[new_leader]
        .wait_for_position(head, Duration::from_secs(60))
        .await
        .unwrap();
    let (samples, last) = sampler.finish().await;
    eprintln!("{samples} samples, checkpoint {last} of {head}");
    for r in running {
        r.shutdown().await.unwrap();
    }

    let rows = model.rows(&db.pool).await;
    assert_eq!(rows.len() as u64, EVENTS);
    assert!(
        rows.iter().all(|(_, times)| *times == 1),
        "an event applied twice"
    );
    let replay = Applied::create(&db.pool, &schema, "replay").await;
    TransactionalRunner::new(Arc::new(base.clone()), replay.clone())
        .catch_up()
        .await
        .unwrap();
    assert_eq!(rows, replay.rows(&db.pool).await);
    db.cleanup().await;
    Some(failover)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_with_a_short_ttl_fail_over_and_apply_each_event_once() {
    three_replicas(
        LeaseConfig::with_ttl(Duration::from_secs(1)),
        Duration::from_millis(10),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_with_the_default_ttl_fail_over_and_apply_each_event_once() {
    three_replicas(LeaseConfig::default(), Duration::from_millis(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_replica_cannot_commit_its_batch_or_move_the_checkpoint() {
    let Some(db) = support::database().await else {
        return;
    };
    let base = db.store().await;
    let schema = base.config().schema.quoted();
    let model = Applied::create(&db.pool, &schema, "fenced").await;
    let events = (0..30)
        .map(|n| event("Ticked", json!({ "n": n })))
        .collect();
    let positions: Vec<u64> = base
        .append("S-1", ExpectedVersion::Any, events, &Metadata::default())
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| e.position)
        .collect();
    let lease = LeaseConfig::with_ttl(Duration::from_secs(1));
    let gate = Gate::at(positions[4]);
    let a_store = replica_store(&db, &base, "fenced-a").await;
    let a = TransactionalRunner::new(Arc::new(a_store), model.clone().gated(gate.clone()))
        .with_config(RunnerConfig {
            batch_size: 10,
            ..RunnerConfig::default()
        })
        .with_lease(lease)
        .with_lease_holder("a")
        .spawn();
    gate.reached.notified().await;
    // a is paused in the middle of its first batch (1..=10) past its ttl; b takes over.
    let b_store = replica_store(&db, &base, "fenced-b").await;
    let b = runner(b_store, model.clone(), "b", lease);
    b.wait_for(Duration::from_secs(10), |p| p.role == LeaseRole::Leader)
        .await
        .unwrap();
    // b's batch waits for a's transaction (the checkpoint's row lock); a resumes, finds
    // the lease taken, and rolls back.
    gate.open.notify_one();
    a.wait_for(Duration::from_secs(10), |p| p.role == LeaseRole::Standby)
        .await
        .expect("a learns it was deposed");
    b.wait_for_position(positions[29], Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(a.progress().checkpoint, 0, "a committed a batch");
    assert_eq!(
        base.load_checkpoint("fenced").await.unwrap(),
        Some(positions[29])
    );
    let rows = model.rows(&db.pool).await;
    assert_eq!(rows.len(), 30);
    assert!(
        rows.iter().all(|(_, times)| *times == 1),
        "a's rolled-back batch shows in the read model: {rows:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(a.progress().role, LeaseRole::Standby);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    db.cleanup().await;
}
