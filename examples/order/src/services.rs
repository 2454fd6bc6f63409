//! The services wiring: PostgreSQL (or MongoDB) event store, Kafka between the command side
//! and the query side, the price-tier view in PostgreSQL.
//!
//! ```text
//! HTTP command -> Repository -> event store ──(outbox relay)──> Kafka topic `Order`
//!                                                                 │ consumer group
//! HTTP query  <- PgPriceTiers (PostgreSQL) <── ProjectionHandler <┘
//! topic `Order.commands` (other services: the inventory's saga)
//!   ──(group order-command-processor)──> CommandProcessor -> Repository -> event store
//!   replies -> each command's reply-to topic
//! ```
//!
//! The view is a [`TypedProjection`](cqrs_core::TypedProjection) of `Order`, fed through
//! [`ProjectionHandler`]; its failures are classified by
//! [`PgViewError::kind`](crate::views::PgViewError::kind): a lost connection, a timeout or
//! a closed pool is transient (retried without skipping); an undecodable event or one the
//! database refuses for good (SQLSTATE classes 22, 23, 42, 54, e.g. a sku over the b-tree
//! key limit) is rejected (dead-lettered, and the consumer moves on).

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::lease::{LeaseConfig, LeaseStore};
use cqrs_core::{CommandRouter, EventStore, Repository, StoreLimits};
use cqrs_kafka::{
    CommandProcessor, CommandTopics, ConsumerConfig, ConsumerRunner, EventRelay, KafkaConfig,
    ProcessorConfig, ProjectionHandler, RelayConfig, RunningCommandProcessor, RunningConsumer,
    RunningRelay, TopicMapping,
};
use cqrs_mongo::{MongoEventStore, MongoEventStoreConfig};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, PoolConfig, SchemaName};
use service_kit::Health;

use crate::domain::Order;
use crate::http::AppState;
use crate::views::PgPriceTiers;

use cqrs_core::BoxError;

/// The event store's limits in services mode: `Order` payloads no larger than the relay's
/// producer can publish ([`RelayConfig::max_payload_bytes`]: librdkafka's
/// `message.max.bytes`, 1,000,000 bytes by default, minus room for the key and headers).
///
/// The outbox relay publishes every stored event as one Kafka message, and the producer
/// refuses messages over that size: an event the store accepted but the producer refuses
/// would stop the relay while the API kept answering 201. The store refuses it at append
/// instead (HTTP 422). The domain's limits keep the largest valid order far below this
/// (tested); this bound catches whatever else would slip through. Raise it only together
/// with the producer's `message.max.bytes` (`RelayConfig::max_message_bytes`) and the
/// broker's and topic's `max.message.bytes`.
pub fn store_limits(relay: &RelayConfig) -> StoreLimits {
    let base = StoreLimits::default();
    let max_payload = relay.max_payload_bytes(&base);
    base.with_category_max_payload(<Order as cqrs_core::Aggregate>::TYPE, max_payload)
}

/// Where the services are and how this instance names its things in them.
#[derive(Debug, Clone)]
pub struct ServicesConfig {
    /// PostgreSQL URL (read model; event store unless `mongodb_url` is set).
    pub database_url: String,
    /// Kafka bootstrap servers.
    pub kafka_brokers: String,
    /// MongoDB URL: when set, the event store is MongoDB (a replica set).
    pub mongodb_url: Option<String>,
    /// PostgreSQL schema (or MongoDB database) of the event store. Default `order_events`.
    pub event_schema: String,
    /// PostgreSQL schema of the read model. Default `order_views`.
    pub view_schema: String,
    /// Topic prefix (the `Order` events go to `{prefix}Order`). Default empty.
    pub topic_prefix: String,
    /// Consumer group of the read-model updater (after the topic prefix). Default
    /// `order-price-tiers`.
    pub group_id: String,
    /// Consumer group of the command processor (after the topic prefix). Default
    /// `order-command-processor`.
    pub command_group_id: String,
    /// This replica's static member id in that group (Kafka's `group.instance.id`),
    /// stable across its restarts, e.g. the pod's name. Default `None` (see
    /// [`ConsumerConfig::group_instance_id`] for the trade-off).
    pub group_instance_id: Option<String>,
    /// librdkafka properties set on every Kafka client (`KAFKA_PROPERTIES`).
    pub kafka_properties: Vec<(String, String)>,
}

impl ServicesConfig {
    /// Defaults for the given PostgreSQL and Kafka.
    pub fn new(database_url: impl Into<String>, kafka_brokers: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            kafka_brokers: kafka_brokers.into(),
            mongodb_url: None,
            event_schema: "order_events".into(),
            view_schema: "order_views".into(),
            topic_prefix: String::new(),
            group_id: "order-price-tiers".into(),
            command_group_id: "order-command-processor".into(),
            group_instance_id: None,
            kafka_properties: Vec::new(),
        }
    }

    fn topic(&self) -> String {
        format!(
            "{}{}",
            self.topic_prefix,
            <Order as cqrs_core::Aggregate>::TYPE
        )
    }
}

/// The order system on real services.
pub struct OrderServices {
    /// Command side.
    pub orders: Repository<Order, dyn EventStore>,
    /// Query side.
    pub view: PgPriceTiers,
    health: Health,
    relay: RunningRelay,
    consumer: RunningConsumer<ProjectionHandler<PgPriceTiers>>,
    commands: RunningCommandProcessor,
}

