//! Which topic an event is published to.

use std::borrow::Cow;
use std::collections::HashMap;

use cqrs_core::RecordedEvent;

/// Maps events to topics.
///
/// By default every stream category (the aggregate type: `Order` for stream `Order-42`,
/// see [`cqrs_core::stream_category`]) gets its own topic named after it. A prefix,
/// per-category routes, or one topic for everything can be configured. Events of one stream
/// always go to one topic, and the message key is the stream id, so a stream's events stay
/// in order on one partition.
///
/// ```
/// use cqrs_kafka::TopicMapping;
/// let topics = TopicMapping::by_category().with_prefix("shop.").route("Order", "orders");
/// assert_eq!(topics.topic_for_stream("Order-42"), "orders");
/// assert_eq!(topics.topic_for_stream("Invoice-7"), "shop.Invoice");
/// assert_eq!(TopicMapping::single("events").topic_for_stream("Order-1"), "events");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicMapping {
    prefix: String,
    routes: HashMap<String, String>,
    single: Option<String>,
}

impl TopicMapping {
    /// One topic per stream category, named after the category.
    pub fn by_category() -> Self {
        Self::default()
    }

    /// Every event to `topic`.
    pub fn single(topic: impl Into<String>) -> Self {
        Self {
            single: Some(topic.into()),
            ..Self::default()
        }
    }

    /// Prepends `prefix` to category topic names (not to explicit routes).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sends the events of `category` to `topic`.
    pub fn route(mut self, category: impl Into<String>, topic: impl Into<String>) -> Self {
        self.routes.insert(category.into(), topic.into());
        self
    }

    /// The topic of `event`.
    pub fn topic_for(&self, event: &RecordedEvent) -> Cow<'_, str> {
        self.topic_for_stream(&event.stream_id)
    }

    /// The topic of the events of `stream_id`.
    pub fn topic_for_stream(&self, stream_id: &str) -> Cow<'_, str> {
        if let Some(topic) = &self.single {
            return Cow::Borrowed(topic);
        }
        let category = cqrs_core::stream_category(stream_id);
        match self.routes.get(category) {
            Some(topic) => Cow::Borrowed(topic),
            None if self.prefix.is_empty() => Cow::Owned(category.to_owned()),
            None => Cow::Owned(format!("{}{category}", self.prefix)),
        }
    }
}
