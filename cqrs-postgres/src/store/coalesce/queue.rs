//! The coalescer's queue: callers push their [`Request`]s, writers take batches of them
//! under the rules of the [coalescer](super) (one request per stream and batch, in queue
//! order, within the configured sizes).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use cqrs_core::{AppendResult, StoreError};
use tokio::sync::{oneshot, Notify};

use crate::store::append::Batch;

/// One caller's append, waiting for a writer.
pub(crate) struct Request {
    /// Validated and encoded by the caller (steps 1 and 2 of the append path).
    pub(crate) batch: Batch,
    pub(crate) reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

/// What callers and writers share.
pub(crate) struct Shared {
    /// Locked only to push, or to take a batch / release its streams (no await inside).
    queue: Mutex<Queue>,
    /// Wakes a writer when a request is queued.
    pub(crate) ready: Notify,
    max_requests: usize,
    max_events: usize,
    pub(crate) max_request_events: usize,
}

#[derive(Default)]
struct Queue {
    /// Requests not yet taken, in arrival order.
    pending: VecDeque<Request>,
    /// Streams with a request in a batch being written: their queued requests wait.
    in_flight: HashSet<Arc<str>>,
}

impl Shared {
    /// A queue for batches of at most `max_requests` requests and `max_events` events,
    /// taking requests of at most `max_request_events` events (all at least 1).
    pub(crate) fn new(max_requests: usize, max_events: usize, max_request_events: usize) -> Self {
        Self {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            max_requests: max_requests.max(1),
            max_events: max_events.max(1),
            max_request_events: max_request_events.clamp(1, max_events.max(1)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-updated in a way that
        // matters (pushes and batch takes are single moves), so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `request` and wakes a writer.
    pub(crate) fn push(&self, request: Request) {
        self.lock().pending.push_back(request);
        self.ready.notify_one();
    }

    /// Takes the queued requests that can share a batch, in order, and marks their streams
    /// in flight.
    pub(crate) fn take(&self) -> Vec<Request> {
        let mut queue = self.lock();
        let Queue { pending, in_flight } = &mut *queue;
        let mut batch = Vec::new();
        let mut events = 0;
        // The requests passed over, in order; they go back to the front, so a take costs
        // what it looks at, not the whole queue.
        let mut kept = Vec::new();
        while let Some(request) = pending.pop_front() {
            if request.reply.is_closed() {
                continue; // the caller gave up before anything was written
            }
            let len = request.batch.events().len();
            let full = !batch.is_empty()
                && (batch.len() == self.max_requests || events + len > self.max_events);
            if full {
                // Stop here, so no later request of this one's stream overtakes it.
                kept.push(request);
                break;
            }
            if in_flight.contains(request.batch.stream_id()) {
                // Its stream is being written, by another batch or earlier in this one.
                kept.push(request);
                continue;
            }
            in_flight.insert(request.batch.stream_id().clone());
            events += len;
            batch.push(request);
        }
        while let Some(request) = kept.pop() {
            pending.push_front(request);
        }
        batch
    }

    /// Lets the queued requests of the batch's streams go.
    pub(crate) fn release(&self, batch: &[Request]) {
        let mut queue = self.lock();
        for request in batch {
            queue.in_flight.remove(request.batch.stream_id());
        }
        let more = !queue.pending.is_empty();
        drop(queue);
        if more {
            // Requests that waited for these streams: the other writer may take them now.
            self.ready.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_core::{ExpectedVersion, JsonPayload, Metadata, NewEvent, StoreLimits};

    use super::*;

    fn request(stream: &str) -> (Request, oneshot::Receiver<Result<AppendResult, StoreError>>) {
        let event = NewEvent::raw("Happened", 1, JsonPayload::parse("{}").unwrap());
        let batch = Batch::prepare(
            stream,
            ExpectedVersion::Any,
            vec![event],
            &Metadata::default(),
            &StoreLimits::default(),
        )
        .unwrap();
        let (reply, answer) = oneshot::channel();
        (Request { batch, reply }, answer)
    }

    fn streams(batch: &[Request]) -> Vec<&str> {
        batch.iter().map(|r| &**r.batch.stream_id()).collect()
    }

    #[test]
    fn a_take_passes_over_busy_streams_and_leaves_them_first_in_order() {
        let shared = Shared::new(3, 100, 10);
        let mut answers = Vec::new();
        for stream in ["a", "a", "b", "a", "c", "d", "e"] {
            let (request, answer) = request(stream);
            answers.push(answer);
            shared.push(request);
        }
        // One request per stream and batch, at most 3: a, b, c; the second `a` waits.
        let first = shared.take();
        assert_eq!(streams(&first), ["a", "b", "c"]);
        // `a` is in flight: its requests stay queued, in order, ahead of the rest.
        let second = shared.take();
        assert_eq!(streams(&second), ["d", "e"]);
        shared.release(&first);
        let third = shared.take();
        assert_eq!(streams(&third), ["a"]);
        shared.release(&third);
        assert_eq!(streams(&shared.take()), ["a"]);
        assert!(shared.take().is_empty());
    }
}
