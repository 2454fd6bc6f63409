//! Services mode: PostgreSQL event store and stock view, Kafka between the order events
//! and the saga.
//!
//! ```text
//! HTTP command -> Repository -> PostgreSQL event store ──(outbox relay)──> Kafka topics
//!                                                   `Order`, `Product`, `Allocation`
//!   topic `Order`   ──(group inventory-fulfilment-saga)──> SagaProjection -> commands
//!   topic `Product` ──(group inventory-stock-levels)────> PgStockLevels (PostgreSQL)
//! HTTP query <- PgStockLevels
//! ```
//!
//! The saga and the view are [`TypedProjection`](cqrs_core::TypedProjection)s fed through
//! [`ProjectionHandler`]: they receive `OrderEvent`s and `ProductEvent`s decoded. Both
//! consumers are at least once; the saga's recorded decision per order and the view's
//! per-stream version guard make redelivery a no-op. Failures are classified
//! ([`SagaError::kind`](crate::saga::SagaError::kind),
//! [`PgViewError::kind`](crate::views::PgViewError::kind)): a store or database that is
//! unreachable is transient (retried, never skipped); an undecodable event, or one the
//! database or store refuses for good (SQLSTATE 22, 23, 42, 54, invalid input), goes to a
//! dead-letter topic and the consumer moves on.

use std::sync::Arc;

use cqrs_core::lease::{LeaseConfig, LeaseStore};
use cqrs_core::{Aggregate, EventStore, StoreLimits};
use cqrs_kafka::{
    ConsumerConfig, ConsumerRunner, EventRelay, KafkaConfig, ProjectionHandler, RelayConfig,
    RunningConsumer, RunningRelay, TopicMapping,
};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName};
use order::domain::Order;
use service_kit::Health;

use crate::domain::{OrderAllocation, Product};
use crate::saga::SagaProjection;
use crate::views::PgStockLevels;
use crate::Inventory;

use cqrs_core::BoxError;

/// Where the services are and how this deployment names its things in them.
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    /// PostgreSQL URL (event store and stock view).
    pub database_url: String,
    /// Kafka bootstrap servers.
    pub kafka_brokers: String,
    /// Schema of the event store. Default `inventory_events`.
    pub event_schema: String,
    /// Schema of the stock view. Default `inventory_views`.
    pub view_schema: String,
    /// Prefix of topic names (`{prefix}Order`, ...). Default empty.
    pub topic_prefix: String,
    /// Prefix of consumer group ids and of the relay's checkpoint. Default `inventory`.
    pub group_prefix: String,
    /// Partitions of the topics created at start-up. Default 3.
    pub partitions: i32,
}

impl ServicesConfig {
    /// Defaults for the given PostgreSQL and Kafka.
    pub fn new(database_url: impl Into<String>, kafka_brokers: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            kafka_brokers: kafka_brokers.into(),
            event_schema: "inventory_events".into(),
            view_schema: "inventory_views".into(),
            topic_prefix: String::new(),
            group_prefix: "inventory".into(),
            partitions: 3,
        }
    }

    fn topic(&self, category: &str) -> String {
        format!("{}{category}", self.topic_prefix)
    }
}

/// The inventory system on PostgreSQL and Kafka.
pub struct InventoryServices {
    /// Commands and queries.
    pub app: Inventory,
    /// The background workers `/health/ready` reports on.
    pub health: Health,
    relay: RunningRelay,
    saga: RunningConsumer<ProjectionHandler<SagaProjection>>,
    stock: RunningConsumer<ProjectionHandler<PgStockLevels>>,
}

/// The event store's limits in services mode: every category the relay publishes (the
/// inventory's products and allocations, and the orders it stores) is limited to what the
/// relay's producer can publish ([`RelayConfig::max_payload_bytes`]), so the relay never
/// meets a stored event the broker refuses as too large; the store refuses it at append
/// instead (HTTP 422).
pub fn store_limits(relay: &RelayConfig) -> StoreLimits {
    let base = StoreLimits::default();
    let max_payload = relay.max_payload_bytes(&base);
    [Product::TYPE, OrderAllocation::TYPE, Order::TYPE]
        .into_iter()
        .fold(base, |limits, category| {
            limits.with_category_max_payload(category, max_payload)
        })
}

