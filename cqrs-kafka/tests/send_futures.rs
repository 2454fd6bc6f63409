//! Every public async fn of cqrs-kafka returns a `Send` future, awaitable inside
//! `tokio::spawn` and `#[async_trait]` methods. This test only needs to compile.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{EventStore, InMemoryEventStore};
use cqrs_kafka::{EventRelay, KafkaConfig};

fn assert_send<T: Send>(_: T) {}

#[async_trait]
trait Setup {
    async fn set_up(
        &self,
        kafka: &KafkaConfig,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

struct Service;

#[async_trait]
impl Setup for Service {
    async fn set_up(
        &self,
        kafka: &KafkaConfig,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        cqrs_kafka::create_topics(kafka, &["t"], 1, 1).await?;
        let relay = EventRelay::new(
            Arc::new(InMemoryEventStore::new()) as Arc<dyn EventStore>,
            kafka.clone(),
        )
        .spawn();
        relay.wait_until_caught_up(Duration::from_secs(1)).await?;
        relay.shutdown_within(Duration::from_secs(1)).await?;
        Ok(())
    }
}

#[allow(dead_code)]
fn every_public_future_is_send(kafka: KafkaConfig) {
    assert_send(Service.set_up(&kafka));
}

#[test]
fn compiles() {}
