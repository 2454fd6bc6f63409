//! The outbox relay: publishes the event store's global log to Kafka.
//!
//! The event log is the outbox: commands only append to the store, and the relay tails
//! the store's gap-safe global log from its own checkpoint and publishes every event. A
//! crash anywhere between a commit and the broker's acknowledgement loses nothing: the
//! checkpoint only moves past events the broker acknowledged, so the next relay publishes
//! them (again). Delivery is therefore **at least once**; duplicates carry the same event
//! id and are limited to events after the last stored checkpoint.

mod config;
mod error;
mod in_flight;
mod lease;
mod metrics;
mod running;
mod session;
mod trace;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::FutureProducer;
use tokio::sync::watch;

pub use config::{RefusedEvents, RelayConfig};
pub use error::RelayError;
pub use running::{RelayProgress, RunningRelay};

use cqrs_core::lease::{LeaseConfig, LeaseStore};
use cqrs_core::worker::{sleep_or_stop, LeaseRole, Worker, WorkerContext};
use cqrs_core::{EventStore, StoreError};
use lease::{LeaseSettings, RelayLease};
use session::{Session, SessionEnd};

use crate::KafkaConfig;

/// Publishes every event of a store to Kafka, in position order, at least once.
///
/// - **Topic** per stream category by default ([`TopicMapping`](crate::TopicMapping)),
///   **key** = stream id (one stream stays on one partition, in order), **value** = the
///   payload JSON text, **headers** = the envelope (see [`headers`](crate::headers)),
///   message timestamp = the time it is sent (the commit time is in the `recorded-at`
///   header; stamping old commit times would make time-based retention delete a relay's
///   catch-up at once).
/// - **Refused events** (larger than [`RelayConfig::max_message_bytes`], not authorized,
///   topic invalid or missing): per [`RelayConfig::on_refused`], stop with the error naming
///   the position (default) or park a bounded record and go on ([`RefusedEvents`]).
/// - **Idempotent producer** (`enable.idempotence=true`, `acks=all`): librdkafka's own
///   retries never duplicate or reorder a partition.
/// - **Pipelined**: up to [`RelayConfig::max_in_flight`] events are in flight while the
///   next batch is read; acknowledgements are settled in position order and the
///   checkpoint advances only to the highest position up to which *every* event was
///   acknowledged.
/// - **Self-healing**: when the broker is unreachable or the store fails transiently, the
///   relay reports a [`RelayError`] in its [`RelayProgress`], backs off, rebuilds its
///   producer and resends from the last acknowledged position, until it succeeds.
/// - **Wake-ups** from [`EventStore::subscribe`], with a fallback poll.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::{sync::Arc, time::Duration};
/// use cqrs_core::InMemoryEventStore;
/// use cqrs_kafka::{EventRelay, KafkaConfig, RelayConfig, TopicMapping};
///
/// let store = Arc::new(InMemoryEventStore::new());
/// let relay = EventRelay::new(store.clone(), KafkaConfig::new("127.0.0.1:9092"))
///     .with_config(RelayConfig { topics: TopicMapping::by_category().with_prefix("shop."), ..Default::default() })
///     .spawn();
/// // ... commands append events to `store` ...
/// relay.wait_until_caught_up(Duration::from_secs(10)).await?;
/// relay.shutdown().await?; // waits for the acks and stores the checkpoint
/// # Ok(()) }
/// ```
pub struct EventRelay<S: EventStore + ?Sized = dyn EventStore> {
    store: Arc<S>,
    kafka: KafkaConfig,
    config: RelayConfig,
    lease: Option<LeaseSettings>,
    /// Set by `with_lease_holder`, kept for a `with_lease` that comes after it.
    holder: Option<String>,
}

impl<S: EventStore + ?Sized> EventRelay<S> {
    /// A relay from `store` to the brokers of `kafka`, with the default [`RelayConfig`].
    pub fn new(store: Arc<S>, kafka: KafkaConfig) -> Self {
        Self {
            store,
            kafka,
            config: RelayConfig::default(),
            lease: None,
            holder: None,
        }
    }

