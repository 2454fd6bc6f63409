//! A transactional projection in 4 shards on PostgreSQL, run by 2, then 3, then 2
//! instances (one killed), then 1 (one shut down), each with its own pool, while events
//! are appended: the shards are shared out evenly at every step, no shard is ever run by
//! two live instances at once, every shard's checkpoint only moves forwards, and in the
//! end every event was applied exactly once, each stream's events in log order.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cqrs_core::lease::LeaseConfig;
use cqrs_core::projection::shard::{RunningShards, ShardedRunner};
use cqrs_core::worker::LeaseRole;
use cqrs_core::{EventStore, ExpectedVersion, Metadata, RecordedEvent, RunnerConfig};
use cqrs_postgres::sqlx::{self, PgConnection, PgPool};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, PoolConfig, TransactionalProjection};
use serde_json::json;
use support::{event, TestDb};

const SHARDS: u32 = 4;
const STREAMS: u64 = 40;

/// One row per applied event (`times` counts applications) and a log of the order they
/// were applied in, both written in the batch's transaction.
#[derive(Clone)]
struct Applied {
    schema: String,
}

#[async_trait]
impl TransactionalProjection<PgConnection> for Applied {
    type Error = sqlx::Error;
    fn name(&self) -> &str {
        "sharded-totals"
    }
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        connection: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "INSERT INTO {0}.applied (position, stream, times) VALUES ($1, $2, 1)
             ON CONFLICT (position) DO UPDATE SET times = {0}.applied.times + 1",
            self.schema
        ))
        .bind(event.position as i64)
        .bind(&*event.stream_id)
        .execute(&mut *connection)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {}.apply_order (stream, position) VALUES ($1, $2)",
            self.schema
        ))
        .bind(&*event.stream_id)
        .bind(event.position as i64)
        .execute(&mut *connection)
        .await?;
        Ok(())
    }
    async fn reset(&mut self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(&format!(
            "TRUNCATE {0}.applied, {0}.apply_order",
            self.schema
        ))
        .execute(&mut *connection)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO {}.resets DEFAULT VALUES",
            self.schema
        ))
        .execute(&mut *connection)
        .await?;
        Ok(())
    }
}

fn lease() -> LeaseConfig {
    LeaseConfig::with_ttl(Duration::from_secs(2))
}

/// An instance with its own pool.
async fn instance(
    db: &TestDb,
    base: &PgEventStore,
    schema: &str,
    holder: &str,
) -> RunningShards<Applied> {
    let config = PgEventStoreConfig {
        pool: PoolConfig {
            max_connections: 6,
            ..PoolConfig::default()
        },
        ..PgEventStoreConfig::new(base.config().schema.clone())
    };
    let store = Arc::new(db.own_pool_store(config).await);
    let model = Applied {
        schema: schema.to_owned(),
    };
    ShardedRunner::transactional(store, SHARDS, |_| model.clone())
        .with_config(RunnerConfig {
            batch_size: 25,
            idle_poll: Duration::from_millis(200),
            ..RunnerConfig::default()
        })
        .with_lease_config(lease())
        .with_lease_holder(holder)
        .spawn()
}

async fn until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

/// The shards each live instance leads, e.g. `[[0, 2], [1, 3]]`.
fn led(instances: &[&RunningShards<Applied>]) -> Vec<Vec<u32>> {
    instances.iter().map(|i| i.led()).collect()
}

/// Settled: every shard led by exactly one instance, each instance leading `sizes`
/// shards (sorted), exactly the ones assigned to it, and every instance seeing the same
/// members, all of them.
fn shared_out(instances: &[&RunningShards<Applied>], sizes: &[usize]) -> bool {
    let led = led(instances);
    let mut all: Vec<u32> = led.iter().flatten().copied().collect();
    all.sort_unstable();
    let mut counts: Vec<usize> = led.iter().map(Vec::len).collect();
    counts.sort_unstable();
    let views: Vec<_> = instances
        .iter()
        .map(|i| i.membership().progress())
        .collect();
    all == (0..SHARDS).collect::<Vec<_>>()
        && counts == sizes
        && views
            .iter()
            .all(|v| v.members == views[0].members && v.members.len() == instances.len())
        && led
            .iter()
            .zip(&views)
            .all(|(led, view)| *led == view.assigned)
}

