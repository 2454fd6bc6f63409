//! How far a read model got in the global log, and a bounded wait for it: what a query
//! waits on before it answers a client that wants to see its own write (read-your-writes).
//!
//! A command's reply carries the global position of its last event
//! ([`Committed::last_position`](crate::Committed::last_position)); a query given that
//! position waits, for a bounded time, until the read model it answers from has processed
//! it ([`ProcessedPosition::wait_for`]).
//!
//! # What "processed position P" means
//! Every event with a position `<= P` that the read model will ever receive has been
//! applied to it (or set aside for good, e.g. dead-lettered). Who feeds the read model
//! says how it knows:
//! - a [`ProjectionRunner`](crate::ProjectionRunner) or a
//!   [`TransactionalRunner`](crate::TransactionalRunner): its checkpoint
//!   ([`ProjectionProgress::checkpoint`](crate::ProjectionProgress::checkpoint)); it reads
//!   the gap-safe global log, so nothing below the checkpoint can still arrive. A runner
//!   with a lease that stands by does not move its checkpoint: its processed position
//!   stays where it was while another instance works;
//! - a Kafka consumer (`cqrs_kafka::ConsumerStats::processed_position`): per assigned
//!   partition, see that crate's docs for the definition and its limits;
//! - the event store itself, for reads answered from it (loading an aggregate): the head
//!   of its global log ([`ProcessedPosition::store_head`]).
//!
//! Waits follow a [`tokio::sync::watch`] of the worker's progress: they wake when it
//! changes, never poll in a loop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::handle::LogProgress;
use super::wait::{wait_for_progress, WaitOutcome};
use crate::store::EventStore;

/// A read model has not processed the wanted position in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` has processed the log up to position {processed}, not yet {wanted} (waited {waited:?}{})", if *.stopped { "; it has stopped" } else { "" })]
pub struct NotCaughtUp {
    /// What was waited on (the worker's name).
    pub name: Arc<str>,
    /// The position waited for.
    pub wanted: u64,
    /// The position processed when the wait gave up.
    pub processed: u64,
    /// How long the wait took.
    pub waited: Duration,
    /// True when the worker feeding the read model stopped (the wait ended early: the
    /// position will not be reached until it runs again).
    pub stopped: bool,
}

/// A cheap-to-clone handle on the position up to which a read model has processed the
/// global log (see the [module docs](self) for what that means per feed), with a bounded
/// wait for a position.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::time::Duration;
/// use cqrs_core::worker::ProcessedPosition;
///
/// let (progress, watch) = tokio::sync::watch::channel(0u64);
/// let view = ProcessedPosition::from_watch("price-tiers", watch);
/// progress.send_replace(7);
/// assert_eq!(view.wait_for(7, Duration::from_secs(1)).await, Ok(7));
/// let late = view.wait_for(8, Duration::from_millis(10)).await.unwrap_err();
/// assert_eq!((late.wanted, late.processed, late.stopped), (8, 7, false));
/// # });
/// ```
#[derive(Clone)]
pub struct ProcessedPosition {
    name: Arc<str>,
    source: Arc<dyn Source>,
}

impl std::fmt::Debug for ProcessedPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessedPosition")
            .field("name", &self.name)
            .field("current", &self.current())
            .finish()
    }
}

impl ProcessedPosition {
    /// The position in `progress` ([`LogProgress::log_position`]), named `name` in errors.
    /// A wait ends early when the sender is dropped (the worker stopped).
    /// [`Worker::processed_position`](super::Worker::processed_position) builds one for a
    /// worker.
    pub fn from_watch<P>(name: impl Into<Arc<str>>, progress: watch::Receiver<P>) -> Self
    where
        P: LogProgress + Clone + Send + Sync + 'static,
    {
        Self {
            name: name.into(),
            source: Arc::new(progress),
        }
    }

    /// The head of `store`'s global log ([`EventStore::head_position`]), for reads
    /// answered from the store itself (an aggregate loaded for a query sees every event
    /// committed). Waits wake on the store's notifications
    /// ([`EventStore::subscribe`]) and read the head again at most every 100 ms without
    /// one; a failing store counts as not caught up.
    pub fn store_head<S: EventStore + ?Sized>(name: impl Into<Arc<str>>, store: Arc<S>) -> Self {
        let head = store.subscribe();
        Self {
            name: name.into(),
            source: Arc::new(StoreHead {
                store: Box::new(move || {
                    let store = store.clone();
                    Box::pin(async move { store.head_position().await.ok() })
                }),
                watch: head,
            }),
        }
    }

    /// What is waited on (a worker's name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The position processed now (for a store head: the last one announced).
    pub fn current(&self) -> u64 {
        self.source.current()
    }

