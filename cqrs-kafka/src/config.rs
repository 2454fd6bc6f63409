//! Connection settings shared by the relay, the consumer runner and the admin helpers.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

/// Where the brokers are, plus any librdkafka property.
///
/// Every client this crate builds starts from these properties; the relay and the
/// consumer runner then set the properties their guarantees depend on (idempotence,
/// manual commits), which cannot be overridden here.
///
/// ```
/// use cqrs_kafka::KafkaConfig;
/// let kafka = KafkaConfig::new("127.0.0.1:9092").set("client.id", "orders-service");
/// assert_eq!(kafka.brokers(), "127.0.0.1:9092");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    brokers: String,
    properties: BTreeMap<String, String>,
}

impl KafkaConfig {
    /// Brokers as a comma-separated `host:port` list (librdkafka `bootstrap.servers`).
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            properties: BTreeMap::new(),
        }
    }

    /// Sets a librdkafka property (security, client id, timeouts, ...).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Sets every `(key, value)` librdkafka property of `properties` (e.g. parsed from a
    /// service's `KAFKA_PROPERTIES`).
    ///
    /// ```
    /// let kafka = cqrs_kafka::KafkaConfig::new("127.0.0.1:9092")
    ///     .with_properties([("security.protocol", "ssl"), ("client.id", "orders")]);
    /// assert_eq!(kafka.client_config().get("client.id"), Some("orders"));
    /// ```
    pub fn with_properties<K: Into<String>, V: Into<String>>(
        self,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        properties
            .into_iter()
            .fold(self, |kafka, (key, value)| kafka.set(key, value))
    }

    /// The bootstrap brokers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// A librdkafka configuration with the brokers and every property set here.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }
}
