//! The [`KafkaCommandSender`]: publishes command envelopes and awaits their replies.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{CommandBus, CommandEnvelope, CommandReply, FailureKind, SendError};
use rdkafka::error::KafkaError;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument, Span};

use super::listener::{listen, reply_consumer};
use super::message::envelope_headers;
use super::pending::Pending;
use super::producer::Producer;
use super::{trace, CommandTopics};
use crate::{classify, KafkaConfig};

/// Where a sender publishes commands and reads replies.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The command topic of each aggregate type.
    pub topics: CommandTopics,
    /// The topic replies come back on; it must exist. Several senders (replicas) may share
    /// it: each reads all of it and keeps its own replies.
    pub reply_topic: String,
    /// How long the producer tries to deliver one command before `send` fails with
    /// [`SendError::Unavailable`] (if its own timeout did not end first). Default 10 s.
    pub delivery_timeout: Duration,
    /// `linger.ms` of the producer. Default 0: a command is sent at once.
    pub linger: Duration,
    /// `message.max.bytes` of the producer: larger envelopes are refused
    /// ([`SendError::Refused`]). Default 1,000,000.
    pub max_message_bytes: usize,
    /// `fetch.wait.max.ms` of the reply listener: how long the broker may hold a fetch
    /// when no reply is there. Default 100 ms (see
    /// [`ProcessorConfig::fetch_wait`](crate::ProcessorConfig::fetch_wait)).
    pub reply_fetch_wait: Duration,
}

impl SenderConfig {
    /// Commands to `topics`, replies on `reply_topic`, the defaults above.
    pub fn new(topics: CommandTopics, reply_topic: impl Into<String>) -> Self {
        Self {
            topics,
            reply_topic: reply_topic.into(),
            delivery_timeout: Duration::from_secs(10),
            linger: Duration::ZERO,
            max_message_bytes: 1_000_000,
            reply_fetch_wait: Duration::from_millis(100),
        }
    }
}

/// A sender could not start.
#[derive(Debug, thiserror::Error)]
pub enum SenderSetupError {
    /// A Kafka client could not be created, or the broker did not answer.
    #[error("command sender: cannot set up the Kafka clients: {source}")]
    Client {
        /// librdkafka's error.
        #[source]
        source: KafkaError,
    },
    /// The reply topic cannot be read (missing, no partitions).
    #[error("command sender: cannot read the reply topic `{topic}`: {reason}")]
    ReplyTopic {
        /// The reply topic.
        topic: String,
        /// Why.
        reason: String,
    },
}

/// Sends commands over Kafka and awaits their outcome: a [`CommandBus`].
///
/// - **Publish**: the envelope as JSON, key = aggregate id (one aggregate's commands on
///   one partition, in order), headers for command id, correlation, causation, type,
///   reply-to, deadline and the envelope's own headers, to the aggregate type's topic
///   ([`CommandTopics`]); the broker's acknowledgement is awaited (idempotent producer,
///   `acks=all`).
/// - **Tracing**: [`publish`](Self::publish) and [`send`](CommandBus::send) (the wait for
///   the reply included) run in a `command send` span (command id, command type,
///   aggregate type and id, correlation id, topic; `outcome` once replied), a child of
///   the caller's span. When an OpenTelemetry layer records it, the message carries its
///   context as `traceparent` / `tracestate` headers (instead of any the envelope's own
///   headers have), which the [`CommandProcessor`](crate::CommandProcessor) continues.
/// - **Reply**: [`send`](CommandBus::send) sets `reply_to` to this sender's reply topic
///   and waits for the reply with the same command id, within its timeout (the publish
///   included). Replies are read from every partition of the reply topic, from where it
///   ended at [`start`](KafkaCommandSender::start), without a consumer group: sender
///   replicas sharing a reply topic each see their own replies. A reply that arrives
///   after its timeout, or for another sender's command, is dropped with a debug log.
/// - **Errors**: no reply in time is [`SendError::Timeout`] (the command may still be
///   executed: resend the same envelope to learn its outcome); a broker that cannot be
///   reached is [`SendError::Unavailable`]; a command the broker refuses for good (no
///   topic for its aggregate type, too large) is [`SendError::Refused`].
///
/// Cheap to clone (one producer, one reply listener, shared). Dropping the last clone
/// stops the listener; [`shutdown`](KafkaCommandSender::shutdown) also waits for it.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use cqrs_core::{CommandBus, CommandEnvelope, CommandOutcome};
/// use cqrs_kafka::{CommandTopics, KafkaCommandSender, KafkaConfig, SenderConfig};
///
/// let kafka = KafkaConfig::new("127.0.0.1:9092");
/// let sender = KafkaCommandSender::start(kafka, SenderConfig::new(CommandTopics::new(), "orders-api.replies")).await?;
/// # let envelope: CommandEnvelope = unimplemented!();
/// let reply = sender.send(envelope, Duration::from_secs(5)).await?;
/// if let CommandOutcome::Accepted { position, .. } = reply.outcome { /* wait for the read model to reach it */ }
/// sender.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KafkaCommandSender {
    inner: Arc<Inner>,
}

