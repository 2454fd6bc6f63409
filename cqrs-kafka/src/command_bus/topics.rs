//! Which topic carries the commands of an aggregate type.

use std::borrow::Cow;
use std::collections::HashMap;

use cqrs_core::CommandRouter;

/// Maps aggregate types to command topics: `{prefix}{AggregateType}.commands` by default,
/// or a topic routed explicitly. The sender publishes to it, keyed by aggregate id (one
/// aggregate's commands on one partition, in order); the processor consumes it.
///
/// ```
/// use cqrs_kafka::CommandTopics;
/// let topics = CommandTopics::new().with_prefix("shop.").route("Invoice", "billing-commands");
/// assert_eq!(topics.topic_for("Order"), "shop.Order.commands");
/// assert_eq!(topics.topic_for("Invoice"), "billing-commands");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandTopics {
    prefix: String,
    routes: HashMap<String, String>,
}

impl CommandTopics {
    /// `{AggregateType}.commands` for every type.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prepends `prefix` to the default topic names (not to explicit routes).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sends the commands of `aggregate_type` to `topic`.
    pub fn route(mut self, aggregate_type: impl Into<String>, topic: impl Into<String>) -> Self {
        self.routes.insert(aggregate_type.into(), topic.into());
        self
    }

    /// The topic of `aggregate_type`'s commands.
    pub fn topic_for(&self, aggregate_type: &str) -> Cow<'_, str> {
        match self.routes.get(aggregate_type) {
            Some(topic) => Cow::Borrowed(topic),
            None => Cow::Owned(format!("{}{aggregate_type}.commands", self.prefix)),
        }
    }

    /// The topics of every aggregate type `router` routes (what its processor consumes),
    /// without repeats.
    pub fn topics_of(&self, router: &CommandRouter) -> Vec<String> {
        let mut topics: Vec<String> = router
            .aggregate_types()
            .map(|aggregate_type| self.topic_for(aggregate_type).into_owned())
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }
}
