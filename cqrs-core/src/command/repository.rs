//! The command pipeline: load, decide, append with the expected version, retry.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use super::cache::{BoundedCache, StateCache};
use super::{CommandContext, CommandError, Committed, LoadError, LoadedAggregate, RetryPolicy};
use crate::aggregate::{stream_id, Aggregate, Command};
use crate::envelope::Metadata;
use crate::error::StoreError;
use crate::event::{Event, JsonPayload, NewEvent};
use crate::snapshot::{Snapshot, SnapshotPolicy};
use crate::store::{command_event_id, AppendResult, EventStore};
use crate::telemetry::metric::CommandMetrics;
use crate::telemetry::trace_context;
use crate::upcast::Upcasters;
use crate::version::ExpectedVersion;

pub(super) struct SnapshotSupport<A> {
    policy: SnapshotPolicy,
    encode: fn(&A) -> Result<JsonPayload, serde_json::Error>,
    pub(super) decode: fn(&JsonPayload) -> Result<A, serde_json::Error>,
}

/// Runs commands against aggregates of type `A` stored in `S`.
///
/// For each command: load the aggregate (snapshot + tail, or the in-process cache), decide,
/// append with the loaded version as the expected version, and on
/// [`Conflict`](crate::Conflict) reload and decide again, up to the [`RetryPolicy`].
/// Each command runs in a `command` tracing span with the aggregate type and id and the
/// outcome (`committed`, `replayed`, `rejected`, `failed`).
///
/// A command run in a context with a caller-given command id
/// ([`CommandContext::with_command_id`]) is idempotent by that id: a repeat returns the
/// first execution's outcome from what the store kept (see the `repeats` rules in the
/// crate docs of [`CommandContext::with_command_id`]).
///
/// ```
/// # use cqrs_core::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
/// # enum CounterEvent { Incremented { by: u32 } }
/// # impl Event for CounterEvent {
/// #     const EVENT_TYPES: &'static [&'static str] = &["Incremented"];
/// #     fn event_type(&self) -> &'static str { "Incremented" }
/// # }
/// # struct Increment { id: String, by: u32 }
/// # impl Command for Increment { fn aggregate_id(&self) -> &str { &self.id } }
/// # #[derive(Debug, PartialEq, thiserror::Error)] #[error("too big")] struct TooBig;
/// # #[derive(Default)] struct Counter { value: u32 }
/// # impl Aggregate for Counter {
/// #     const TYPE: &'static str = "Counter";
/// #     type Command = Increment; type Event = CounterEvent; type Error = TooBig; type Services = ();
/// #     async fn handle(&self, c: &Increment, _: &()) -> Result<Vec<CounterEvent>, TooBig> {
/// #         if self.value + c.by > 10 { Err(TooBig) } else { Ok(vec![CounterEvent::Incremented { by: c.by }]) }
/// #     }
/// #     fn apply(&mut self, e: &CounterEvent) { let CounterEvent::Incremented { by } = e; self.value += by; }
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// let store = Arc::new(InMemoryEventStore::new());
/// let counters = Repository::<Counter, _>::new(store);
///
/// let committed = counters.execute(Increment { id: "c1".into(), by: 7 }).await.unwrap();
/// assert_eq!(committed.version, 1);
///
/// let refused = counters.execute(Increment { id: "c1".into(), by: 7 }).await.unwrap_err();
/// assert!(refused.is_rejection());
/// assert_eq!(counters.load("c1").await.unwrap().state.value, 7);
/// # });
/// ```
pub struct Repository<A: Aggregate, S: EventStore + ?Sized = dyn EventStore> {
    pub(super) store: Arc<S>,
    services: Arc<A::Services>,
    retry: RetryPolicy,
    pub(super) upcasters: Arc<Upcasters>,
    pub(super) snapshots: Option<Arc<SnapshotSupport<A>>>,
    cache: Option<Arc<dyn StateCache<A>>>,
    metrics: Arc<OnceLock<CommandMetrics>>,
}

impl<A: Aggregate, S: EventStore + ?Sized> Clone for Repository<A, S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            services: self.services.clone(),
            retry: self.retry,
            upcasters: self.upcasters.clone(),
            snapshots: self.snapshots.clone(),
            cache: self.cache.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<A: Aggregate<Services = ()>, S: EventStore + ?Sized> Repository<A, S> {
    /// A repository for an aggregate without services.
    pub fn new(store: Arc<S>) -> Self {
        Self::with_services(store, ())
    }
}

impl<A: Aggregate, S: EventStore + ?Sized> Repository<A, S> {
    /// A repository whose aggregates decide with `services`.
    pub fn with_services(store: Arc<S>, services: A::Services) -> Self {
        Self {
            store,
            services: Arc::new(services),
            retry: RetryPolicy::default(),
            upcasters: Arc::new(Upcasters::new()),
            snapshots: None,
            cache: None,
            metrics: Arc::default(),
        }
    }

