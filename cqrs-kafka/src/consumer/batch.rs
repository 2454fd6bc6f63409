//! Handling many messages at once: a [`BatchHandler`] gets a [`Batch`] of decoded
//! messages, e.g. to store them with one multi-row insert in one transaction.
//!
//! # Semantics
//! - **Collecting**: the runner waits for a first message, then takes whatever else
//!   arrives within [`max_batch_wait`](crate::ConsumerConfig::max_batch_wait), up to
//!   [`max_batch_len`](crate::ConsumerConfig::max_batch_len) messages, from any of its
//!   partitions. Within a partition the batch is in offset order.
//! - **Success** (`Ok`): every message the handler did not [`reject`](Batch::reject) is
//!   done; rejected ones go to the dead-letter topic (stage `handler`, with the rejection
//!   as the reason), undecodable ones too (stage `decode`; the handler never sees them).
//!   Only then are the batch's offsets marked for commit: no offset past an unfinished
//!   batch is ever committed.
//! - **Transient failure** ([`HandlerError::Transient`]): the whole batch is handed again,
//!   same messages, same order, with backoff, until it succeeds. Nothing is skipped, no
//!   later message is consumed meanwhile, and rejections of the failed attempt are
//!   forgotten (the handler decides again).
//! - **Whole-batch rejection** ([`HandlerError::Rejected`]): the handler cannot tell which
//!   message is bad. A batch of several messages is split and each message is handed on
//!   its own, in order; a batch of one is retried per
//!   [`retry`](crate::ConsumerConfig::retry), then dead-lettered.
//! - **Crash** before the handler returned (or before the commit): nothing of the batch
//!   is committed, so the whole batch is delivered again. Handlers must be idempotent
//!   (see [`handler`](crate::handler)).
//!
//! # Tracing
//! Every message has its own `consume` span ([`BatchItem::span`]; `command process` for
//! the command processor), made when it is received and closed when the runner is done
//! with it, whose parent is the span named by its `traceparent` header (the relay's
//! `relay publish`): one message, one trace. A batch of **one** message (every batch of a
//! [`ConsumerRunner`](crate::ConsumerRunner), and the batches a rejection splits) is
//! handled inside that span, retries and dead-lettering included, so the spans a
//! [`MessageHandler`] opens are children of it. A batch of **several** messages belongs to
//! several traces, so the runner enters none of them around
//! [`handle_batch`](BatchHandler::handle_batch): a handler that does work for one message
//! at a time enters that message's span around it, e.g.
//! `work(item).instrument(item.span().clone()).await` or
//! `item.span().in_scope(|| ...)`; work for the whole batch (the one multi-row insert)
//! stays outside every message's trace. Each poison message is dead-lettered inside its
//! own span.

use async_trait::async_trait;
use tracing::Span;

use cqrs_core::{BoxError, RecordedEvent};

use super::handler::{HandlerError, MessageHandler};
use super::message::MessageSource;

/// One decoded message of a [`Batch`]: a [`RecordedEvent`], or for `T` other than the
/// default the item its decoder makes.
#[derive(Debug)]
pub struct BatchItem<'a, T = RecordedEvent> {
    index: usize,
    event: T,
    source: MessageSource<'a>,
    span: Span,
    rejection: Option<BoxError>,
}

impl<'a, T> BatchItem<'a, T> {
    /// Its index in the batch, for [`Batch::reject`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// The decoded event.
    pub fn event(&self) -> &T {
        &self.event
    }

    /// Where it was consumed from.
    pub fn source(&self) -> MessageSource<'a> {
        self.source
    }

    /// The span the message is handled in (see [Tracing](self#tracing)): enter it around
    /// work done for this message alone, so that the spans opened there join its trace.
    ///
    /// ```
    /// use async_trait::async_trait;
    /// use cqrs_kafka::{Batch, BatchHandler, HandlerError};
    /// use tracing::Instrument;
    ///
    /// /// Calls a service once per event, each call in the trace of its event.
    /// struct Notify;
    ///
    /// #[async_trait]
    /// impl BatchHandler for Notify {
    ///     async fn handle_batch(&mut self, batch: &mut Batch<'_>) -> Result<(), HandlerError> {
    ///         for item in batch.iter() {
    ///             let call = async { tracing::info!(event = %item.event().event_id, "notified") };
    ///             call.instrument(item.span().clone()).await;
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// True when the handler rejected it in this attempt.
    pub fn is_rejected(&self) -> bool {
        self.rejection.is_some()
    }

    /// Why the handler rejected it, if it did.
    pub fn rejection(&self) -> Option<&BoxError> {
        self.rejection.as_ref()
    }
}

/// Decoded messages handed to a [`BatchHandler`] at once, in partition order.
#[derive(Debug)]
pub struct Batch<'a, T = RecordedEvent> {
    items: Vec<BatchItem<'a, T>>,
    /// Index of each item among the messages the runner received (which also holds the
    /// undecodable ones), to find the message again for the dead-letter topic.
    received_at: Vec<usize>,
}

