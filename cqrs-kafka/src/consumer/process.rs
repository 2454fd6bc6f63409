//! Processing one received batch: decode, hand to the handler (retrying), dead-letter
//! the poison messages, then mark every offset. See [`batch`](super::batch) for the
//! semantics, the spans each message is handled in included, and
//! [`metrics`](super::metrics) for what is counted.

use std::collections::VecDeque;

use cqrs_core::telemetry::metric::ConsumerOutcome;
use cqrs_core::worker::sleep_or_stop;
use cqrs_core::{FailureKind, RecordedEvent};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use tokio::sync::watch;
use tracing::{Instrument, Span};

use super::batch::{Batch, BatchHandler};
use super::decoder::Decoder;
use super::error::ConsumerError;
use super::handler::HandlerError;
use super::message::IncomingMessage;
use super::metrics::MessageCounter;
use super::offsets::OffsetTracker;
use super::worker::{global_position, Outcome, Worker};
use crate::classify;

/// What a runner's decoder makes of a message, as a dead letter's reason names it.
pub(crate) trait Described: Send + Sync + 'static {
    /// E.g. ``event 0190… (`Placed` in stream `Order-1`)``.
    fn described(&self) -> String;

    /// Its global position, if it has one (for a projection's progress gauges).
    fn position(&self) -> Option<u64> {
        None
    }
}

impl Described for RecordedEvent {
    fn described(&self) -> String {
        format!(
            "event {} (`{}` in stream `{}`)",
            self.event_id, self.event_type, self.stream_id
        )
    }

    fn position(&self) -> Option<u64> {
        Some(self.position)
    }
}

