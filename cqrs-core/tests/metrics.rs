//! The metrics the command pipeline and the projection runner record, read back from a
//! Prometheus recorder installed for this test binary: each figure is what the run
//! implies (the conflicts forced, the events appended, the lag going to 0).

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::testing::scraped;
use cqrs_core::{
    CommandError, EventStore, ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent,
    Persistence, Projection, ProjectionRunner, RecordedEvent, Repository, RetryPolicy,
    RunnerConfig,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use support::*;
use tokio::sync::Semaphore;

fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("the only recorder of this test binary")
    })
}

fn value(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scraped(&prometheus().render(), name, labels)
}

#[tokio::test]
async fn commands_record_their_outcome_conflicts_loads_and_appends() {
    prometheus();
    // Every one of the first three appends meets a competing write.
    let store = Arc::new(FaultyStore::racing(3));
    let tabs = Repository::<Tab, _>::new(store.clone()).with_retry(RetryPolicy {
        max_attempts: 5,
        ..RetryPolicy::default()
    });
    tabs.execute(open("t1", 100))
        .await
        .expect("committed on the fourth attempt");
    tabs.execute(add("t1", &[("tea", 30), ("cake", 80)]))
        .await
        .expect("two items, the second reaching the limit: three events");
    let refused = tabs.execute(open("t1", 5)).await.unwrap_err();
    assert!(matches!(refused, CommandError::Rejected(_)));
    store.down.store(true, Ordering::SeqCst);
    tabs.execute(add("t1", &[("tea", 1)])).await.unwrap_err();

    let tab = [("aggregate", "Tab")];
    assert_eq!(value("cqrs_command_conflicts_total", &tab), Some(3.0));
    let count = |outcome| {
        value(
            "cqrs_command_duration_seconds_count",
            &[("aggregate", "Tab"), ("outcome", outcome)],
        )
    };
    assert_eq!(count("committed"), Some(2.0));
    assert_eq!(count("rejected"), Some(1.0));
    assert_eq!(count("failed"), Some(1.0));
    // The store is the in-memory one inside FaultyStore, which does not say its kind.
    let custom = [("store", "custom")];
    // Loads: 4 for the first command (3 conflicts), 1 each for the next two, 1 that failed.
    assert_eq!(
        value("cqrs_load_duration_seconds_count", &custom),
        Some(7.0)
    );
    // Appends: 4 tries of the first command, 1 of the second; the refused and the failed
    // command never got to append.
    assert_eq!(
        value("cqrs_append_duration_seconds_count", &custom),
        Some(5.0)
    );
    // 1 Opened + 2 Added + LimitReached; the competing writes are not the pipeline's.
    assert_eq!(value("cqrs_appended_events_total", &custom), Some(4.0));

    // The in-memory store says its kind. In this test, after the counts above: the only
    // test of this binary that runs Tab commands, so no other test moves them.
    let tabs = Repository::<Tab, _>::new(Arc::new(InMemoryEventStore::new()));
    tabs.execute(open("kind-1", 10)).await.unwrap();
    let memory = [("store", "memory")];
    assert_eq!(value("cqrs_appended_events_total", &memory), Some(1.0));
    assert_eq!(
        value("cqrs_load_duration_seconds_count", &memory),
        Some(1.0)
    );
}

