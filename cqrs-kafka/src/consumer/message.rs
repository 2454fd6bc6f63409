//! A borrowed view of a consumed Kafka message, independent of the client's types.

use std::fmt;

use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Headers, Message};

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

/// A consumed message as a [`Decoder`](crate::Decoder) sees it: a consumed Kafka message,
/// or one built from its parts with [`from_parts`](IncomingMessage::from_parts) (to test a
/// decoder without a broker).
pub struct IncomingMessage<'a> {
    source: MessageSource<'a>,
    key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    timestamp_millis: Option<i64>,
    kafka_headers: Option<&'a BorrowedHeaders>,
    part_headers: &'a [(String, Option<Vec<u8>>)],
}

impl<'a> IncomingMessage<'a> {
    pub(crate) fn new(message: &'a BorrowedMessage<'a>) -> Self {
        Self {
            source: MessageSource {
                topic: message.topic(),
                partition: message.partition(),
                offset: message.offset(),
            },
            key: message.key(),
            payload: message.payload(),
            timestamp_millis: message.timestamp().to_millis(),
            kafka_headers: message.headers(),
            part_headers: &[],
        }
    }

    /// A message made of these parts, as if consumed from `source`; `headers` in order
    /// (names may repeat, values may be absent or any bytes).
    ///
    /// ```
    /// use cqrs_kafka::{Decoder, IncomingMessage, MessageSource, RawJsonDecoder};
    ///
    /// let source = MessageSource { topic: "readings", partition: 0, offset: 41 };
    /// let headers = vec![("device".to_owned(), Some(b"d1".to_vec()))];
    /// let message = IncomingMessage::from_parts(source, Some(b"sensor-1"), Some(br#"{"t":21.5}"#), None, &headers);
    /// let event = RawJsonDecoder::default().decode(&message).unwrap();
    /// assert_eq!((&*event.stream_id, event.position), ("sensor-1", 42));
    /// ```
    pub fn from_parts(
        source: MessageSource<'a>,
        key: Option<&'a [u8]>,
        payload: Option<&'a [u8]>,
        timestamp_millis: Option<i64>,
        headers: &'a [(String, Option<Vec<u8>>)],
    ) -> Self {
        Self {
            source,
            key,
            payload,
            timestamp_millis,
            kafka_headers: None,
            part_headers: headers,
        }
    }

    /// Topic, partition and offset.
    pub fn source(&self) -> MessageSource<'a> {
        self.source
    }

    /// The message key.
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The message value.
    pub fn payload(&self) -> Option<&'a [u8]> {
        self.payload
    }

    /// The message timestamp in milliseconds since the Unix epoch, if any.
    pub fn timestamp_millis(&self) -> Option<i64> {
        self.timestamp_millis
    }

    /// The value of the first header named `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(key, _)| *key == name)
            .and_then(|(_, value)| value)
    }

    /// Every header, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, Option<&'a [u8]>)> + 'a {
        let consumed = self
            .kafka_headers
            .into_iter()
            .flat_map(|headers| headers.iter())
            .map(|header| (header.key, header.value));
        let parts = self
            .part_headers
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_deref()));
        consumed.chain(parts)
    }
}