/// Samples every 10 ms: no shard led by two live instances in two samples running (the
/// roles are read one instance after the other, so a handover between two reads can look
/// like two leaders once), no shard checkpoint backwards.
fn sample(
    instances: Arc<std::sync::Mutex<Vec<Arc<RunningShards<Applied>>>>>,
    store: PgEventStore,
    names: Vec<String>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut last = vec![0u64; names.len()];
        let mut doubled = vec![false; SHARDS as usize];
        let mut samples = 0;
        while !stop.load(Ordering::SeqCst) {
            let live = instances.lock().unwrap().clone();
            for (shard, doubled) in doubled.iter_mut().enumerate() {
                let leaders = live
                    .iter()
                    .filter(|i| i.shards()[shard].progress().role == LeaseRole::Leader)
                    .count();
                assert!(
                    leaders <= 1 || !*doubled,
                    "shard {shard} led by {leaders} instances in two samples running"
                );
                *doubled = leaders > 1;
            }
            for (i, name) in names.iter().enumerate() {
                let checkpoint = store.load_checkpoint(name).await.unwrap().unwrap_or(0);
                assert!(
                    checkpoint >= last[i],
                    "{name} moved back from {} to {checkpoint}",
                    last[i]
                );
                last[i] = checkpoint;
            }
            samples += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        samples
    })
}

