//! Configuration of a [`MongoEventStore`](crate::MongoEventStore).

use std::time::Duration;

use cqrs_core::StoreLimits;

use crate::error::SetupError;

/// Where the store keeps its data and how it behaves.
///
/// ```
/// use std::time::Duration;
/// use cqrs_mongo::MongoEventStoreConfig;
/// let config = MongoEventStoreConfig::new("orders").collection_prefix("es_");
/// assert_eq!(config.events_collection, "es_events");
/// assert_eq!(config.command_refusals_collection, "es_command_refusals");
/// assert_eq!(config.transaction_timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MongoEventStoreConfig {
    /// Database holding every collection of the store.
    pub database: String,
    /// One document per event. Default `events`.
    pub events_collection: String,
    /// One document per stream with its latest snapshot. Default `snapshots`.
    pub snapshots_collection: String,
    /// One document per consumer with its checkpoint. Default `checkpoints`.
    pub checkpoints_collection: String,
    /// The global position counter. Default `counters`.
    pub counters_collection: String,
    /// Leases of workers (`cqrs_core::lease`). Default `leases`.
    pub leases_collection: String,
    /// One document per refused command, keyed by the command id
    /// (`cqrs_core::store::commands`). Default `command_refusals`.
    pub command_refusals_collection: String,
    /// Input limits checked before anything is written.
    pub limits: StoreLimits,
    /// How long an append keeps retrying transient transaction errors (write conflicts,
    /// elections) before it reports them. Default 30 s. (A transactional projection's
    /// batch is retried by its runner instead, for as long as the failure lasts.)
    pub transaction_timeout: Duration,
    /// How often the background task reads the head position, as a fallback for missed
    /// change-stream events. Default 1 s.
    pub poll_interval: Duration,
    /// Whether to open a change stream for low-latency wake-ups. Default true.
    pub change_stream: bool,
}

impl MongoEventStoreConfig {
    /// The default configuration for `database`.
    pub fn new(database: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            events_collection: "events".into(),
            snapshots_collection: "snapshots".into(),
            checkpoints_collection: "checkpoints".into(),
            counters_collection: "counters".into(),
            leases_collection: "leases".into(),
            command_refusals_collection: "command_refusals".into(),
            limits: StoreLimits::default(),
            transaction_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            change_stream: true,
        }
    }

    /// Prefixes every collection name (several stores in one database).
    pub fn collection_prefix(mut self, prefix: &str) -> Self {
        for name in [
            &mut self.events_collection,
            &mut self.snapshots_collection,
            &mut self.checkpoints_collection,
            &mut self.counters_collection,
            &mut self.leases_collection,
            &mut self.command_refusals_collection,
        ] {
            name.insert_str(0, prefix);
        }
        self
    }

    /// Sets the input limits.
    pub fn limits(mut self, limits: StoreLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Checks that every name is usable by MongoDB.
    pub fn validate(&self) -> Result<(), SetupError> {
        let bad_db = |c: char| "/\\. \"$\0".contains(c);
        if self.database.is_empty() || self.database.len() > 63 || self.database.contains(bad_db) {
            return Err(SetupError::Config(format!(
                "invalid database name `{}`",
                self.database
            )));
        }
        let names = [
            &self.events_collection,
            &self.snapshots_collection,
            &self.checkpoints_collection,
            &self.counters_collection,
            &self.leases_collection,
            &self.command_refusals_collection,
        ];
        for name in names {
            if name.is_empty() || name.contains(['$', '\0']) || name.starts_with("system.") {
                return Err(SetupError::Config(format!(
                    "invalid collection name `{name}`"
                )));
            }
        }
        for (i, a) in names.iter().enumerate() {
            if names[i + 1..].contains(a) {
                return Err(SetupError::Config(format!(
                    "collection `{a}` is configured twice"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid_and_distinct() {
        assert!(MongoEventStoreConfig::new("cqrs").validate().is_ok());
    }

    #[test]
    fn unusable_names_are_refused() {
        assert!(MongoEventStoreConfig::new("a.b").validate().is_err());
        assert!(MongoEventStoreConfig::new("").validate().is_err());
        let mut config = MongoEventStoreConfig::new("cqrs");
        config.snapshots_collection = "events".into();
        assert!(config.validate().is_err());
        config.snapshots_collection = "sys$".into();
        assert!(config.validate().is_err());
    }
}
