//! What the consumer runner feeds: a [`MessageHandler`], or a [`Projection`] through
//! [`ProjectionHandler`]. A [`TypedProjection`](cqrs_core::TypedProjection) is a
//! `Projection` too: fed through `ProjectionHandler`, it receives its aggregate's events
//! decoded (and upcast) with their envelope, without a category filter or decode of its own.
//!
//! # Staying idempotent under redelivery
//! The runner commits an offset only after the handler succeeded, so a crash between the
//! handler's effect and the commit delivers the message again (at-least-once). Every
//! redelivered event has the same `event_id`, `stream_id`, `stream_version` and (with the
//! [`EnvelopeDecoder`](crate::EnvelopeDecoder)) the same store `position`. A handler stays
//! exact by one of:
//! - **Per-stream version**: remember the last `stream_version` applied per `stream_id` and
//!   ignore events at or below it. Kafka keeps one stream's events in order (one key, one
//!   partition), so this is exact and needs one number per stream.
//! - **Event id**: record applied event ids (in the read model's own transaction when it
//!   lives in a database, e.g. a table with the event id as primary key, `ON CONFLICT DO
//!   NOTHING`), and skip ids already seen.
//! - **Naturally idempotent writes**: upserts that set values rather than increment them.
//!
//! Do **not** deduplicate with one global "last position" across topics or partitions:
//! Kafka orders messages per partition only, so a higher global position from one
//! partition can arrive before a lower one from another, and a global high-water mark
//! would skip it.

use std::fmt;

use async_trait::async_trait;

use cqrs_core::{BoxError, FailureKind, Projection, RecordedEvent, StoreError};

use super::message::MessageSource;

/// A handler failure, classified by what the runner should do about it.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Infrastructure trouble (database down, timeout): retried with backoff, forever,
    /// without skipping the message and without consuming later ones.
    #[error("transient: {0}")]
    Transient(#[source] BoxError),
    /// The message cannot be handled: retried per the runner's retry policy, then sent to
    /// the dead-letter topic.
    #[error("{0}")]
    Rejected(#[source] BoxError),
}

impl HandlerError {
    /// A transient failure.
    pub fn transient(error: impl Into<BoxError>) -> Self {
        HandlerError::Transient(error.into())
    }

    /// A rejection.
    pub fn rejected(error: impl Into<BoxError>) -> Self {
        HandlerError::Rejected(error.into())
    }

    /// A failure of the given kind: [`FailureKind::Transient`] is retried without skipping,
    /// [`FailureKind::Permanent`] is a rejection (dead-lettered after the retries).
    ///
    /// ```
    /// use cqrs_core::FailureKind;
    /// use cqrs_kafka::HandlerError;
    ///
    /// let error = HandlerError::classified(FailureKind::Permanent, "value too long for sku");
    /// assert!(matches!(error, HandlerError::Rejected(_)));
    /// ```
    pub fn classified(kind: FailureKind, error: impl Into<BoxError>) -> Self {
        match kind {
            FailureKind::Transient => HandlerError::Transient(error.into()),
            FailureKind::Permanent => HandlerError::Rejected(error.into()),
        }
    }

    /// How the runner treats this failure.
    pub fn kind(&self) -> FailureKind {
        match self {
            HandlerError::Transient(_) => FailureKind::Transient,
            HandlerError::Rejected(_) => FailureKind::Permanent,
        }
    }
}

/// A store failure, by [`StoreError::kind`].
impl From<StoreError> for HandlerError {
    fn from(error: StoreError) -> Self {
        HandlerError::classified(error.kind(), error)
    }
}

/// Handles decoded events from Kafka, one at a time, in partition order.
///
/// ```
/// use async_trait::async_trait;
/// use cqrs_core::RecordedEvent;
/// use cqrs_kafka::{HandlerError, MessageHandler, MessageSource};
/// use std::collections::HashMap;
///
/// /// Counts events per stream, exactly, under redelivery.
/// #[derive(Default)]
/// struct EventsPerStream { applied_version: HashMap<String, u64>, count: HashMap<String, u64> }
///
/// #[async_trait]
/// impl MessageHandler for EventsPerStream {
///     async fn handle(&mut self, event: &RecordedEvent, _: &MessageSource<'_>) -> Result<(), HandlerError> {
///         let seen = self.applied_version.entry(event.stream_id.to_string()).or_default();
///         if event.stream_version <= *seen { return Ok(()); } // redelivery
///         *seen = event.stream_version;
///         *self.count.entry(event.stream_id.to_string()).or_default() += 1;
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait MessageHandler: Send + 'static {
    /// Applies one event. `Ok` lets the runner commit the message's offset.
    async fn handle(
        &mut self,
        event: &RecordedEvent,
        source: &MessageSource<'_>,
    ) -> Result<(), HandlerError>;

    /// The name of the read model this handler keeps, if it keeps one: the runner then
    /// reports its progress per partition as `cqrs_projection_position` and
    /// `cqrs_projection_lag_events` (`projection` = this name, `shard` = the partition; see
    /// [`metric`](cqrs_core::telemetry::metric)). Asked once, when the runner is spawned.
    /// `None` (the default): no progress metrics. [`ProjectionHandler`] answers its
    /// projection's [`name`](Projection::name).
    fn projection_name(&self) -> Option<&str> {
        None
    }
}