/// The instance once the sampler dropped its last copy (it clones the live list each turn).
async fn only(mut instance: Arc<RunningShards<Applied>>) -> RunningShards<Applied> {
    loop {
        match Arc::try_unwrap(instance) {
            Ok(instance) => return instance,
            Err(shared) => instance = shared,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn append(store: &PgEventStore, from: u64, count: u64, pace: Duration) {
    for n in from..from + count {
        let stream = format!("Account-{}", n % STREAMS);
        store
            .append(
                &stream,
                ExpectedVersion::Any,
                vec![event("Deposited", json!({ "n": n }))],
                &Metadata::default(),
            )
            .await
            .unwrap();
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
}

async fn create_tables(pool: &PgPool, schema: &str) {
    for sql in [
        format!("CREATE TABLE {schema}.applied (position bigint PRIMARY KEY, stream text NOT NULL, times int NOT NULL)"),
        format!("CREATE TABLE {schema}.apply_order (seq bigserial PRIMARY KEY, stream text NOT NULL, position bigint NOT NULL)"),
        format!("CREATE TABLE {schema}.resets (at timestamptz NOT NULL DEFAULT now())"),
    ] {
        sqlx::query(&sql).execute(pool).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_shards_are_shared_by_two_then_three_instances_and_every_event_applies_once() {
    let Some(db) = support::database().await else {
        return;
    };
    let base = db.store().await;
    let schema = base.config().schema.quoted();
    create_tables(&db.pool, &schema).await;
    append(&base, 0, 400, Duration::ZERO).await;
    let names: Vec<String> =
        ShardedRunner::transactional(Arc::new(base.clone()), SHARDS, |_| Applied {
            schema: schema.clone(),
        })
        .shard_names();

    let a = Arc::new(instance(&db, &base, &schema, "instance-a").await);
    let b = Arc::new(instance(&db, &base, &schema, "instance-b").await);
    let live = Arc::new(std::sync::Mutex::new(vec![a.clone(), b.clone()]));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample(live.clone(), base.clone(), names.clone(), stop.clone());

    until(
        "two instances sharing 4 shards 2 + 2",
        Duration::from_secs(30),
        || shared_out(&[&a, &b], &[2, 2]),
    )
    .await;
    eprintln!("2 instances: {:?}", led(&[&a, &b]));

    // Events keep coming while instances join, die and leave.
    let appender = {
        let store = base.clone();
        tokio::spawn(async move { append(&store, 400, 1_200, Duration::from_millis(4)).await })
    };

    let c = Arc::new(instance(&db, &base, &schema, "instance-c").await);
    live.lock().unwrap().push(c.clone());
    let joined = until(
        "three instances sharing 4 shards 2 + 1 + 1",
        Duration::from_secs(30),
        || shared_out(&[&a, &b, &c], &[1, 1, 2]),
    )
    .await;
    eprintln!(
        "3 instances: {:?}, rebalanced {joined:?} after c started",
        led(&[&a, &b, &c])
    );

    // b dies: nothing is released; its registration and leases expire.
    live.lock().unwrap().retain(|i| !Arc::ptr_eq(i, &b));
    let b = only(b).await;
    b.abort();
    let failover = until(
        "a and c sharing 4 shards 2 + 2 after b died",
        Duration::from_secs(30),
        || shared_out(&[&a, &c], &[2, 2]),
    )
    .await;
    eprintln!(
        "b killed: {:?} after {failover:?} (ttl {:?})",
        led(&[&a, &c]),
        lease().ttl
    );
    assert!(
        failover < Duration::from_secs(8),
        "b's shards moved only after {failover:?}"
    );

    // c leaves gracefully: a takes everything at once.
    live.lock().unwrap().retain(|i| !Arc::ptr_eq(i, &c));
    let c = only(c).await;
    let left = Instant::now();
    c.shutdown().await.unwrap();
    let handover = until(
        "a leading all 4 shards after c left",
        Duration::from_secs(30),
        || shared_out(&[&a], &[4]),
    )
    .await;
    eprintln!(
        "c shut down: a leads {:?} {:?} after c's shutdown began",
        a.led(),
        left.elapsed()
    );
    assert!(
        handover < lease().ttl,
        "a graceful leave waited for the ttl: {handover:?}"
    );

    appender.await.unwrap();
    let head = base.head_position().await.unwrap();
    for shard in a.shards() {
        shard
            .wait_for_position(head, Duration::from_secs(60))
            .await
            .unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.await.expect("sampler assertions");
    live.lock().unwrap().clear();
    only(a).await.shutdown().await.unwrap();

    let rows: Vec<(i64, String, i32)> = sqlx::query_as(&format!(
        "SELECT position, stream, times FROM {schema}.applied ORDER BY position"
    ))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let log = base.read_all(1, 10_000).await.unwrap();
    assert_eq!(
        rows.len(),
        log.len(),
        "events applied: {} of {}",
        rows.len(),
        log.len()
    );
    for ((position, stream, times), event) in rows.iter().zip(&log) {
        assert_eq!(
            (*position as u64, stream.as_str()),
            (event.position, &*event.stream_id)
        );
        assert_eq!(*times, 1, "event {position} applied {times} times");
    }
    let order: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT stream, position FROM {schema}.apply_order ORDER BY seq"
    ))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut last_of: BTreeMap<String, i64> = BTreeMap::new();
    for (stream, position) in order {
        let last = last_of.insert(stream.clone(), position).unwrap_or(0);
        assert!(position > last, "{stream}: {position} applied after {last}");
    }
    eprintln!(
        "{} events over {STREAMS} streams applied once each, in stream order; {samples} samples",
        log.len()
    );
    db.cleanup().await;
}

#[tokio::test]
async fn a_rebuild_resets_the_read_model_once_and_every_shard_replays() {
    let Some(db) = support::database().await else {
        return;
    };
    let base = db.store().await;
    let schema = base.config().schema.quoted();
    create_tables(&db.pool, &schema).await;
    append(&base, 0, 100, Duration::ZERO).await;
    let store = Arc::new(base.clone());
    let model = Applied {
        schema: schema.clone(),
    };
    let running = ShardedRunner::transactional(store.clone(), SHARDS, |_| model.clone())
        .with_lease_config(lease())
        .spawn();
    let head = base.head_position().await.unwrap();
    until(
        "one instance leading every shard",
        Duration::from_secs(30),
        || running.led().len() == 4,
    )
    .await;
    for shard in running.shards() {
        shard
            .wait_for_position(head, Duration::from_secs(30))
            .await
            .unwrap();
    }
    running.shutdown().await.unwrap();

    let mut sharded = ShardedRunner::transactional(store.clone(), SHARDS, |_| model.clone());
    sharded.rebuild().await.unwrap();
    for name in sharded.shard_names() {
        assert_eq!(
            base.load_checkpoint(&name).await.unwrap(),
            Some(0),
            "{name}"
        );
    }
    let count: (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {schema}.applied"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count.0, 0, "the rebuild left rows");
    let resets: (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM {schema}.resets"))
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        resets.0, 1,
        "the read model was reset once per shard, not once"
    );

    let running = sharded.with_lease_config(lease()).spawn();
    for shard in running.shards() {
        shard
            .wait_for_position(head, Duration::from_secs(30))
            .await
            .unwrap();
    }
    running.shutdown().await.unwrap();
    let rows: Vec<(i32,)> = sqlx::query_as(&format!("SELECT times FROM {schema}.applied"))
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 100);
    assert!(
        rows.iter().all(|(times,)| *times == 1),
        "a replayed event applied twice"
    );
    db.cleanup().await;
}
