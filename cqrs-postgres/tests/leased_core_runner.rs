//! The core (at-least-once) ProjectionRunner under a lease kept by PostgreSQL: an aborted
//! leader is replaced within ttl + retry and the new one resumes from the stored
//! checkpoint; a deposed runner's checkpoint write is refused.

mod leased_runners_models;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_core::lease::LeaseConfig;
use cqrs_core::worker::LeaseRole;
use cqrs_core::{
    EventStore, ExpectedVersion, Metadata, ProjectionRunner, RunnerConfig, RunningProjection,
};
use cqrs_postgres::PgEventStore;
use leased_runners_models::{Applied, Gate, PoolApplied};
use serde_json::json;
use support::event;

const LEASE: Duration = Duration::from_secs(1);

async fn append(store: &PgEventStore, n: usize) -> Vec<u64> {
    let events = (0..n).map(|i| event("Ticked", json!({ "n": i }))).collect();
    let appended = store
        .append("S-1", ExpectedVersion::Any, events, &Metadata::default())
        .await
        .unwrap();
    appended.events.iter().map(|e| e.position).collect()
}

fn start(store: &PgEventStore, model: PoolApplied, holder: &str) -> RunningProjection<PoolApplied> {
    let store = Arc::new(store.clone());
    ProjectionRunner::new(store.clone(), model)
        .with_config(RunnerConfig {
            batch_size: 10,
            ..RunnerConfig::default()
        })
        .with_lease(store, LeaseConfig::with_ttl(LEASE))
        .with_lease_holder(holder)
        .spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_leader_is_replaced_within_the_bound_and_the_standby_resumes() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    let schema = store.config().schema.quoted();
    let model = PoolApplied {
        model: Applied::create(&db.pool, &schema, "core").await,
        pool: db.pool.clone(),
    };
    let first = append(&store, 25).await;
    let a = start(&store, model.clone(), "a");
    a.wait_for_position(first[24], Duration::from_secs(10))
        .await
        .unwrap();
    let b = start(&store, model.clone(), "b");
    tokio::time::sleep(LEASE * 2).await;
    assert_eq!(b.progress().role, LeaseRole::Standby);
    assert_eq!(a.progress().role, LeaseRole::Leader);

    let died = Instant::now();
    a.abort();
    b.wait_for(LEASE * 3, |p| p.role == LeaseRole::Leader)
        .await
        .unwrap();
    let failover = died.elapsed();
    eprintln!("core runner failover with ttl {LEASE:?}: {failover:?}");
    assert!(failover <= LEASE + LEASE / 3 + Duration::from_millis(500));
    let second = append(&store, 5).await;
    b.wait_for_position(second[4], Duration::from_secs(10))
        .await
        .unwrap();
    // b resumed from a's checkpoint: nothing a had stored was applied again.
    let rows = model.model.rows(&db.pool).await;
    assert_eq!(rows.len(), 30);
    assert!(rows.iter().all(|(_, times)| *times == 1), "{rows:?}");
    b.shutdown().await.unwrap();
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_core_runner_cannot_store_its_checkpoint() {
    let Some(db) = support::database().await else {
        return;
    };
    let store = db.store().await;
    let schema = store.config().schema.quoted();
    let applied = Applied::create(&db.pool, &schema, "core").await;
    let positions = append(&store, 10).await;
    let model = |gate| PoolApplied {
        model: applied.clone().gated(gate),
        pool: db.pool.clone(),
    };
    let a_gate = Gate::at(positions[4]);
    let a = start(&store, model(a_gate.clone()), "a");
    a_gate.reached.notified().await;
    // a is paused mid-batch past its ttl; b takes over and is paused mid-batch too.
    let b_gate = Gate::at(positions[6]);
    let b = start(&store, model(b_gate.clone()), "b");
    b_gate.reached.notified().await;
    assert_eq!(b.progress().role, LeaseRole::Leader);

    a_gate.open.notify_one();
    a.wait_for(Duration::from_secs(10), |p| p.role == LeaseRole::Standby)
        .await
        .expect("a learns it was deposed");
    // a's write of the batch's checkpoint was refused.
    assert_eq!(store.load_checkpoint("core").await.unwrap(), None);
    assert_eq!(a.progress().checkpoint, 0);

    b_gate.open.notify_one();
    b.wait_for_position(positions[9], Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        store.load_checkpoint("core").await.unwrap(),
        Some(positions[9])
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    db.cleanup().await;
}