/// What becomes of one received message once the handler is done with its batch.
enum Fate {
    Handled,
    Poison { stage: &'static str, reason: String },
}

/// How handing one batch to the handler ended.
enum Attempt {
    /// `Ok`: the messages not rejected are handled.
    Accepted,
    /// A whole-batch rejection of several messages: hand them one at a time.
    Split,
    /// A single message rejected on every attempt: dead-letter it with this reason.
    GaveUp(String),
    /// A stop was requested while waiting to retry.
    Interrupted,
}

impl<T: Described, H: BatchHandler<T>, D: Decoder<T>> Worker<H, D, T> {
    /// Handles `messages`, dead-letters the poison ones, and marks every offset in order,
    /// only once the handler succeeded.
    pub(crate) async fn process(
        &mut self,
        messages: &[BorrowedMessage<'_>],
        consumer: &StreamConsumer<OffsetTracker>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Outcome, ConsumerError> {
        let tracker = consumer.context();
        // Each message with the span it is handled in (see `batch`, "Tracing").
        let incoming: Vec<(IncomingMessage<'_>, Span)> = messages
            .iter()
            .map(|message| (IncomingMessage::new(message), (self.message_span)(message)))
            .collect();
        let mut fates: Vec<Fate> = incoming.iter().map(|_| Fate::Handled).collect();
        let mut decoded = Vec::with_capacity(incoming.len());
        // For the progress gauges of a projection: each message's global position.
        let mut positions: Vec<Option<u64>> = match self.progress {
            Some(_) => messages.iter().map(global_position).collect(),
            None => Vec::new(),
        };
        for (at, (message, span)) in incoming.iter().enumerate() {
            match self.decoder.decode(message) {
                Ok(event) => {
                    if let Some(position) = positions.get_mut(at) {
                        *position = position.or_else(|| event.position());
                    }
                    decoded.push((at, event, message.source(), span.clone()));
                }
                Err(error) => {
                    let reason = error.to_string();
                    fates[at] = Fate::Poison {
                        stage: "decode",
                        reason,
                    }
                }
            }
        }
        let mut batches = VecDeque::from([Batch::new(decoded)]);
        while let Some(mut batch) = batches.pop_front() {
            if batch.is_empty() {
                continue;
            }
            let attempt = match batch.single_span() {
                Some(span) => self.handle(&mut batch, stop).instrument(span).await,
                None => self.handle(&mut batch, stop).await,
            };
            match attempt {
                Attempt::Accepted => {
                    for (at, item) in batch.outcomes() {
                        if let Some(error) = item.rejection() {
                            let reason =
                                format!("handler rejected {}: {error}", item.event().described());
                            fates[at] = Fate::Poison {
                                stage: "handler",
                                reason,
                            };
                        }
                    }
                }
                Attempt::Split => {
                    for single in batch.split().into_iter().rev() {
                        batches.push_front(single);
                    }
                }
                Attempt::GaveUp(reason) => {
                    for (at, _) in batch.outcomes() {
                        fates[at] = Fate::Poison {
                            stage: "handler",
                            reason: reason.clone(),
                        };
                    }
                }
                Attempt::Interrupted => return Ok(Outcome::Interrupted),
            }
        }
        let mut counter = MessageCounter::default();
        for (at, ((message, span), fate)) in incoming.iter().zip(fates).enumerate() {
            let source = message.source();
            let outcome = match fate {
                Fate::Handled => ConsumerOutcome::Handled,
                Fate::Poison { stage, reason } => {
                    let sending = self.dead_letter(message, stage, &reason, stop);
                    if let Outcome::Interrupted = sending.instrument(span.clone()).await? {
                        return Ok(Outcome::Interrupted);
                    }
                    ConsumerOutcome::DeadLettered
                }
            };
            tracker.mark(source.topic, source.partition, source.offset);
            if let Some(progress) = &mut self.progress {
                let position = positions.get(at).copied().flatten();
                progress.done(
                    consumer,
                    source.topic,
                    source.partition,
                    source.offset,
                    position,
                );
            }
            counter.count(source.topic, outcome);
        }
        Ok(Outcome::Done)
    }

    /// Hands `batch` to the handler until it succeeds, is rejected for good, or must be
    /// split.
    async fn handle(
        &mut self,
        batch: &mut Batch<'_, T>,
        stop: &mut watch::Receiver<bool>,
    ) -> Attempt {
        let (mut rejections, mut transient) = (0, 0);
        loop {
            batch.reset();
            let delay = match self.handler.handle_batch(batch).await {
                Ok(()) => {
                    let accepted = batch.accepted().count() as u64;
                    self.stats.send_modify(|s| s.handled += accepted);
                    return Attempt::Accepted;
                }
                Err(HandlerError::Transient(error)) => {
                    let mut counter = MessageCounter::default();
                    for item in batch.iter() {
                        counter.count(item.source().topic, ConsumerOutcome::Retried);
                    }
                    transient += 1;
                    let delay = self.config.transient_backoff.backoff(transient);
                    tracing::warn!(at = %Position(batch), %error, attempt = transient, retry_in = ?delay, "handler failed transiently, retrying");
                    delay
                }
                Err(HandlerError::Rejected(error)) if batch.len() > 1 => {
                    tracing::warn!(at = %Position(batch), %error, "handler rejected the batch, handing its messages one at a time");
                    return Attempt::Split;
                }
                Err(HandlerError::Rejected(error)) => {
                    rejections += 1;
                    if rejections >= self.config.retry.max_attempts {
                        let event = batch.iter().next().map(|item| item.event());
                        let reason = match event {
                            Some(event) => format!(
                                "handler rejected {} {rejections} times: {error}",
                                event.described()
                            ),
                            None => format!("handler rejected {rejections} times: {error}"),
                        };
                        return Attempt::GaveUp(reason);
                    }
                    let delay = self.config.retry.backoff(rejections);
                    tracing::warn!(at = %Position(batch), %error, attempt = rejections, retry_in = ?delay, "handler rejected the event, retrying");
                    delay
                }
            };
            self.stats.send_modify(|s| s.retries += 1);
            if sleep_or_stop(delay, stop).await {
                return Attempt::Interrupted;
            }
        }
    }

    /// Publishes a poison message to the dead-letter topic; without a dead-letter topic the
    /// runner stops instead of skipping.
    ///
    /// Transient publish failures are retried with backoff until the broker acknowledges.
    /// When the topic refuses the message for good (see [`classify`](crate::classify)), its
    /// bounded copy is sent instead, retried the same way; when even that is refused for
    /// good, the runner stops with [`ConsumerError::DeadLetterRefused`]. It never retries a
    /// permanent refusal.
    async fn dead_letter(
        &mut self,
        incoming: &IncomingMessage<'_>,
        stage: &str,
        reason: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Outcome, ConsumerError> {
        let at = incoming.source();
        let Some(dead_letters) = &self.dead_letters else {
            return Err(ConsumerError::Poison {
                group: self.config.group_id.clone(),
                at: at.to_string(),
                reason: reason.to_owned(),
            });
        };
        let topic = dead_letters.topic();
        let mut failures = 0;
        let mut refused_whole: Option<KafkaError> = None;
        loop {
            let sent = match &refused_whole {
                None => dead_letters.send(incoming, stage, reason).await,
                Some(refused) => {
                    dead_letters
                        .send_bounded(incoming, stage, reason, refused)
                        .await
                }
            };
            let error = match sent {
                Ok(()) => {
                    let bounded = refused_whole.is_some();
                    tracing::warn!(%at, stage, reason, dead_letter_topic = topic, bounded, "poison message dead-lettered");
                    self.stats.send_modify(|s| s.dead_lettered += 1);
                    return Ok(Outcome::Done);
                }
                Err(error) => error,
            };
            match (classify(&error), refused_whole.is_some()) {
                (FailureKind::Permanent, false) => {
                    tracing::warn!(%at, %error, dead_letter_topic = topic, "the dead-letter topic refused the message for good; sending a bounded copy");
                    refused_whole = Some(error);
                    failures = 0;
                }
                (FailureKind::Permanent, true) => {
                    return Err(ConsumerError::DeadLetterRefused {
                        group: self.config.group_id.clone(),
                        topic: topic.to_owned(),
                        at: at.to_string(),
                        reason: reason.to_owned(),
                        source: Box::new(error),
                    });
                }
                (FailureKind::Transient, _) => {
                    failures += 1;
                    let delay = self.config.transient_backoff.backoff(failures);
                    tracing::warn!(%at, %error, retry_in = ?delay, dead_letter_topic = topic, "cannot publish to the dead-letter topic, retrying");
                    if sleep_or_stop(delay, stop).await {
                        return Ok(Outcome::Interrupted);
                    }
                }
            }
        }
    }
}

/// A batch in log lines: its single message's position, or its size and first position.
struct Position<'b, 'a, T>(&'b Batch<'a, T>);

impl<T> std::fmt::Display for Position<'_, '_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut items = self.0.iter();
        match (items.next(), self.0.len()) {
            (Some(item), 1) => write!(f, "{}", item.source()),
            (Some(item), len) => write!(f, "batch of {len} from {}", item.source()),
            (None, _) => write!(f, "empty batch"),
        }
    }
}
