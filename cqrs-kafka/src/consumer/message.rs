//! A borrowed view of a consumed Kafka message, independent of the client's types.

use std::fmt;

use rdkafka::message::{BorrowedMessage, Headers, Message};

/// Where a message was consumed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSource<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
}

impl fmt::Display for MessageSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "topic `{}` partition {} offset {}",
            self.topic, self.partition, self.offset
        )
    }
}

/// A consumed message as a [`Decoder`](crate::Decoder) sees it.
pub struct IncomingMessage<'a> {
    message: &'a BorrowedMessage<'a>,
}

impl<'a> IncomingMessage<'a> {
    pub(crate) fn new(message: &'a BorrowedMessage<'a>) -> Self {
        Self { message }
    }

    /// Topic, partition and offset.
    pub fn source(&self) -> MessageSource<'a> {
        MessageSource {
            topic: self.message.topic(),
            partition: self.message.partition(),
            offset: self.message.offset(),
        }
    }

    /// The message key.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.message.key()
    }

    /// The message value.
    pub fn payload(&self) -> Option<&'a [u8]> {
        self.message.payload()
    }

    /// The message timestamp in milliseconds since the Unix epoch, if any.
    pub fn timestamp_millis(&self) -> Option<i64> {
        self.message.timestamp().to_millis()
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value)
    }

    /// Every header, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + 'a {
        self.message
            .headers()
            .into_iter()
            .flat_map(|headers| headers.iter())
            .map(|header| (header.key, header.value))
    }
}
