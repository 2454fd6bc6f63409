//! [`Shard`], [`shard_of`] and [`Sharded`]: which streams a shard owns, and a projection
//! that applies only those.

use async_trait::async_trait;

use crate::envelope::RecordedEvent;
use crate::failure::FailureKind;
use crate::projection::{Persistence, Projection, TransactionalProjection};

/// The shard of `count` that owns stream `stream_id`: the stream id's 64-bit FNV-1a hash
/// modulo `count`.
///
/// The hash is fixed (it never changes between versions, processes or platforms), so every
/// replica agrees on it and a stream stays in its shard for as long as `count` does.
///
/// ```
/// use cqrs_core::projection::shard::shard_of;
///
/// assert_eq!(shard_of("Order-42", 1), 0);
/// assert_eq!(shard_of("Order-42", 4), shard_of("Order-42", 4));
/// assert!(shard_of("Order-42", 4) < 4);
/// ```
///
/// # Panics
/// When `count` is 0.
pub fn shard_of(stream_id: &str, count: u32) -> u32 {
    assert!(count > 0, "a projection has at least one shard");
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let hash = stream_id.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    // The remainder is below `count`, a u32.
    (hash % u64::from(count)) as u32
}

/// Shard `index` of `count`: the streams [`shard_of`] gives `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: u32,
    /// How many shards the projection has.
    pub count: u32,
}

impl Shard {
    /// Whether this shard applies the events of `stream_id`.
    pub fn owns(&self, stream_id: &str) -> bool {
        shard_of(stream_id, self.count) == self.index
    }

    /// The name of this shard of projection `projection`: the key of its checkpoint and
    /// of its lease, `{projection}.shard-{index}-of-{count}`.
    ///
    /// ```
    /// use cqrs_core::projection::shard::Shard;
    /// assert_eq!(Shard { index: 1, count: 4 }.name("order-totals"), "order-totals.shard-1-of-4");
    /// ```
    pub fn name(&self, projection: &str) -> String {
        format!("{projection}.shard-{}-of-{}", self.index, self.count)
    }

    /// The projection and shard index a [`name`](Self::name) stands for; a name that is
    /// not a shard's is the projection itself, shard 0.
    ///
    /// ```
    /// use cqrs_core::projection::shard::Shard;
    /// assert_eq!(Shard::parse_name("order-totals.shard-1-of-4"), ("order-totals", 1));
    /// assert_eq!(Shard::parse_name("order-totals"), ("order-totals", 0));
    /// ```
    pub fn parse_name(name: &str) -> (&str, u32) {
        let parsed = name.rsplit_once(".shard-").and_then(|(projection, rest)| {
            let (index, count) = rest.split_once("-of-")?;
            count.parse::<u32>().ok()?;
            Some((projection, index.parse().ok()?))
        });
        parsed.unwrap_or((name, 0))
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard {} of {}", self.index, self.count)
    }
}

/// One shard of a projection: the projection `P`, named after its shard
/// ([`Shard::name`]), applying only the events of the streams its shard owns (the others
/// it passes over, and its checkpoint moves past them). Built by a
/// [`ShardedRunner`](super::ShardedRunner), one per shard.
pub struct Sharded<P> {
    inner: P,
    shard: Shard,
    name: String,
}

impl<P> Sharded<P> {
    /// Shard `shard` of `inner`, whose own name is `projection`.
    pub(super) fn new(inner: P, shard: Shard, projection: &str) -> Self {
        Self {
            inner,
            name: shard.name(projection),
            shard,
        }
    }

    /// Which shard this is.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The projection.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Gives the projection back.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

impl<P> std::fmt::Debug for Sharded<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sharded")
            .field("name", &self.name)
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<P: Projection> Projection for Sharded<P> {
    type Error = P::Error;

    fn name(&self) -> &str {
        &self.name
    }

    fn applies_to(&self, event: &RecordedEvent) -> bool {
        self.shard.owns(&event.stream_id)
    }

    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), Self::Error> {
        if self.shard.owns(&event.stream_id) {
            self.inner.apply(event).await
        } else {
            Ok(())
        }
    }

    async fn reset(&mut self) -> Result<(), Self::Error> {
        self.inner.reset().await
    }

    fn failure_kind(&self, error: &Self::Error) -> FailureKind {
        self.inner.failure_kind(error)
    }

    fn persistence(&self) -> Persistence {
        self.inner.persistence()
    }
}

#[async_trait]
impl<C, P> TransactionalProjection<C> for Sharded<P>
where
    C: ?Sized + Send,
    P: TransactionalProjection<C>,
{
    type Error = P::Error;

    fn name(&self) -> &str {
        &self.name
    }

    fn applies_to(&self, event: &RecordedEvent) -> bool {
        self.shard.owns(&event.stream_id)
    }

    async fn apply(
        &mut self,
        event: &RecordedEvent,
        connection: &mut C,
    ) -> Result<(), Self::Error> {
        if self.shard.owns(&event.stream_id) {
            self.inner.apply(event, connection).await
        } else {
            Ok(())
        }
    }

    async fn reset(&mut self, connection: &mut C) -> Result<(), Self::Error> {
        self.inner.reset(connection).await
    }

    fn failure_kind(&self, error: &Self::Error) -> Option<FailureKind> {
        self.inner.failure_kind(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fixed() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; of "" the offset basis.
        assert_eq!(
            shard_of("a", u32::MAX),
            (0xaf63_dc4c_8601_ec8c_u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(shard_of("", 7), (0xcbf2_9ce4_8422_2325_u64 % 7) as u32);
    }

    #[test]
    fn streams_spread_over_the_shards() {
        let mut per_shard = [0u32; 4];
        for n in 0..4_000 {
            per_shard[shard_of(&format!("Order-{n}"), 4) as usize] += 1;
        }
        assert!(
            per_shard.iter().all(|&n| (800..1_200).contains(&n)),
            "{per_shard:?}"
        );
    }

    #[test]
    fn every_stream_has_exactly_one_shard() {
        for n in 0..100 {
            let stream = format!("Account-{n}");
            let owners = (0..3)
                .filter(|&index| Shard { index, count: 3 }.owns(&stream))
                .count();
            assert_eq!(owners, 1, "{stream}");
        }
    }
}