    /// Waits until the processed position is at least `position`, at most `timeout`;
    /// returns the processed position. A position already processed returns at once.
    pub async fn wait_for(&self, position: u64, timeout: Duration) -> Result<u64, NotCaughtUp> {
        let started = Instant::now();
        let not_caught_up = |processed, stopped| NotCaughtUp {
            name: self.name.clone(),
            wanted: position,
            processed,
            waited: started.elapsed(),
            stopped,
        };
        match self.source.wait(position, timeout).await {
            WaitOutcome::Reached(processed) => Ok(processed),
            WaitOutcome::TimedOut(processed) => Err(not_caught_up(processed, false)),
            WaitOutcome::Stopped(processed) => Err(not_caught_up(processed, true)),
        }
    }
}

type Waiting<'a> = Pin<Box<dyn Future<Output = WaitOutcome<u64>> + Send + 'a>>;

/// Where a [`ProcessedPosition`] reads from.
trait Source: Send + Sync {
    fn current(&self) -> u64;
    fn wait(&self, position: u64, timeout: Duration) -> Waiting<'_>;
}

impl<P: LogProgress + Clone + Send + Sync + 'static> Source for watch::Receiver<P> {
    fn current(&self) -> u64 {
        self.borrow().log_position()
    }

    fn wait(&self, position: u64, timeout: Duration) -> Waiting<'_> {
        Box::pin(async move {
            let outcome =
                wait_for_progress(self, timeout, |p: &P| p.log_position() >= position).await;
            match outcome {
                WaitOutcome::Reached(p) => WaitOutcome::Reached(p.log_position()),
                WaitOutcome::Stopped(p) => WaitOutcome::Stopped(p.log_position()),
                WaitOutcome::TimedOut(p) => WaitOutcome::TimedOut(p.log_position()),
            }
        })
    }
}

type ReadHead =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Option<u64>> + Send>> + Send + Sync + 'static>;

/// The head of an event store's log.
struct StoreHead {
    store: ReadHead,
    watch: crate::store::PositionWatch,
}

/// The longest a wait on a store's head goes without reading the head again: the store's
/// notifications are hints, and a store without them still answers within this.
const STORE_HEAD_POLL: Duration = Duration::from_millis(100);

impl Source for StoreHead {
    fn current(&self) -> u64 {
        self.watch.head()
    }

    fn wait(&self, position: u64, timeout: Duration) -> Waiting<'_> {
        Box::pin(async move {
            let deadline = Instant::now() + timeout;
            let mut watch = self.watch.clone();
            let mut head = 0;
            loop {
                // A failed or hung read keeps the last head: not caught up, retried until
                // the deadline, never past it.
                match tokio::time::timeout_at(deadline, (self.store)()).await {
                    Ok(read) => head = read.unwrap_or(head),
                    Err(_) => return WaitOutcome::TimedOut(head),
                }
                if head >= position {
                    return WaitOutcome::Reached(head);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return WaitOutcome::TimedOut(head);
                }
                watch.wait_beyond(head, left.min(STORE_HEAD_POLL)).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExpectedVersion, InMemoryEventStore, JsonPayload, Metadata, NewEvent};

    #[tokio::test]
    async fn a_wait_ends_when_the_position_is_processed_not_before() {
        let (progress, watch) = watch::channel(3u64);
        let view = ProcessedPosition::from_watch("view", watch);
        let waiting = tokio::spawn({
            let view = view.clone();
            async move { view.wait_for(5, Duration::from_secs(5)).await }
        });
        progress.send_replace(4);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        progress.send_replace(6);
        assert_eq!(waiting.await.unwrap(), Ok(6));
        assert_eq!(view.current(), 6);
    }

    #[tokio::test]
    async fn a_stopped_worker_ends_the_wait_early_and_says_so() {
        let (progress, watch) = watch::channel(2u64);
        let view = ProcessedPosition::from_watch("view", watch);
        drop(progress);
        let started = std::time::Instant::now();
        let error = view.wait_for(3, Duration::from_secs(30)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!((error.processed, error.stopped), (2, true));
        assert!(error.to_string().contains("stopped"), "{error}");
    }

    #[tokio::test]
    async fn the_store_head_counts_every_committed_event() {
        let store = Arc::new(InMemoryEventStore::new());
        let head = ProcessedPosition::store_head("orders", store.clone());
        let late = head.wait_for(1, Duration::from_millis(20)).await;
        assert_eq!(late.map_err(|e| (e.processed, e.stopped)), Err((0, false)));
        let waiting = tokio::spawn({
            let head = head.clone();
            async move { head.wait_for(1, Duration::from_secs(5)).await }
        });
        let event = NewEvent::raw("Pinged", 1, JsonPayload::parse("{}").unwrap());
        store
            .append(
                "Ping-1",
                ExpectedVersion::Any,
                vec![event],
                &Metadata::default(),
            )
            .await
            .unwrap();
        assert_eq!(waiting.await.unwrap(), Ok(1));
    }
}