    /// Publishes only while holding the lease named like the relay's checkpoint
    /// ([`RelayConfig::checkpoint_name`]) in `leases`, so that any number of replicas can
    /// run the same relay: one publishes, the others stand by
    /// ([`RelayProgress::role`]) and one of them takes over within
    /// `config.ttl + config.retry_every` when the holder dies (at once when it shuts down
    /// gracefully, which releases the lease). `leases` is normally the relay's own event
    /// store (e.g. the same `Arc<PgEventStore>`), since the checkpoint is written there,
    /// fenced by the lease's token: a deposed holder that wakes up late moves nothing.
    ///
    /// The new holder resumes after the stored checkpoint. The only events published twice
    /// after a failover are those the old holder had published past its last stored
    /// checkpoint: at most [`RelayConfig::max_in_flight`] plus the events acknowledged
    /// since that checkpoint was stored (see the crate README, "Replicas").
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::{sync::Arc, time::Duration};
    /// use cqrs_core::lease::LeaseConfig;
    /// use cqrs_core::worker::LeaseRole;
    /// use cqrs_core::InMemoryEventStore;
    /// use cqrs_kafka::{EventRelay, KafkaConfig};
    ///
    /// let store = Arc::new(InMemoryEventStore::new());
    /// let kafka = KafkaConfig::new("127.0.0.1:9092");
    /// let a = EventRelay::new(store.clone(), kafka.clone())
    ///     .with_lease(store.clone(), LeaseConfig::default())
    ///     .spawn();
    /// let b = EventRelay::new(store.clone(), kafka)
    ///     .with_lease(store.clone(), LeaseConfig::default())
    ///     .spawn();
    /// // One of the two publishes, the other stands by.
    /// a.wait_for(Duration::from_secs(5), |p| p.role == LeaseRole::Leader).await.ok();
    /// a.shutdown().await?; // releases the lease: `b` takes over at once
    /// b.wait_for(Duration::from_secs(5), |p| p.role == LeaseRole::Leader).await?;
    /// # Ok(()) }
    /// ```
    pub fn with_lease(mut self, leases: Arc<dyn LeaseStore>, config: LeaseConfig) -> Self {
        self.lease = Some(LeaseSettings {
            store: leases,
            config,
            holder: self.holder.clone(),
        });
        self
    }

    /// Takes the lease as `holder` instead of [`holder_id`](cqrs_core::lease::holder_id) (as the projection runners'
    /// `with_lease_holder`). Every replica needs its own, and a restarted process is
    /// best given a new one (the default is), since a restart under the same id takes its
    /// old lease back under its old token. Before or after [`with_lease`](Self::with_lease);
    /// no effect without it.
    pub fn with_lease_holder(mut self, holder: impl Into<String>) -> Self {
        let holder = holder.into();
        if let Some(lease) = &mut self.lease {
            lease.holder = Some(holder.clone());
        }
        self.holder = Some(holder);
        self
    }

    /// Sets the configuration.
    pub fn with_config(mut self, config: RelayConfig) -> Self {
        self.config = config;
        self
    }

    /// Runs the relay in a background task until [`Worker::shutdown`], which waits for
    /// every acknowledgement (up to the delivery timeout) and stores the checkpoint. The
    /// handle's [`state`](Worker::state) reads `Failed` with the error (naming the position
    /// for a refused event) when the relay stopped for good on its own.
    pub fn spawn(self) -> RunningRelay {
        let name = self.config.checkpoint_name.clone();
        let store = self.store.clone();
        Worker::spawn(name, RelayProgress::default(), move |ctx| async move {
            let mut stop = ctx.stop_signal();
            self.supervise(&ctx, &mut stop).await
        })
        .following(store)
    }

    /// Holds the lease (if the relay has one), then runs publishing sessions from the
    /// stored checkpoint; after a transient failure backs off and starts a new session (new
    /// producer) from the last acknowledged position; after losing the lease stands by
    /// again. Every change of role is published in the progress and as the
    /// `cqrs_worker_up` metric.
    async fn supervise(
        &self,
        progress: &WorkerContext<RelayProgress>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), RelayError> {
        let name = &self.config.checkpoint_name;
        let mut lease = RelayLease::new(name, self.lease.as_ref());
        if self.lease.is_some() {
            progress.report_role(LeaseRole::Standby);
        }
        let mut failures = 0;
        loop {
            match lease.stand_by(stop).await {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(source) => {
                    let error = self.store_error(source);
                    let delay = self.retrying(
                        error,
                        "cannot take the relay's lease",
                        &mut failures,
                        progress,
                    )?;
                    // Standing by: `lease.sleep` would find the lease not held.
                    if sleep_or_stop(delay, stop).await {
                        return Ok(());
                    }
                    continue;
                }
            }
            let outcome = self.lead(&mut lease, progress, stop).await;
            if let Ok(SessionEnd::LeaseLost) = outcome {
                set_role(progress, lease.role());
                tracing::warn!(relay = %name, "relay lost its lease: stopped publishing, standing by");
                failures = 0;
                continue;
            }
            // Stopped, or failed for good: standby before the release, so this relay never
            // reads as leader once another may hold the lease.
            set_role(progress, LeaseRole::Standby);
            lease.release().await;
            return outcome.map(|_| ());
        }
    }

