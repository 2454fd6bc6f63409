//! One publishing session: one producer, from the last acknowledged position until a
//! stop, a failure or the loss of the relay's lease.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;
use tracing::Instrument;

use cqrs_core::worker::{stop_requested, LeaseRole, WorkerContext};
use cqrs_core::{EventStore, RecordedEvent};

use super::config::RelayConfig;
use super::error::RelayError;
use super::in_flight::InFlight;
use super::lease::{Held, RelayLease};
use super::metrics::RelayMetrics;
use super::running::RelayProgress;
use super::trace;

mod park;

pub(crate) struct Session<'a, S: ?Sized> {
    store: &'a S,
    config: &'a RelayConfig,
    producer: FutureProducer,
    in_flight: InFlight,
    /// Next position to read from the store.
    next: u64,
    /// Checkpoint last stored.
    saved: u64,
    last_save: Instant,
    progress: &'a WorkerContext<RelayProgress>,
    lease: &'a mut RelayLease,
    metrics: RelayMetrics,
}

/// Why a session ended without a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    /// A stop was requested: every acknowledgement was awaited and the checkpoint stored.
    Stopped,
    /// Another instance holds the relay's lease now: the session stopped publishing.
    LeaseLost,
}

impl<'a, S: EventStore + ?Sized> Session<'a, S> {
    /// A session resuming after `acked` (everything up to it is acknowledged).
    pub(crate) fn new(
        store: &'a S,
        config: &'a RelayConfig,
        producer: FutureProducer,
        acked: u64,
        progress: &'a WorkerContext<RelayProgress>,
        lease: &'a mut RelayLease,
    ) -> Self {
        Self {
            store,
            config,
            producer,
            in_flight: InFlight::new(config, acked),
            next: acked + 1,
            saved: acked,
            last_save: Instant::now(),
            progress,
            lease,
            metrics: RelayMetrics::new(&config.checkpoint_name, store.subscribe()),
        }
    }