impl<'a, T> Batch<'a, T> {
    /// Decoded messages with their spans; `received_at` is each one's index among the
    /// received messages.
    pub(crate) fn new(decoded: Vec<(usize, T, MessageSource<'a>, Span)>) -> Self {
        let mut received_at = Vec::with_capacity(decoded.len());
        let items = decoded
            .into_iter()
            .enumerate()
            .map(|(index, (received, event, source, span))| {
                received_at.push(received);
                BatchItem {
                    index,
                    event,
                    source,
                    span,
                    rejection: None,
                }
            })
            .collect();
        Self { items, received_at }
    }

    /// The span of its only message, for a batch of one: the batch is handled inside it.
    pub(crate) fn single_span(&self) -> Option<Span> {
        match self.items.as_slice() {
            [only] => Some(only.span.clone()),
            _ => None,
        }
    }

    /// How many messages.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every message, in order.
    pub fn iter(&self) -> impl Iterator<Item = &BatchItem<'a, T>> {
        self.items.iter()
    }

    /// The messages not rejected (so far in this attempt), in order.
    pub fn accepted(&self) -> impl Iterator<Item = &BatchItem<'a, T>> {
        self.items.iter().filter(|item| !item.is_rejected())
    }

    /// Rejects the message at `index`: once the handler returns `Ok`, it goes to the
    /// dead-letter topic with `error` as the reason (no retries: decide only what will
    /// never succeed), and the others count as handled. An index out of range is ignored.
    pub fn reject(&mut self, index: usize, error: impl Into<BoxError>) {
        if let Some(item) = self.items.get_mut(index) {
            item.rejection = Some(error.into());
        }
    }

    /// Forgets the rejections of a failed attempt.
    pub(crate) fn reset(&mut self) {
        for item in &mut self.items {
            item.rejection = None;
        }
    }

    /// Splits into batches of one message each, in order.
    pub(crate) fn split(self) -> Vec<Batch<'a, T>> {
        self.items
            .into_iter()
            .zip(self.received_at)
            .map(|(mut item, received)| {
                item.index = 0;
                Batch {
                    items: vec![item],
                    received_at: vec![received],
                }
            })
            .collect()
    }

    /// Each message's index among the received ones, with its rejection if any.
    pub(crate) fn outcomes(&self) -> impl Iterator<Item = (usize, &BatchItem<'a, T>)> {
        self.received_at.iter().copied().zip(&self.items)
    }
}

/// Handles decoded events from Kafka a batch at a time (see the [module docs](self) for
/// what each result means). Feed it with a
/// [`BatchConsumerRunner`](crate::BatchConsumerRunner).
///
/// ```
/// use async_trait::async_trait;
/// use cqrs_kafka::{Batch, BatchHandler, HandlerError};
///
/// /// Sums `amount`s; a message without one is dead-lettered, the others are kept.
/// #[derive(Default)]
/// struct Amounts { rows: Vec<(String, i64)> }
///
/// #[async_trait]
/// impl BatchHandler for Amounts {
///     async fn handle_batch(&mut self, batch: &mut Batch<'_>) -> Result<(), HandlerError> {
///         let mut rows = Vec::new();
///         let mut bad = Vec::new();
///         for item in batch.iter() {
///             let value = item.event().payload.to_value().map_err(HandlerError::rejected)?;
///             match value["amount"].as_i64() {
///                 Some(amount) => rows.push((item.event().event_id.to_string(), amount)),
///                 None => bad.push(item.index()),
///             }
///         }
///         for index in bad {
///             batch.reject(index, "no amount");
///         }
///         self.rows.extend(rows); // one multi-row insert in a real read model
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait BatchHandler<T: Send = RecordedEvent>: Send + 'static {
    /// Applies a batch. `Ok` lets the runner commit the offsets of all its messages.
    async fn handle_batch(&mut self, batch: &mut Batch<'_, T>) -> Result<(), HandlerError>;

    /// The name of the read model this handler keeps, if it keeps one: the runner then
    /// reports its progress per partition, as for a
    /// [`MessageHandler::projection_name`]. `None` (the default): no progress metrics.
    fn projection_name(&self) -> Option<&str> {
        None
    }
}

/// A [`MessageHandler`] run by the batch machinery, with batches of one message: the
/// results then mean exactly what they mean for a single message, and the runner handles
/// each inside its message's span.
pub(crate) struct OneAtATime<H>(pub(crate) H);

#[async_trait]
impl<H: MessageHandler> BatchHandler for OneAtATime<H> {
    async fn handle_batch(&mut self, batch: &mut Batch<'_>) -> Result<(), HandlerError> {
        for item in batch.iter() {
            self.0.handle(item.event(), &item.source()).await?;
        }
        Ok(())
    }

    fn projection_name(&self) -> Option<&str> {
        self.0.projection_name()
    }
}
