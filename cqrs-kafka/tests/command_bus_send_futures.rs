//! Every public async fn of the Kafka command bus returns a `Send` future, awaitable
//! inside `tokio::spawn`, and the sender can be shared as an `Arc<dyn CommandBus>`. This
//! test only needs to compile.

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{CommandBus, CommandEnvelope, CommandRouter};
use cqrs_kafka::{
    CommandProcessor, CommandTopics, KafkaCommandSender, KafkaConfig, ProcessorConfig, SenderConfig,
};

#[allow(dead_code)]
fn every_public_future_is_send(kafka: KafkaConfig, envelope: CommandEnvelope) {
    tokio::spawn(async move {
        let config = SenderConfig::new(CommandTopics::new(), "replies");
        let sender = KafkaCommandSender::start(kafka.clone(), config).await?;
        sender.publish(&envelope).await?;
        sender
            .send(envelope.clone(), Duration::from_secs(1))
            .await?;
        let shared: Arc<dyn CommandBus> = Arc::new(sender.clone());
        shared.send(envelope, Duration::from_secs(1)).await?;
        sender.shutdown().await;
        let router = CommandRouter::new();
        let config = ProcessorConfig::for_router("g", &router, &CommandTopics::new(), "dlq");
        let running = CommandProcessor::new(kafka, config, router).spawn()?;
        running.shutdown().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    });
}

#[test]
fn compiles() {}