    /// Sets the retry policy for conflicts (default: 5 attempts).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the upcasters applied when loading events.
    pub fn with_upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = Arc::new(upcasters);
        self
    }

    /// Takes snapshots by `policy` and starts loads from the latest valid snapshot.
    pub fn with_snapshots(mut self, policy: SnapshotPolicy) -> Self
    where
        A: Serialize + DeserializeOwned,
    {
        self.snapshots = Some(Arc::new(SnapshotSupport {
            policy,
            encode: |state| JsonPayload::from_serialize(state),
            decode: |payload| payload.deserialize(),
        }));
        self
    }

    /// Keeps up to `capacity` aggregate states in process, so commands skip the load.
    ///
    /// Correct with other writers too: a stale state makes the append conflict (the
    /// command then reloads and retries), and a refusal decided on a cached state is
    /// re-decided on a fresh load before it is reported.
    pub fn with_cache(mut self, capacity: usize) -> Self
    where
        A: Clone,
    {
        self.cache = Some(Arc::new(BoundedCache::<A>::new(capacity)));
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The services passed to `handle`.
    pub fn services(&self) -> &A::Services {
        &self.services
    }

    /// The upcasters used to decode events.
    pub fn upcasters(&self) -> &Upcasters {
        &self.upcasters
    }

    /// Loads aggregate `id` from the store (latest valid snapshot, then the events after it).
    pub async fn load(&self, id: &str) -> Result<LoadedAggregate<A>, LoadError> {
        self.load_stream(&stream_id::<A>(id)).await
    }

    /// Runs `command` in a new [`CommandContext`].
    pub async fn execute(
        &self,
        command: A::Command,
    ) -> Result<Committed<A::Event>, CommandError<A::Error>> {
        self.execute_in(&CommandContext::new(), command).await
    }

    /// Runs `command` in `context`: its events carry the context's correlation id, the
    /// command id as causation id, and its headers.
    pub async fn execute_in(
        &self,
        context: &CommandContext,
        command: A::Command,
    ) -> Result<Committed<A::Event>, CommandError<A::Error>> {
        let stream = stream_id::<A>(command.aggregate_id());
        let span = tracing::info_span!(
            "command",
            aggregate_type = A::TYPE,
            aggregate_id = command.aggregate_id(),
            command_id = %context.command_id,
            correlation_id = %context.correlation_id,
            outcome = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = self
            .decide_and_append(&stream, context, &command)
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        let outcome = match &result {
            Ok(committed) if committed.replayed => "replayed",
            Ok(_) => "committed",
            Err(error) if error.is_rejection() => "rejected",
            Err(_) => "failed",
        };
        self.metrics().command_finished(outcome, started.elapsed());
        span.record("outcome", outcome);
        match &result {
            Ok(committed) => {
                span.record("attempts", committed.attempts);
                tracing::debug!(
                    version = committed.version,
                    events = committed.events.len(),
                    "command committed"
                );
            }
            Err(error) if error.is_rejection() => {
                tracing::debug!(%error, "command rejected");
            }
            Err(error) => {
                tracing::warn!(%error, "command failed");
            }
        }
        result
    }

    async fn decide_and_append(
        &self,
        stream: &str,
        context: &CommandContext,
        command: &A::Command,
    ) -> Result<Committed<A::Event>, CommandError<A::Error>> {
        if context.check_repeats {
            if let Some(outcome) = self.earlier_outcome(stream, context).await? {
                return outcome;
            }
        }
        let metadata = context.event_metadata();
        let mut attempt = 0;
        let mut may_use_cache = true;
        loop {
            attempt += 1;
            let cached = if may_use_cache {
                self.cached(stream)
            } else {
                None
            };
            let from_cache = cached.is_some();
            let loaded = match cached {
                Some(loaded) => loaded,
                None => self.load_stream(stream).await?,
            };
            let events = match A::handle(&loaded.state, command, &self.services).await {
                Ok(events) => events,
                Err(_) if from_cache => {
                    // Never report a refusal decided on a possibly stale state.
                    self.forget(stream);
                    may_use_cache = false;
                    attempt -= 1;
                    continue;
                }
                Err(error) if context.check_repeats => {
                    return self
                        .record_refusal(stream, loaded.version, context, error)
                        .await
                }
                Err(error) => return Err(CommandError::Rejected(error)),
            };
            if events.is_empty() {
                return Ok(Committed {
                    stream_id: stream.to_owned(),
                    version: loaded.version,
                    events,
                    recorded: Vec::new(),
                    attempts: attempt,
                    replayed: false,
                });
            }
            let new_events = events
                .iter()
                .enumerate()
                .map(|(index, event)| {
                    let encoded =
                        NewEvent::from_event(event).map_err(|source| CommandError::Encode {
                            stream: stream.to_owned(),
                            event_type: event.event_type(),
                            source,
                        })?;
                    Ok(if context.check_repeats {
                        encoded.with_id(command_event_id(context.command_id, index))
                    } else {
                        encoded
                    })
                })
                .collect::<Result<Vec<_>, CommandError<A::Error>>>()?;
            let expected = ExpectedVersion::from_loaded(loaded.version);
            match self.append(stream, expected, new_events, &metadata).await {
                // An execution of this command id that raced this one stored the batch (or
                // a longer one that starts with it): its whole outcome is the outcome.
                Ok(appended) if appended.deduplicated && context.check_repeats => {
                    self.forget(stream);
                    if let Some(outcome) = self.earlier_outcome(stream, context).await? {
                        return outcome;
                    }
                    return self.replayed(stream, appended.events);
                }
                Ok(appended) => {
                    self.after_commit(stream, loaded, &events, appended.current_version)
                        .await;
                    return Ok(Committed {
                        stream_id: stream.to_owned(),
                        version: appended.current_version,
                        events,
                        recorded: appended.events,
                        attempts: attempt,
                        replayed: false,
                    });
                }
                Err(StoreError::Conflict(conflict)) => {
                    self.metrics().conflict();
                    self.forget(stream);
                    may_use_cache = false;
                    if attempt >= self.retry.max_attempts {
                        return Err(CommandError::TooManyConflicts {
                            attempts: attempt,
                            last: conflict,
                        });
                    }
                    tracing::debug!(%conflict, attempt, "conflict, reloading");
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                }
                // A racing execution of this command id stored a different batch first
                // (more or fewer events under the ids derived from the command id).
                Err(StoreError::DuplicateEventId { event_id, .. }) if context.check_repeats => {
                    self.forget(stream);
                    if let Some(outcome) = self.earlier_outcome(stream, context).await? {
                        return outcome;
                    }
                    return Err(CommandError::Store(StoreError::Corrupt(format!(
                        "the store refused event id {event_id} of command {} as stored, \
                         but does not find it",
                        context.command_id
                    ))));
                }
                Err(error) => {
                    self.forget(stream);
                    return Err(CommandError::Store(error));
                }
            }
        }
    }

    /// Appends in an `append` span, timed as `cqrs_append_duration_seconds`; the events'
    /// metadata carries that span's trace context (when an OpenTelemetry layer records
    /// it), so that whoever handles the events continues this trace.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        let span = tracing::info_span!(
            "append",
            stream,
            store = self.store.kind(),
            events = events.len(),
            first_position = tracing::field::Empty,
        );
        let mut trace = std::collections::BTreeMap::new();
        let traced =
            trace_context::inject_span(&span, &mut trace_context::HeaderCarrier(&mut trace)).then(
                || {
                    let mut traced = metadata.clone();
                    traced.headers.extend(trace);
                    traced
                },
            );
        let metadata = traced.as_ref().unwrap_or(metadata);
        let count = events.len() as u64;
        let started = Instant::now();
        let appended = self
            .store
            .append(stream, expected, events, metadata)
            .instrument(span.clone())
            .await;
        let stored = appended.as_ref().ok().filter(|a| !a.deduplicated);
        self.metrics()
            .appended(started.elapsed(), stored.map(|_| count));
        if let Some(first) = stored.and_then(|a| a.events.first()) {
            span.record("first_position", first.position);
        }
        appended
    }

    /// This repository's metric handles, registered at its first use.
    pub(super) fn metrics(&self) -> &CommandMetrics {
        self.metrics
            .get_or_init(|| CommandMetrics::new(A::TYPE, self.store.kind()))
    }

    fn cached(&self, stream: &str) -> Option<LoadedAggregate<A>> {
        let (state, version) = self.cache.as_ref()?.get(stream)?;
        Some(LoadedAggregate {
            state,
            version,
            from_snapshot: None,
        })
    }

    fn forget(&self, stream: &str) {
        if let Some(cache) = &self.cache {
            cache.remove(stream);
        }
    }

    /// Updates the cache and takes a snapshot when the policy says so. Failures here do
    /// not fail the command: its events are committed.
    async fn after_commit(
        &self,
        stream: &str,
        loaded: LoadedAggregate<A>,
        events: &[A::Event],
        version: u64,
    ) {
        let snapshot_due = self
            .snapshots
            .as_ref()
            .filter(|s| s.policy.should_snapshot(loaded.version, version));
        if self.cache.is_none() && snapshot_due.is_none() {
            return;
        }
        let mut state = loaded.state;
        for event in events {
            state.apply(event);
        }
        if let Some(cache) = &self.cache {
            cache.put(stream, &state, version);
        }
        if let Some(support) = snapshot_due {
            let snapshot = match (support.encode)(&state) {
                Ok(encoded) => Snapshot {
                    stream_id: stream.to_owned(),
                    version,
                    schema_version: A::SNAPSHOT_VERSION,
                    state: encoded,
                    taken_at: Utc::now(),
                },
                Err(error) => {
                    tracing::warn!(stream, %error, "cannot serialize snapshot; skipped");
                    return;
                }
            };
            match self.store.save_snapshot(snapshot).await {
                Ok(()) => tracing::debug!(stream, version, "snapshot taken"),
                Err(error) => tracing::warn!(stream, %error, "cannot save snapshot; skipped"),
            }
        }
    }
}