impl OrderServices {
    /// Name of the outbox relay in `/health/ready`.
    pub const RELAY_WORKER: &'static str = "order-relay";
    /// Name of the price-tier view updater in `/health/ready`.
    pub const VIEW_WORKER: &'static str = "price-tier-consumer";
    /// Name of the command processor in `/health/ready`.
    pub const COMMAND_WORKER: &'static str = "order-command-processor";
    /// Name of the event store's check in `/health/ready` (PostgreSQL or MongoDB answers).
    pub const STORE_CHECK: &'static str = "order-event-store";
}

impl OrderServices {
    /// Connects, migrates, creates the topic, starts the relay and the view updater.
    pub async fn start(config: ServicesConfig) -> Result<Self, BoxError> {
        let relay_config = RelayConfig {
            topics: TopicMapping::by_category().with_prefix(config.topic_prefix.clone()),
            ..RelayConfig::default()
        };
        // The read model's pool gets the store's session settings (statement timeout, idle
        // transaction timeout, TCP keepalive).
        let pool = PoolConfig {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            ..PoolConfig::default()
        }
        .connect(&config.database_url)
        .await?;
        // The relay's lease lives in the event store (either kind keeps leases).
        let (store, leases): (Arc<dyn EventStore>, Arc<dyn LeaseStore>) = match &config.mongodb_url
        {
            Some(url) => {
                let store = MongoEventStore::connect(
                    url,
                    MongoEventStoreConfig::new(config.event_schema.clone())
                        .limits(store_limits(&relay_config)),
                )
                .await?;
                store.migrate().await?;
                let store = Arc::new(store);
                (store.clone(), store)
            }
            None => {
                let schema = SchemaName::new(config.event_schema.clone())?;
                let store = PgEventStore::connect(
                    &config.database_url,
                    PgEventStoreConfig::new(schema).limits(store_limits(&relay_config)),
                )
                .await?;
                store.migrate().await?;
                let store = Arc::new(store);
                (store.clone(), store)
            }
        };
        let view = PgPriceTiers::new(pool, SchemaName::new(config.view_schema.clone())?);
        view.migrate().await?;

        let kafka = KafkaConfig::new(config.kafka_brokers.clone())
            .with_properties(config.kafka_properties.iter().cloned());
        let topic = config.topic();
        let dead_letters = format!("{topic}.dlq");
        let commands = CommandTopics::new()
            .with_prefix(config.topic_prefix.clone())
            .topic_for(<Order as cqrs_core::Aggregate>::TYPE)
            .into_owned();
        let command_dead_letters = format!("{commands}.dlq");
        // Every topic: a broker that does not create topics on first use (most production
        // clusters, and tansu) would otherwise refuse the first dead letter, and the view
        // updater would stop at the message it meant to set aside.
        cqrs_kafka::create_topics(
            &kafka,
            &[
                topic.as_str(),
                dead_letters.as_str(),
                commands.as_str(),
                command_dead_letters.as_str(),
            ],
            3,
            1,
        )
        .await?;
        let orders: Repository<Order, dyn EventStore> = Repository::new(store.clone());
        // Any number of replicas: one publishes, the others stand by (see the README).
        let relay = EventRelay::new(store.clone(), kafka.clone())
            .with_config(relay_config)
            .with_lease(leases, LeaseConfig::default())
            .spawn();
        // Group ids start with the topic prefix too: one deployment's groups never meet
        // another's on a shared broker.
        let view_group = format!("{}{}", config.topic_prefix, config.group_id);
        let consumer = ConsumerRunner::new(
            kafka.clone(),
            ConsumerConfig {
                group_instance_id: config.group_instance_id.clone(),
                ..ConsumerConfig::new(view_group.clone(), [topic.clone()])
            }
            .with_dead_letter_topic(dead_letters),
            ProjectionHandler::new(view.clone()),
        )
        .spawn()?;
        let command_group = format!("{}{}", config.topic_prefix, config.command_group_id);
        let commands = CommandProcessor::new(
            kafka,
            ProcessorConfig {
                group_instance_id: config.group_instance_id.clone(),
                ..ProcessorConfig::new(command_group, [commands], command_dead_letters)
            },
            CommandRouter::new().route(orders.clone()),
        )
        .spawn()?;
        let health = Health::new();
        health.check_store(Self::STORE_CHECK, store);
        health.watch(Self::RELAY_WORKER, relay.state());
        health.watch(Self::VIEW_WORKER, consumer.state());
        health.watch(Self::COMMAND_WORKER, commands.state());
        tracing::info!(topic, group = view_group, "order services started");
        Ok(Self {
            orders,
            view,
            health,
            relay,
            consumer,
            commands,
        })
    }

    /// The HTTP API's state.
    pub fn app_state(&self) -> AppState {
        AppState {
            orders: self.orders.clone(),
            tiers: Arc::new(self.view.clone()),
            // This replica's consumer: see the README on read-your-writes with replicas.
            tiers_position: self.consumer.processed_position(),
            orders_position: cqrs_core::worker::ProcessedPosition::store_head(
                "order-event-store",
                self.orders.store().clone(),
            ),
            read_your_writes: service_kit::read_your_writes::ReadYourWrites::default(),
            health: self.health.clone(),
        }
    }

    /// Stops the consumer (committing its offsets) and the relay (flushing and storing its
    /// checkpoint). Both are stopped even when the first fails; the first error is returned.
    pub async fn shutdown(self) -> Result<(), BoxError> {
        let commands = self.commands.shutdown().await.map(|_| ());
        let consumer = self.consumer.shutdown().await;
        let relay = self.relay.shutdown().await;
        commands?;
        consumer?;
        relay?;
        Ok(())
    }
}