    /// Publishes until a stop is requested (then waits for every acknowledgement and
    /// stores the checkpoint), the lease is lost (then returns at once) or something fails.
    pub(crate) async fn run(
        &mut self,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<SessionEnd, RelayError> {
        let mut wakeups = self.store.subscribe();
        let max_in_flight = self.config.max_in_flight.max(1);
        loop {
            if self.lost() || self.lease.keep().await == Held::Lost {
                return Ok(SessionEnd::LeaseLost);
            }
            if *stop.borrow() {
                self.settle_until(0).await?;
                self.save_checkpoint(true).await?;
                // The last checkpoint write may have found the lease lost.
                return Ok(if self.lost() {
                    SessionEnd::LeaseLost
                } else {
                    SessionEnd::Stopped
                });
            }
            let room = max_in_flight.saturating_sub(self.in_flight.len());
            let mut sent_any = false;
            if room > 0 {
                let (batch, full) = self.read_batch(room).await?;
                sent_any = !batch.is_empty();
                for event in &batch {
                    self.send(event).await?;
                }
                if sent_any {
                    self.progress.report(|p| p.sent_position = self.next - 1);
                }
                self.find_head(full).await;
            }
            self.settle_ready().await?;
            if sent_any {
                self.save_checkpoint(false).await?;
                continue;
            }
            if !self.in_flight.is_empty() {
                // Window full, or nothing new to send: wait for acknowledgements, but
                // no longer than the next lease renewal or checkpoint is due (the
                // checkpoint keeps up with the acknowledgements meanwhile).
                let keep = if room == 0 { max_in_flight / 2 } else { 0 };
                let due = self
                    .lease
                    .renewal_due_in()
                    .map_or(self.config.checkpoint_interval, |due| {
                        due.min(self.config.checkpoint_interval)
                    });
                tokio::select! {
                    settled = self.settle_until(keep) => settled?,
                    () = stop_requested(stop) => {}
                    () = tokio::time::sleep(due) => {}
                }
                self.save_checkpoint(false).await?;
                continue;
            }
            self.save_checkpoint(true).await?;
            // A leased relay waits at most until its next renewal is due.
            let idle_wait = self
                .lease
                .renewal_due_in()
                .map_or(self.config.idle_poll, |due| due.min(self.config.idle_poll));
            tokio::select! {
                () = stop_requested(stop) => {}
                _ = wakeups.wait_beyond(self.next - 1, idle_wait) => {}
            }
        }
    }

    /// Whether the lease was found lost (a renewal found another holder, a fenced write
    /// was refused): then nothing more is sent or checkpointed. Never for a relay without
    /// a lease.
    fn lost(&self) -> bool {
        self.lease.role() == LeaseRole::Standby
    }

    /// Ends the session: stores the checkpoint reached (best effort, and not once the
    /// lease is lost; the caller resumes from the returned position either way) and drops
    /// the producer, which purges unacknowledged messages.
    pub(crate) async fn close(mut self) -> u64 {
        if let Err(error) = self.in_flight.settle_ready() {
            tracing::debug!(%error, "discarding failed deliveries of the closing session");
        }
        if let Err(error) = self.save_checkpoint(true).await {
            tracing::warn!(%error, "cannot store the relay checkpoint while closing the session");
        }
        self.in_flight.acked()
    }

    /// The next events to send, at most `room`, and whether the read was full (so the
    /// log's head may be further than the last of them).
    async fn read_batch(&self, room: usize) -> Result<(Vec<RecordedEvent>, bool), RelayError> {
        let max = self.config.batch_size.max(1).min(room);
        let batch = self
            .store
            .read_all(self.next, max)
            .await
            .map_err(|source| RelayError::Store {
                relay: self.config.checkpoint_name.clone(),
                source,
            })?;
        let full = batch.len() >= max;
        Ok((batch, full))
    }

    /// Updates the log's head for the lag metric after a read (see
    /// [`metrics`](super::metrics)): the store is asked only after a full read, at most
    /// once per checkpoint interval. (The head the store announces is looked at on every
    /// checkpoint save, read or not.)
    async fn find_head(&mut self, full: bool) {
        self.metrics.saw_head(self.next - 1);
        if !self
            .metrics
            .head_query_due(full, self.config.checkpoint_interval)
        {
            return;
        }
        let head = match self.store.head_position().await {
            Ok(head) => Some(head),
            Err(error) => {
                tracing::debug!(relay = %self.config.checkpoint_name, %error, "cannot read the log's head for the lag metric");
                None
            }
        };
        self.metrics.asked_head(head);
    }

    /// Hands one event to the producer, in order. A full producer queue waits for the
    /// oldest acknowledgement instead of reordering. An event the producer refuses for
    /// good is parked if the relay parks (see [`RefusedEvents`](super::RefusedEvents)).
    ///
    /// An event whose metadata carries a trace context is sent inside its `relay publish`
    /// span, whose context its record carries (see [`trace`]).
    async fn send(&mut self, event: &RecordedEvent) -> Result<(), RelayError> {
        let topic = self.config.topics.topic_for(event);
        match trace::publish_span(event, &topic) {
            None => self.send_to(event, &topic, None).await,
            Some(span) => {
                let sending = self.send_to(event, &topic, Some(&span));
                sending.instrument(span.clone()).await
            }
        }
    }

    async fn send_to(
        &mut self,
        event: &RecordedEvent,
        topic: &str,
        span: Option<&tracing::Span>,
    ) -> Result<(), RelayError> {
        let config = self.config;
        // No timestamp: the producer stamps the send time. The commit time (in
        // `recorded-at`) would make time-based retention delete old events at once.
        let mut record = FutureRecord::to(topic)
            .key(event.stream_id.as_bytes())
            .payload(event.payload.as_str())
            .headers(trace::record_headers(event, span));
        let (delivery, parked) = loop {
            match self.producer.send_result(record) {
                Ok(delivery) => break (delivery, None),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    if self.in_flight.is_empty() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    } else {
                        let keep = self.in_flight.len() - 1;
                        self.settle_until(keep).await?;
                    }
                }
                Err((source, _)) => {
                    let refused = RelayError::Publish {
                        relay: config.checkpoint_name.as_str().into(),
                        position: event.position,
                        stream: event.stream_id.clone(),
                        topic: topic.into(),
                        source: Box::new(source),
                    };
                    let (delivery, parked) = self.park(event, refused).await?;
                    break (delivery, Some(parked));
                }
            }
        };
        self.in_flight
            .push(event.position, event.stream_id.clone(), delivery, parked);
        self.next = event.position + 1;
        Ok(())
    }

    /// Settles the acknowledgements that already arrived; parks an event refused for good
    /// if the relay parks.
    async fn settle_ready(&mut self) -> Result<(), RelayError> {
        loop {
            match self.in_flight.settle_ready() {
                Ok(()) => return Ok(()),
                Err(error) => self.park_front(error).await?,
            }
        }
    }

    /// Waits until at most `keep` events are unsettled; parks an event refused for good if
    /// the relay parks.
    async fn settle_until(&mut self, keep: usize) -> Result<(), RelayError> {
        loop {
            match self.in_flight.settle_until(keep).await {
                Ok(()) => return Ok(()),
                Err(error) => self.park_front(error).await?,
            }
        }
    }

    /// Stores the acknowledged position as the checkpoint if it moved and either `force`
    /// is set or the checkpoint interval elapsed; fenced by the lease, if the relay has
    /// one (a refused write marks the session lost).
    ///
    /// Also reports the acknowledgements settled since the last call to the metrics.
    async fn save_checkpoint(&mut self, force: bool) -> Result<(), RelayError> {
        let acked = self.in_flight.acked();
        self.metrics.report(self.in_flight.take_published(), acked);
        self.progress
            .report_if(|p| std::mem::replace(&mut p.acked_position, acked) != acked);
        if self.lost()
            || acked == self.saved
            || (!force && self.last_save.elapsed() < self.config.checkpoint_interval)
        {
            return Ok(());
        }
        let held = self
            .lease
            .save(self.store, &self.config.checkpoint_name, acked)
            .await
            .map_err(|source| RelayError::Store {
                relay: self.config.checkpoint_name.clone(),
                source,
            })?;
        if held == Held::Lost {
            return Ok(());
        }
        self.saved = acked;
        self.last_save = Instant::now();
        self.progress.report(|p| {
            p.checkpoint = acked;
            p.last_error = None;
        });
        Ok(())
    }
}
