//! The reply listener of a sender: reads every partition of the reply topic from where it
//! ended when the sender started, and hands each reply to the sender's waiter of its
//! command id.
//!
//! No consumer group balances the reply topic: every sender replica reads all its
//! partitions (`assign`, never `subscribe`; the consumer has a group id of its own only
//! because librdkafka needs one to assign, and never commits) and ignores replies to
//! commands it does not wait for. So replicas can share one reply topic and each sees its
//! own replies, whatever partition they land on.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::CommandReply;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::watch;
use uuid::Uuid;

use super::headers;
use super::pending::Pending;
use super::SenderSetupError;
use crate::{logging, KafkaConfig};

/// librdkafka's logs and errors to `tracing`, for the listener's consumer.
pub(crate) struct ListenerContext;

impl ClientContext for ListenerContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        logging::log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        logging::client_error(&error, reason);
    }
}

impl ConsumerContext for ListenerContext {}

pub(crate) type ReplyConsumer = StreamConsumer<ListenerContext>;

/// A consumer assigned every partition of `topic` at its current end (blocking: call it
/// off the runtime).
pub(crate) fn reply_consumer(
    kafka: &KafkaConfig,
    topic: &str,
    fetch_wait: Duration,
) -> Result<ReplyConsumer, SenderSetupError> {
    const TIMEOUT: Duration = Duration::from_secs(10);
    let client = |source| SenderSetupError::Client { source };
    let reply_topic = |reason: String| SenderSetupError::ReplyTopic {
        topic: topic.to_owned(),
        reason,
    };
    let mut config = kafka.client_config();
    config
        .set("group.id", format!("{topic}.listener-{}", Uuid::now_v7()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "fetch.wait.max.ms",
            fetch_wait.as_millis().max(1).to_string(),
        );
    let consumer: ReplyConsumer = config
        .create_with_context(ListenerContext)
        .map_err(client)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(client)?;
    let found = metadata.topics().iter().find(|t| t.name() == topic);
    let partitions = match found {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => t.partitions(),
        Some(t) => {
            return Err(reply_topic(match t.error() {
                Some(error) => format!(
                    "the broker says {:?}",
                    rdkafka::error::RDKafkaErrorCode::from(error)
                ),
                None => "it has no partitions".to_owned(),
            }))
        }
        None => return Err(reply_topic("the broker does not know it".to_owned())),
    };
    let mut assignment = TopicPartitionList::new();
    for partition in partitions {
        let (_, end) = consumer
            .fetch_watermarks(topic, partition.id(), TIMEOUT)
            .map_err(client)?;
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Offset(end))
            .map_err(client)?;
    }
    consumer.assign(&assignment).map_err(client)?;
    Ok(consumer)
}

/// Hands replies to their waiters until `stop` (or its sender is dropped); then closes
/// the consumer off the runtime.
pub(crate) async fn listen(
    consumer: ReplyConsumer,
    pending: Arc<Pending>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        let received = tokio::select! {
            changed = stop.changed() => match changed {
                Ok(()) if !*stop.borrow() => continue,
                _ => break,
            },
            received = consumer.recv() => received,
        };
        match received {
            Ok(message) => {
                failures = 0;
                hand_over(&message, &pending);
            }
            Err(error) => {
                // librdkafka reconnects by itself; don't spin meanwhile.
                failures += 1;
                tracing::warn!(%error, "receiving replies failed");
                let delay = Duration::from_millis(50 * u64::from(failures.min(20)));
                tokio::time::sleep(delay).await;
            }
        }
    }
    if let Err(error) = tokio::task::spawn_blocking(move || drop(consumer)).await {
        tracing::warn!(%error, "closing the reply consumer failed");
    }
}

/// Delivers `message` to the waiter of its command id, if any.
fn hand_over(message: &BorrowedMessage<'_>, pending: &Pending) {
    let at = || {
        format!(
            "topic `{}` partition {} offset {}",
            message.topic(),
            message.partition(),
            message.offset()
        )
    };
    // The header says whose reply it is without parsing the value.
    let command_id = header(message, headers::COMMAND_ID).and_then(|id| Uuid::from_str(id).ok());
    if let Some(command_id) = command_id {
        if !pending.is_waiting(command_id) {
            tracing::debug!(%command_id, at = %at(), "reply to a command this sender does not wait for (timed out, or another sender's)");
            return;
        }
    }
    let reply: CommandReply = match serde_json::from_slice(message.payload().unwrap_or_default()) {
        Ok(reply) => reply,
        Err(error) => {
            tracing::warn!(at = %at(), %error, "not a command reply; ignored");
            return;
        }
    };
    let command_id = reply.command_id;
    if !pending.deliver(reply) {
        tracing::debug!(%command_id, at = %at(), "reply to a command this sender does not wait for (timed out, or another sender's)");
    }
}

fn header<'m>(message: &'m BorrowedMessage<'_>, name: &str) -> Option<&'m str> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}
