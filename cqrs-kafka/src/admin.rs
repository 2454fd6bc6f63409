//! Topic administration: creating the topics the relay and the runners use.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::KafkaConfig;

/// A topic could not be created.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The admin client could not be built or the request failed as a whole (broker
    /// unreachable, request timed out, CreateTopics not supported by the broker).
    #[error("creating topics {topics:?} at `{brokers}` failed: {source}")]
    Request {
        /// The brokers asked.
        brokers: String,
        /// The topics requested.
        topics: Vec<String>,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// The broker refused one topic.
    #[error("the broker refused to create topic `{topic}`: {code}")]
    Refused {
        /// The topic.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
}

/// Creates `topics` with `partitions` partitions (replication factor `replication`),
/// treating topics that already exist as created.
///
/// Kafka brokers usually auto-create topics; many production clusters (and the tansu
/// broker) do not, so create the relay's topics, the consumers' dead-letter topics and the
/// topics of external producers up front.
pub async fn create_topics(
    kafka: &KafkaConfig,
    topics: &[&str],
    partitions: i32,
    replication: i32,
) -> Result<(), AdminError> {
    let request_error = |source| AdminError::Request {
        brokers: kafka.brokers().to_owned(),
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        source,
    };
    let admin: AdminClient<DefaultClientContext> =
        kafka.client_config().create().map_err(request_error)?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|topic| NewTopic::new(topic, partitions, TopicReplication::Fixed(replication)))
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(Duration::from_secs(10)))
        .operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(request_error)?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(AdminError::Refused { topic, code }),
        }
    }
    Ok(())
}