    /// Publishes while the lease is held: from the stored checkpoint, one session after
    /// another (a new one after each transient failure), until a stop, the loss of the
    /// lease or a permanent failure.
    async fn lead(
        &self,
        lease: &mut RelayLease,
        progress: &WorkerContext<RelayProgress>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<SessionEnd, RelayError> {
        let name = &self.config.checkpoint_name;
        let mut acked = match self.load_checkpoint(lease, progress, stop).await? {
            Ok(checkpoint) => checkpoint,
            Err(ended) => return Ok(ended),
        };
        tracing::info!(relay = %name, checkpoint = acked, "relay publishing");
        progress.report(|p| {
            p.checkpoint = acked;
            p.acked_position = acked;
            p.sent_position = acked;
        });
        set_role(progress, LeaseRole::Leader);
        let mut failures = 0;
        loop {
            let producer = self.producer()?;
            let mut session =
                Session::new(&*self.store, &self.config, producer, acked, progress, lease);
            let outcome = session.run(stop).await;
            let reached = session.close().await;
            if reached > acked {
                failures = 0;
            }
            acked = reached;
            match outcome {
                Ok(end) => return Ok(end),
                Err(error) => {
                    let delay = self.retrying(error, "relay failed", &mut failures, progress)?;
                    if let Err(ended) = lease.sleep(delay, stop).await {
                        return Ok(ended);
                    }
                }
            }
        }
    }

    /// The stored checkpoint, retrying transient store failures (the waits renew the
    /// lease); `Err(end)` when a stop or the loss of the lease came first.
    async fn load_checkpoint(
        &self,
        lease: &mut RelayLease,
        progress: &WorkerContext<RelayProgress>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Result<u64, SessionEnd>, RelayError> {
        let name = &self.config.checkpoint_name;
        let mut failures = 0;
        loop {
            match self.store.load_checkpoint(name).await {
                Ok(checkpoint) => return Ok(Ok(checkpoint.unwrap_or(0))),
                Err(source) => {
                    let error = self.store_error(source);
                    let delay = self.retrying(
                        error,
                        "cannot load the relay checkpoint",
                        &mut failures,
                        progress,
                    )?;
                    if let Err(ended) = lease.sleep(delay, stop).await {
                        return Ok(Err(ended));
                    }
                }
            }
        }
    }

    fn store_error(&self, source: StoreError) -> RelayError {
        RelayError::Store {
            relay: self.config.checkpoint_name.clone(),
            source,
        }
    }

    /// The backoff before retrying after `error`, the `failures`-th in a row (logged as
    /// `what` and published as the last error), or `error` itself when it is permanent.
    fn retrying(
        &self,
        error: RelayError,
        what: &str,
        failures: &mut u32,
        progress: &WorkerContext<RelayProgress>,
    ) -> Result<Duration, RelayError> {
        if !error.is_transient() {
            return Err(error);
        }
        *failures += 1;
        let delay = self.config.retry_backoff.backoff(*failures);
        tracing::warn!(relay = %self.config.checkpoint_name, %error, attempt = *failures, retry_in = ?delay, "{what}, retrying");
        progress.report(|p| p.last_error = Some(error.to_string().into()));
        Ok(delay)
    }

    /// An idempotent producer (`acks=all`) with the relay's timeouts and message size.
    fn producer(&self) -> Result<FutureProducer, RelayError> {
        let mut config = self.kafka.client_config();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                self.config.delivery_timeout.as_millis().to_string(),
            )
            .set("linger.ms", self.config.linger.as_millis().to_string())
            .set(
                "message.max.bytes",
                self.config.max_message_bytes.to_string(),
            );
        config.create().map_err(|source| RelayError::Producer {
            relay: self.config.checkpoint_name.clone(),
            source,
        })
    }
}

/// Publishes the relay's `role` in its progress and as the `cqrs_worker_up` metric.
fn set_role(progress: &WorkerContext<RelayProgress>, role: LeaseRole) {
    progress.report(|p| p.role = role);
    progress.report_role(role);
}