struct Inner {
    config: SenderConfig,
    producer: Producer,
    pending: Arc<Pending>,
    stop: watch::Sender<bool>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl KafkaCommandSender {
    /// Creates the producer and the reply listener (which starts at the current end of
    /// every partition of the reply topic, so every reply to a command sent afterwards is
    /// seen). Must be called within a Tokio runtime.
    pub async fn start(kafka: KafkaConfig, config: SenderConfig) -> Result<Self, SenderSetupError> {
        let producer = Producer::new(
            &kafka,
            config.delivery_timeout,
            config.linger,
            config.max_message_bytes,
        )
        .map_err(|source| SenderSetupError::Client { source })?;
        let (topic, fetch_wait) = (config.reply_topic.clone(), config.reply_fetch_wait);
        let consumer =
            tokio::task::spawn_blocking(move || reply_consumer(&kafka, &topic, fetch_wait))
                .await
                .map_err(|joined| SenderSetupError::ReplyTopic {
                    topic: config.reply_topic.clone(),
                    reason: format!("setting up the listener panicked: {joined}"),
                })??;
        let pending = Arc::new(Pending::default());
        let (stop, stopped) = watch::channel(false);
        let listener = tokio::spawn(listen(consumer, pending.clone(), stopped));
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                producer,
                pending,
                stop,
                listener: Mutex::new(Some(listener)),
            }),
        })
    }

    /// The topic this sender reads replies from.
    pub fn reply_topic(&self) -> &str {
        &self.inner.config.reply_topic
    }

    /// The topic commands of `aggregate_type` are published to.
    pub fn topic_for(&self, aggregate_type: &str) -> Cow<'_, str> {
        self.inner.config.topics.topic_for(aggregate_type)
    }

    /// Publishes `envelope` as it is (its `reply_to`, if any, is kept) and returns once
    /// the broker acknowledged it, without waiting for an outcome; in a `command send`
    /// span.
    pub async fn publish(&self, envelope: &CommandEnvelope) -> Result<(), SendError> {
        let topic = self.topic_for(&envelope.aggregate_type);
        let span = trace::send_span(envelope, &topic);
        self.publish_in(envelope, &topic, &span)
            .instrument(span.clone())
            .await
    }

    /// Publishes `envelope` to `topic`, with the trace context of `span`.
    async fn publish_in(
        &self,
        envelope: &CommandEnvelope,
        topic: &str,
        span: &Span,
    ) -> Result<(), SendError> {
        let command_id = envelope.command_id;
        let value = serde_json::to_vec(envelope)
            .map_err(|source| SendError::Encode { command_id, source })?;
        let sent = self
            .inner
            .producer
            .send(
                topic,
                &envelope.aggregate_id,
                &value,
                envelope_headers(envelope, span),
            )
            .await;
        sent.map_err(|error| {
            let source = format!("publishing to `{topic}` failed: {error}").into();
            match classify(&error) {
                FailureKind::Transient => SendError::Unavailable { command_id, source },
                FailureKind::Permanent => SendError::Refused { command_id, source },
            }
        })
    }

    /// Stops the reply listener and waits for it; sends still waiting get
    /// [`SendError::Unavailable`], later ones too. Other clones are shut down as well.
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        self.inner.pending.close();
        let listener = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(listener) = listener {
            if let Err(error) = listener.await {
                tracing::warn!(%error, "the reply listener panicked");
            }
        }
    }
}

#[async_trait]
impl CommandBus for KafkaCommandSender {
    async fn send(
        &self,
        envelope: CommandEnvelope,
        timeout: Duration,
    ) -> Result<CommandReply, SendError> {
        let envelope = envelope.with_reply_to(self.reply_topic());
        let topic = self.topic_for(&envelope.aggregate_type);
        let span = trace::send_span(&envelope, &topic);
        let sent = self
            .send_in(&envelope, &topic, timeout, &span)
            .instrument(span.clone())
            .await;
        trace::record_sent(&span, &sent);
        sent
    }
}

impl KafkaCommandSender {
    /// Publishes `envelope` to `topic` in `span` and awaits its reply, within `timeout`.
    async fn send_in(
        &self,
        envelope: &CommandEnvelope,
        topic: &str,
        timeout: Duration,
        span: &Span,
    ) -> Result<CommandReply, SendError> {
        let give_up_at = Instant::now() + timeout;
        let command_id = envelope.command_id;
        let shut_down = || SendError::Unavailable {
            command_id,
            source: "the command sender is shut down".into(),
        };
        // Waiting before publishing: the reply may come before the acknowledgement.
        let mut waiting = self
            .inner
            .pending
            .wait_for(command_id)
            .ok_or_else(shut_down)?;
        let timed_out = || SendError::Timeout {
            command_id,
            waited: timeout,
        };
        tokio::time::timeout_at(give_up_at, self.publish_in(envelope, topic, span))
            .await
            .map_err(|_| timed_out())??;
        match tokio::time::timeout_at(give_up_at, &mut waiting.reply).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(shut_down()),
            Err(_) => Err(timed_out()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl std::fmt::Debug for KafkaCommandSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaCommandSender")
            .field("reply_topic", &self.inner.config.reply_topic)
            .field("topics", &self.inner.config.topics)
            .finish_non_exhaustive()
    }
}