impl InventoryServices {
    /// Name of the outbox relay in `/health/ready`.
    pub const RELAY_WORKER: &'static str = "inventory-relay";
    /// Name of the saga's consumer in `/health/ready`.
    pub const SAGA_WORKER: &'static str = "fulfilment-saga-consumer";
    /// Name of the stock view's consumer in `/health/ready`.
    pub const STOCK_WORKER: &'static str = "stock-levels-consumer";

    /// Connects, migrates, creates the topics, starts the relay, the saga and the view.
    pub async fn start(config: ServicesConfig) -> Result<Self, BoxError> {
        let relay_config = RelayConfig {
            checkpoint_name: format!("{}-kafka-relay", config.group_prefix),
            topics: TopicMapping::by_category().with_prefix(config.topic_prefix.clone()),
            ..RelayConfig::default()
        };
        let store = PgEventStore::connect(
            &config.database_url,
            PgEventStoreConfig::new(SchemaName::new(config.event_schema.clone())?)
                .limits(store_limits(&relay_config)),
        )
        .await?;
        store.migrate().await?;
        let view = PgStockLevels::new(
            store.pool().clone(),
            &SchemaName::new(config.view_schema.clone())?,
        );
        view.migrate().await?;
        let store = Arc::new(store);
        let leases: Arc<dyn LeaseStore> = store.clone();
        let store: Arc<dyn EventStore> = store;
        let app = Inventory::new(store.clone(), Arc::new(view.clone()));

        let kafka = KafkaConfig::new(config.kafka_brokers.clone());
        let order_topic = config.topic(Order::TYPE);
        let product_topic = config.topic(Product::TYPE);
        let allocation_topic = config.topic(OrderAllocation::TYPE);
        let saga_group = format!("{}-fulfilment-saga", config.group_prefix);
        let stock_group = format!("{}-stock-levels", config.group_prefix);
        let saga_dlq = format!("{order_topic}.{saga_group}.dlq");
        let stock_dlq = format!("{product_topic}.{stock_group}.dlq");
        cqrs_kafka::create_topics(
            &kafka,
            &[
                order_topic.as_str(),
                product_topic.as_str(),
                allocation_topic.as_str(),
                saga_dlq.as_str(),
                stock_dlq.as_str(),
            ],
            config.partitions,
            1,
        )
        .await?;

        // Any number of replicas: one publishes, the others stand by (see the README).
        let relay = EventRelay::new(store, kafka.clone())
            .with_config(relay_config)
            .with_lease(leases, LeaseConfig::default())
            .spawn();
        let saga = ConsumerRunner::new(
            kafka.clone(),
            ConsumerConfig::new(saga_group.clone(), [order_topic.clone()])
                .with_dead_letter_topic(saga_dlq),
            ProjectionHandler::new(SagaProjection::new(app.saga())),
        )
        .spawn()?;
        let stock = ConsumerRunner::new(
            kafka,
            ConsumerConfig::new(stock_group.clone(), [product_topic.clone()])
                .with_dead_letter_topic(stock_dlq),
            ProjectionHandler::new(view),
        )
        .spawn()?;
        let health = Health::new();
        health.watch(Self::RELAY_WORKER, relay.state());
        health.watch(Self::SAGA_WORKER, saga.state());
        health.watch(Self::STOCK_WORKER, stock.state());
        tracing::info!(
            order_topic,
            product_topic,
            saga_group,
            stock_group,
            "inventory services started"
        );
        Ok(Self {
            app,
            health,
            relay,
            saga,
            stock,
        })
    }

    /// Stops the consumers (committing their offsets), then the relay (flushing and
    /// storing its checkpoint).
    pub async fn shutdown(self) -> Result<(), BoxError> {
        let saga = self.saga.shutdown().await.map(|_| ());
        let stock = self.stock.shutdown().await.map(|_| ());
        let relay = self.relay.shutdown().await;
        saga?;
        stock?;
        relay?;
        Ok(())
    }
}