/// Applies events, holding at position `hold_at` until a permit is released.
struct Gated {
    name: &'static str,
    hold_at: u64,
    gate: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[async_trait]
impl Projection for Gated {
    type Error = Never;
    fn name(&self) -> &str {
        self.name
    }
    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Never> {
        if event.position == self.hold_at {
            self.gate.acquire().await.expect("open").forget();
        }
        Ok(())
    }
    async fn reset(&mut self) -> Result<(), Never> {
        Ok(())
    }
    fn persistence(&self) -> Persistence {
        Persistence::Durable
    }
}

async fn append_pings(store: &InMemoryEventStore, n: u64) {
    for i in 0..n {
        let event = NewEvent::raw("Ping", 1, JsonPayload::parse("{}").unwrap());
        store
            .append(
                &format!("Ping-{i}"),
                ExpectedVersion::Any,
                vec![event],
                &Metadata::default(),
            )
            .await
            .unwrap();
    }
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw: {what}\n{}",
            prometheus().render()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_reports_its_position_its_lag_and_its_role() {
    prometheus();
    let store = Arc::new(InMemoryEventStore::new());
    append_pings(&store, 5).await;
    let gate = Arc::new(Semaphore::new(0));
    let projection = Gated {
        name: "gated-view",
        hold_at: 3,
        gate: gate.clone(),
    };
    let config = RunnerConfig {
        batch_size: 2,
        ..RunnerConfig::default()
    };
    let running = ProjectionRunner::new(store.clone(), projection)
        .with_config(config)
        .spawn();
    let labels = [("projection", "gated-view"), ("shard", "0")];
    // The first batch (1, 2) is stored; the runner holds at 3 with the head at 5.
    eventually("position 2 with lag 3", || {
        value("cqrs_projection_position", &labels) == Some(2.0)
            && value("cqrs_projection_lag_events", &labels) == Some(3.0)
    })
    .await;
    let role = |role| {
        value(
            "cqrs_worker_up",
            &[("worker", "gated-view"), ("role", role)],
        )
    };
    assert_eq!(role("leader"), Some(1.0));
    assert_eq!(role("stopped"), Some(0.0));

    gate.add_permits(1);
    eventually("caught up: position 5, lag 0", || {
        value("cqrs_projection_position", &labels) == Some(5.0)
            && value("cqrs_projection_lag_events", &labels) == Some(0.0)
    })
    .await;
    running.shutdown().await.expect("graceful");
    assert_eq!(role("leader"), Some(0.0));
    assert_eq!(role("stopped"), Some(1.0));
    // A stopped runner's progress is unknown, not its last lag.
    for gauge in ["cqrs_projection_position", "cqrs_projection_lag_events"] {
        assert!(
            value(gauge, &labels).is_some_and(f64::is_nan),
            "{gauge} after the stop"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leased_projection_reports_standby_until_it_takes_the_lease_then_leader() {
    use cqrs_core::lease::{LeaseConfig, LeaseStore};
    prometheus();
    let store = Arc::new(InMemoryEventStore::new());
    let other = store
        .acquire("standby-view", "other-replica", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("free");
    let projection = Gated {
        name: "standby-view",
        hold_at: 0,
        gate: Arc::new(Semaphore::new(0)),
    };
    let lease = LeaseConfig {
        retry_every: Duration::from_millis(20),
        ..LeaseConfig::with_ttl(Duration::from_secs(30))
    };
    let running = ProjectionRunner::new(store.clone(), projection)
        .with_lease(store.clone(), lease)
        .spawn();
    let role = |role| {
        value(
            "cqrs_worker_up",
            &[("worker", "standby-view"), ("role", role)],
        )
    };
    let roles = || (role("leader"), role("standby"), role("stopped"));
    eventually("standby while another replica holds the lease", || {
        roles() == (Some(0.0), Some(1.0), Some(0.0))
    })
    .await;
    store.release(&other).await.unwrap();
    eventually("leader once the lease is free", || {
        roles() == (Some(1.0), Some(0.0), Some(0.0))
    })
    .await;
    let labels = [("projection", "standby-view"), ("shard", "0")];
    eventually("a leader's lag", || {
        value("cqrs_projection_lag_events", &labels) == Some(0.0)
    })
    .await;
    running.shutdown().await.expect("graceful");
    assert_eq!(roles(), (Some(0.0), Some(0.0), Some(1.0)));
    // Given up with the lease (standby, then stopped): the lag is unknown.
    assert!(value("cqrs_projection_lag_events", &labels).is_some_and(f64::is_nan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_behind_reads_the_head_after_full_batches_and_not_while_idle() {
    prometheus();
    // The store announces nothing: the head comes from reading it.
    let store = Arc::new(FaultyStore::default());
    store.silent.store(true, Ordering::SeqCst);
    append_pings(&store.inner, 5).await;
    let gate = Arc::new(Semaphore::new(0));
    let projection = Gated {
        name: "unannounced-view",
        hold_at: 3,
        gate: gate.clone(),
    };
    let config = RunnerConfig {
        batch_size: 2,
        idle_poll: Duration::from_millis(20),
        ..RunnerConfig::default()
    };
    let running = ProjectionRunner::new(store.clone(), projection)
        .with_config(config)
        .spawn();
    let labels = [("projection", "unannounced-view"), ("shard", "0")];
    eventually(
        "lag 3 after the first full batch, from a read of the head",
        || {
            value("cqrs_projection_position", &labels) == Some(2.0)
                && value("cqrs_projection_lag_events", &labels) == Some(3.0)
        },
    )
    .await;
    gate.add_permits(1);
    eventually("caught up", || {
        value("cqrs_projection_position", &labels) == Some(5.0)
            && value("cqrs_projection_lag_events", &labels) == Some(0.0)
    })
    .await;
    // Idle (short reads every 20 ms) for longer than the 1 s between reads: no more reads.
    let reads = store.head_reads.load(Ordering::SeqCst);
    assert!(reads >= 1, "the lag of 3 came from a read of the head");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(
        store.head_reads.load(Ordering::SeqCst),
        reads,
        "an idle runner reads no head"
    );
    running.shutdown().await.expect("graceful");
}

/// Fails transiently at position `fail_at` while `failing` is set.
struct Flaky {
    fail_at: u64,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("database down (injected)")]
struct Down;

#[async_trait]
impl Projection for Flaky {
    type Error = Down;
    fn name(&self) -> &str {
        "flaky-view"
    }
    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Down> {
        if event.position == self.fail_at && self.failing.load(Ordering::SeqCst) {
            return Err(Down);
        }
        Ok(())
    }
    async fn reset(&mut self) -> Result<(), Down> {
        Ok(())
    }
    fn persistence(&self) -> Persistence {
        Persistence::Durable
    }
    fn failure_kind(&self, _: &Down) -> cqrs_core::FailureKind {
        cqrs_core::FailureKind::Transient
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lag_keeps_growing_while_a_failing_event_holds_the_runner() {
    prometheus();
    let store = Arc::new(InMemoryEventStore::new());
    append_pings(&store, 5).await;
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let projection = Flaky {
        fail_at: 3,
        failing: failing.clone(),
    };
    let running = ProjectionRunner::new(store.clone(), projection).spawn();
    let labels = [("projection", "flaky-view"), ("shard", "0")];
    eventually("lag 3 while position 3 fails", || {
        value("cqrs_projection_lag_events", &labels) == Some(3.0)
    })
    .await;
    append_pings(&store, 4).await;
    eventually("lag 7 once 4 more events are appended behind it", || {
        value("cqrs_projection_lag_events", &labels) == Some(7.0)
    })
    .await;
    failing.store(false, Ordering::SeqCst);
    eventually("caught up", || {
        value("cqrs_projection_position", &labels) == Some(9.0)
            && value("cqrs_projection_lag_events", &labels) == Some(0.0)
    })
    .await;
    running.shutdown().await.expect("graceful");
}
