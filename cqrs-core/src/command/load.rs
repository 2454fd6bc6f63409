//! Loading an aggregate: the latest usable snapshot, then the events after it, decoded and
//! applied while the store reads the next.

use std::ops::ControlFlow;
use std::time::Instant;

use tracing::Instrument;

use super::{LoadError, LoadedAggregate, Repository};
use crate::aggregate::Aggregate;
use crate::store::EventStore;

impl<A: Aggregate, S: EventStore + ?Sized> Repository<A, S> {
    /// Loads `stream` in a `load` span, timed as `cqrs_load_duration_seconds`.
    pub(super) async fn load_stream(&self, stream: &str) -> Result<LoadedAggregate<A>, LoadError> {
        let span = tracing::info_span!(
            "load",
            stream,
            store = self.store.kind(),
            version = tracing::field::Empty
        );
        let started = Instant::now();
        let loaded = self.read_aggregate(stream).instrument(span.clone()).await;
        self.metrics().loaded(started.elapsed());
        if let Ok(loaded) = &loaded {
            span.record("version", loaded.version);
        }
        loaded
    }

    async fn read_aggregate(&self, stream: &str) -> Result<LoadedAggregate<A>, LoadError> {
        let (mut state, mut version) = (A::default(), 0);
        let mut from_snapshot = None;
        if let Some((snapshot_state, snapshot_version)) = self.restore_snapshot(stream).await? {
            state = snapshot_state;
            version = snapshot_version;
            from_snapshot = Some(snapshot_version);
        }
        // Each event is decoded and applied while the store reads the next; the first one
        // that does not decode stops the read.
        let mut undecodable = None;
        let upcasters = &self.upcasters;
        self.store
            .load_stream(
                stream,
                version + 1,
                &mut |event| match event.decode::<A::Event>(upcasters) {
                    Ok(decoded) => {
                        state.apply(&decoded);
                        version = event.stream_version;
                        ControlFlow::Continue(())
                    }
                    Err(error) => {
                        undecodable = Some(error);
                        ControlFlow::Break(())
                    }
                },
            )
            .await?;
        if let Some(error) = undecodable {
            return Err(error.into());
        }
        Ok(LoadedAggregate {
            state,
            version,
            from_snapshot,
        })
    }

    /// The latest usable snapshot; an outdated or undecodable one is logged and ignored.
    async fn restore_snapshot(&self, stream: &str) -> Result<Option<(A, u64)>, LoadError> {
        let Some(support) = &self.snapshots else {
            return Ok(None);
        };
        let Some(snapshot) = self.store.load_snapshot(stream).await? else {
            return Ok(None);
        };
        if snapshot.schema_version != A::SNAPSHOT_VERSION {
            tracing::warn!(
                stream,
                stored = snapshot.schema_version,
                current = A::SNAPSHOT_VERSION,
                "snapshot schema version changed; replaying all events"
            );
            return Ok(None);
        }
        match (support.decode)(&snapshot.state) {
            Ok(state) => Ok(Some((state, snapshot.version))),
            Err(error) => {
                tracing::warn!(stream, %error, "snapshot no longer deserializes; replaying all events");
                Ok(None)
            }
        }
    }
}