/// Feeds a [`Projection`] from Kafka, or a
/// [`TypedProjection`](cqrs_core::TypedProjection), which then receives its aggregate's
/// events decoded and upcast, and never sees the events of other stream categories.
///
/// The projection's errors are classified by [`Projection::failure_kind`] (transient:
/// retried without skipping; permanent, the default: retried per policy, then
/// dead-lettered), unless a classifier set with
/// [`with_transient`](ProjectionHandler::with_transient) overrides it. For a typed
/// projection, an event of its category that does not decode is permanent and its own
/// errors are classified by [`TypedProjection::failure_kind`](cqrs_core::TypedProjection::failure_kind).
/// The projection must be idempotent (see the [module docs](self)).
///
/// Its runner reports the projection's progress per partition under its
/// [`name`](Projection::name): `cqrs_projection_position` (the global position of the last
/// event done in the partition) and `cqrs_projection_lag_events` (the messages behind the
/// partition's high watermark); see [`projection_name`](MessageHandler::projection_name).
///
/// ```
/// use async_trait::async_trait;
/// use cqrs_core::{Aggregate, Event, Persistence, RecordedEvent, TypedProjection};
/// use cqrs_kafka::ProjectionHandler;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// # enum OrderEvent { Placed { total: u64 } }
/// # struct Place { id: String }
/// # impl cqrs_core::Command for Place { fn aggregate_id(&self) -> &str { &self.id } }
/// # #[derive(Default)] struct Order;
/// # impl Aggregate for Order {
/// #     const TYPE: &'static str = "Order";
/// #     type Command = Place; type Event = OrderEvent; type Error = std::convert::Infallible; type Services = ();
/// #     async fn handle(&self, _: &Place, _: &()) -> Result<Vec<OrderEvent>, Self::Error> { Ok(vec![]) }
/// #     fn apply(&mut self, _: &OrderEvent) {}
/// # }
///
/// /// Revenue per order, kept exact under redelivery by the stream version.
/// #[derive(Default)]
/// struct Revenue(std::collections::HashMap<String, (u64, u64)>);
///
/// #[async_trait]
/// impl TypedProjection for Revenue {
///     type Aggregate = Order;
///     type Error = std::convert::Infallible;
///     fn name(&self) -> &str { "revenue" }
///     fn persistence(&self) -> Persistence { Persistence::InMemory }
///     async fn apply(&mut self, event: &OrderEvent, envelope: &RecordedEvent) -> Result<(), Self::Error> {
///         let OrderEvent::Placed { total } = event;
///         let (version, revenue) = self.0.entry(envelope.aggregate_id().to_owned()).or_default();
///         if envelope.stream_version > *version {
///             (*version, *revenue) = (envelope.stream_version, *total);
///         }
///         Ok(())
///     }
/// }
///
/// let handler = ProjectionHandler::new(Revenue::default()); // for a ConsumerRunner
/// # let _ = handler;
/// ```
pub struct ProjectionHandler<P: Projection> {
    projection: P,
    is_transient: Option<fn(&P::Error) -> bool>,
}

impl<P: Projection> ProjectionHandler<P> {
    /// Wraps `projection`.
    pub fn new(projection: P) -> Self {
        Self {
            projection,
            is_transient: None,
        }
    }

    /// Classifies the projection's errors instead of [`Projection::failure_kind`]: `true`
    /// means retry forever without skipping.
    pub fn with_transient(mut self, is_transient: fn(&P::Error) -> bool) -> Self {
        self.is_transient = Some(is_transient);
        self
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    /// Gives the projection back.
    pub fn into_inner(self) -> P {
        self.projection
    }
}

impl<P: Projection + fmt::Debug> fmt::Debug for ProjectionHandler<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectionHandler")
            .field("projection", &self.projection)
            .finish()
    }
}

#[async_trait]
impl<P: Projection> MessageHandler for ProjectionHandler<P> {
    async fn handle(
        &mut self,
        event: &RecordedEvent,
        _source: &MessageSource<'_>,
    ) -> Result<(), HandlerError> {
        let error = match self.projection.apply(event).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        let kind = match self.is_transient {
            Some(is_transient) if is_transient(&error) => FailureKind::Transient,
            Some(_) => FailureKind::Permanent,
            None => self.projection.failure_kind(&error),
        };
        Err(HandlerError::classified(kind, error))
    }

    fn projection_name(&self) -> Option<&str> {
        Some(self.projection.name())
    }
}
