//! Projections of one aggregate's events, decoded: no category filter, no decode
//! boilerplate in every read model.

use std::sync::OnceLock;

use async_trait::async_trait;

use super::{Persistence, Projection};
use crate::aggregate::Aggregate;
use crate::envelope::RecordedEvent;
use crate::failure::FailureKind;
use crate::upcast::{DecodeError, Upcasters};

/// A read model of one aggregate type's events, which it receives decoded (upcast first)
/// with their envelope. Every `TypedProjection` is a [`Projection`]: run it with a
/// [`ProjectionRunner`](crate::ProjectionRunner) or feed it from Kafka like any other.
///
/// Events of other stream categories are passed over; an event of the category that does
/// not decode is a [`TypedProjectionError::Decode`], a permanent failure.
///
/// ```
/// use async_trait::async_trait;
/// use cqrs_core::{Aggregate, Command, Event, Persistence, RecordedEvent, TypedProjection};
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, Serialize, Deserialize, Event)]
/// # enum CounterEvent { Incremented { by: u32 } }
/// # struct Increment { id: String }
/// # impl Command for Increment { fn aggregate_id(&self) -> &str { &self.id } }
/// # #[derive(Default)] struct Counter;
/// # impl Aggregate for Counter {
/// #     const TYPE: &'static str = "Counter";
/// #     type Command = Increment; type Event = CounterEvent; type Error = std::convert::Infallible; type Services = ();
/// #     async fn handle(&self, _: &Increment, _: &()) -> Result<Vec<CounterEvent>, Self::Error> { Ok(vec![]) }
/// #     fn apply(&mut self, _: &CounterEvent) {}
/// # }
///
/// /// The total per counter.
/// #[derive(Default)]
/// struct Totals(std::collections::HashMap<String, u64>);
///
/// #[async_trait]
/// impl TypedProjection for Totals {
///     type Aggregate = Counter;
///     type Error = std::convert::Infallible;
///     fn name(&self) -> &str { "counter-totals" }
///     fn persistence(&self) -> Persistence { Persistence::InMemory }
///     async fn apply(&mut self, event: &CounterEvent, envelope: &RecordedEvent) -> Result<(), Self::Error> {
///         let CounterEvent::Incremented { by } = event;
///         *self.0.entry(envelope.aggregate_id().to_owned()).or_default() += u64::from(*by);
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait TypedProjection: Send + Sync + 'static {
    /// The aggregate whose events (stream category [`Aggregate::TYPE`]) this takes.
    type Aggregate: Aggregate;
    /// The projection's own error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Stable name, used as the checkpoint key.
    fn name(&self) -> &str;

    /// Applies one decoded event of the aggregate. Called in log order, at least once per
    /// event (see the [module docs](crate::projection)).
    async fn apply(
        &mut self,
        event: &<Self::Aggregate as Aggregate>::Event,
        envelope: &RecordedEvent,
    ) -> Result<(), Self::Error>;

    /// Clears the read model before a rebuild. The default does nothing.
    async fn reset(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The upcasters events are decoded with. Default: none.
    fn upcasters(&self) -> &Upcasters {
        static NONE: OnceLock<Upcasters> = OnceLock::new();
        NONE.get_or_init(Upcasters::new)
    }

    /// How a runner treats `error` (see [`Projection::failure_kind`]).
    fn failure_kind(&self, error: &Self::Error) -> FailureKind {
        let _ = error;
        FailureKind::Permanent
    }

    /// Where the read model lives (see [`Projection::persistence`]). Required.
    fn persistence(&self) -> Persistence;
}

/// Why a [`TypedProjection`] failed on an event.
#[derive(Debug, thiserror::Error)]
pub enum TypedProjectionError<E: std::error::Error + 'static> {
    /// An event of the aggregate's category did not decode: permanent.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The projection failed.
    #[error(transparent)]
    Apply(E),
}

#[async_trait]
impl<T: TypedProjection> Projection for T {
    type Error = TypedProjectionError<T::Error>;

    fn name(&self) -> &str {
        TypedProjection::name(self)
    }

    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
        if event.category() != <T::Aggregate as Aggregate>::TYPE {
            return Ok(());
        }
        let decoded = event.decode(self.upcasters())?;
        TypedProjection::apply(self, &decoded, event)
            .await
            .map_err(TypedProjectionError::Apply)
    }

    async fn reset(&mut self) -> Result<(), Self::Error> {
        TypedProjection::reset(self)
            .await
            .map_err(TypedProjectionError::Apply)
    }

    fn failure_kind(&self, error: &Self::Error) -> FailureKind {
        match error {
            TypedProjectionError::Decode(_) => FailureKind::Permanent,
            TypedProjectionError::Apply(error) => TypedProjection::failure_kind(self, error),
        }
    }

    fn persistence(&self) -> Persistence {
        TypedProjection::persistence(self)
    }
}
