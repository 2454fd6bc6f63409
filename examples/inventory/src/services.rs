//! Services mode: the inventory as a service of its own next to the order service. Its own
//! PostgreSQL event store and stock view (its own schemas; a database of its own works
//! too), its own relay; orders reach it only through Kafka.
//!
//! ```text
//! order service: Order events ──(its relay)──> topic `Order`
//!   topic `Order` ──(group inventory-fulfilment-saga)──> SagaProjection
//!        -> Product / OrderAllocation commands -> inventory event store
//!        -> ConfirmOrder / CancelOrder ──(KafkaCommandSender)──> topic `Order.commands`
//!                                                   ──> the order service's CommandProcessor
//!        <- replies on topic `inventory.replies`
//! inventory event store ──(its relay)──> topics `Product`, `OrderAllocation`
//!   topic `Product` ──(group inventory-stock-levels)──> PgStockLevels (PostgreSQL)
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
    CommandTopics, ConsumerConfig, ConsumerRunner, EventRelay, KafkaCommandSender, KafkaConfig,
    ProjectionHandler, RelayConfig, RunningConsumer, RunningRelay, SenderConfig, TopicMapping,
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
    /// Prefix of topic names (`{prefix}Order`, `{prefix}Order.commands`, ...) and of the
    /// consumer group ids: the same prefix as the order service's. Default empty.
    pub topic_prefix: String,
    /// Prefix of consumer group ids (after the topic prefix) and of the relay's checkpoint.
    /// Default `inventory`.
    pub group_prefix: String,
    /// Static membership in the consumer groups (`group.instance.id`), as a StatefulSet
    /// pod's name: a restarted process takes back its predecessor's partitions at once.
    pub group_instance_id: Option<String>,
    /// librdkafka properties set on every Kafka client (`KAFKA_PROPERTIES`).
    pub kafka_properties: Vec<(String, String)>,
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
            group_instance_id: None,
            kafka_properties: Vec::new(),
            partitions: 3,
        }
    }

    fn topic(&self, category: &str) -> String {
        format!("{}{category}", self.topic_prefix)
    }

    fn group(&self, name: &str) -> String {
        format!("{}{}-{name}", self.topic_prefix, self.group_prefix)
    }

    fn consumer(&self, group: String, topic: String, dead_letters: String) -> ConsumerConfig {
        ConsumerConfig {
            group_instance_id: self.group_instance_id.clone(),
            ..ConsumerConfig::new(group, [topic])
        }
        .with_dead_letter_topic(dead_letters)
    }
}

/// The inventory system on PostgreSQL and Kafka.
pub struct InventoryServices {
    /// Commands and queries.
    pub app: Inventory,
    /// The background workers and the event store `/health/ready` reports on.
    pub health: Health,
    relay: RunningRelay,
    order_bus: KafkaCommandSender,
    saga: RunningConsumer<ProjectionHandler<SagaProjection>>,
    stock: RunningConsumer<ProjectionHandler<PgStockLevels>>,
}

/// The event store's limits in services mode: every category the relay publishes (the
/// inventory's products and allocations) is limited to what the relay's producer can
/// publish ([`RelayConfig::max_payload_bytes`]), so the relay never meets a stored event
/// the broker refuses as too large; the store refuses it at append instead (HTTP 422).
pub fn store_limits(relay: &RelayConfig) -> StoreLimits {
    let base = StoreLimits::default();
    let max_payload = relay.max_payload_bytes(&base);
    [Product::TYPE, OrderAllocation::TYPE]
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
    /// Name of the event store's check in `/health/ready` (PostgreSQL answers).
    pub const STORE_CHECK: &'static str = "inventory-event-store";

    /// Connects, migrates, creates the topics, starts the relay, the order command sender,
    /// the saga and the view.
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

        let kafka = KafkaConfig::new(config.kafka_brokers.clone())
            .with_properties(config.kafka_properties.iter().cloned());
        // The order service's topics (it creates them too; whoever starts first does).
        let order_topic = config.topic(Order::TYPE);
        let command_topics = CommandTopics::new().with_prefix(config.topic_prefix.clone());
        let order_commands = command_topics.topic_for(Order::TYPE).into_owned();
        let replies = config.topic(&format!("{}.replies", config.group_prefix));
        let product_topic = config.topic(Product::TYPE);
        let allocation_topic = config.topic(OrderAllocation::TYPE);
        let saga_group = config.group("fulfilment-saga");
        let stock_group = config.group("stock-levels");
        // `{prefix}Order.inventory-fulfilment-saga.dlq`: the prefix once, at the front.
        let saga_dlq = format!("{order_topic}.{}-fulfilment-saga.dlq", config.group_prefix);
        let stock_dlq = format!("{product_topic}.{}-stock-levels.dlq", config.group_prefix);
        cqrs_kafka::create_topics(
            &kafka,
            &[
                order_topic.as_str(),
                order_commands.as_str(),
                replies.as_str(),
                product_topic.as_str(),
                allocation_topic.as_str(),
                saga_dlq.as_str(),
                stock_dlq.as_str(),
            ],
            config.partitions,
            1,
        )
        .await?;
        let order_bus =
            KafkaCommandSender::start(kafka.clone(), SenderConfig::new(command_topics, replies))
                .await?;
        let app = Inventory::new(
            store.clone(),
            Arc::new(view.clone()),
            Arc::new(order_bus.clone()),
        );

        let health = Health::new();
        health.check_store(Self::STORE_CHECK, store.clone());
        // Any number of replicas: one publishes, the others stand by (see the README).
        let relay = EventRelay::new(store, kafka.clone())
            .with_config(relay_config)
            .with_lease(leases, LeaseConfig::default())
            .spawn();
        let saga = ConsumerRunner::new(
            kafka.clone(),
            config.consumer(saga_group.clone(), order_topic.clone(), saga_dlq),
            ProjectionHandler::new(SagaProjection::new(app.saga())),
        )
        .spawn()?;
        let stock = ConsumerRunner::new(
            kafka,
            config.consumer(stock_group.clone(), product_topic.clone(), stock_dlq),
            ProjectionHandler::new(view),
        )
        .spawn()?;
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
            order_bus,
            saga,
            stock,
        })
    }

    /// How far this process's stock-view consumer has processed the log (see
    /// `cqrs_kafka::ConsumerStats::processed_position` for what that means per partition,
    /// and its limits with several replicas): what a query's `min_position` waits for.
    pub fn stock_position(&self) -> cqrs_core::worker::ProcessedPosition {
        self.stock.processed_position()
    }

    /// Stops the consumers (committing their offsets), then the command sender, then the
    /// relay (flushing and storing its checkpoint).
    pub async fn shutdown(self) -> Result<(), BoxError> {
        let saga = self.saga.shutdown().await.map(|_| ());
        let stock = self.stock.shutdown().await.map(|_| ());
        self.order_bus.shutdown().await;
        let relay = self.relay.shutdown().await;
        saga?;
        stock?;
        relay?;
        Ok(())
    }
}
