//! Append coalescing (group commit): concurrent appends on one store share one statement,
//! one transaction and one commit. The trade-off is documented on
//! [`CoalescingConfig`](crate::CoalescingConfig).
//!
//! A caller queues a [`Request`] (its batch, validated and encoded: steps
//! 1 and 2 of the [append path](crate::store::append)) and awaits its reply. Writer tasks
//! (`writer.rs`) take everything queued (up to the configured number of requests and
//! events) and write it with `append_many.sql`, which checks every request's expected
//! version against its own stream. Nothing waits for company: a batch is whatever queued
//! while the previous one was in flight.
//!
//! Rules that keep every caller's answer exactly the one the direct path would give:
//! - **One request per stream and batch, in queue order** (`queue.rs`). A request whose
//!   stream is in a batch being written (or already in the batch being formed) stays
//!   queued for a later batch, and so do the requests queued behind it for that stream.
//! - **A rejected request** (its expected version did not match) is resolved alone (step 5
//!   of the append path): either it is a retry of a stored batch (the original is
//!   returned, `deduplicated`), a reused id, or a typed [`Conflict`](cqrs_core::Conflict)
//!   with the actual version.
//! - **A failed statement** (a writer outside the batch took a stream version, an event id
//!   was reused, the connection died, anything) committed nothing, or, for a lost reply,
//!   possibly everything: each request is then appended alone on the direct path, which
//!   maps conflicts, returns stored batches as `deduplicated` (appends are idempotent by
//!   event id) and retries dead connections.
//! - A caller that gave up (its future was dropped) before its request was taken is
//!   dropped from the queue and never written.

mod queue;
mod writer;

use std::sync::Arc;

use cqrs_core::{AppendResult, StoreError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::queue::{Request, Shared};
use super::append::Batch;
use super::context::StoreContext;
use crate::position::MAX_EVENTS_PER_TRANSACTION;

/// The queue of one store and its writer tasks; the tasks are aborted when it is dropped
/// (with the store).
pub(crate) struct Coalescer {
    shared: Arc<Shared>,
    context: Arc<StoreContext>,
    writers: Vec<JoinHandle<()>>,
}

impl Drop for Coalescer {
    fn drop(&mut self) {
        for writer in &self.writers {
            writer.abort();
        }
    }
}

impl Coalescer {
    /// Starts the configured number of writer tasks
    /// ([`CoalescingConfig`](crate::CoalescingConfig), in `context`) on `runtime`.
    pub(crate) fn start(context: Arc<StoreContext>, runtime: &tokio::runtime::Handle) -> Self {
        let config = &context.config.coalescing;
        let shared = Arc::new(Shared::new(
            config.max_requests,
            config.max_events.clamp(1, MAX_EVENTS_PER_TRANSACTION),
            config.max_request_events,
        ));
        let writers = (0..config.writers.max(1))
            .map(|_| runtime.spawn(writer::write_loop(shared.clone(), context.clone())))
            .collect();
        Self {
            shared,
            context,
            writers,
        }
    }

    /// True when an append of `batch` goes through the queue: empty appends (a version
    /// check only) and large appends take the direct path.
    pub(crate) fn takes(&self, batch: &Batch) -> bool {
        let len = batch.events().len();
        len > 0 && len <= self.shared.max_request_events
    }

    /// Queues the append and waits for its own result, at most for the call timeout.
    pub(crate) async fn append(&self, batch: Batch) -> Result<AppendResult, StoreError> {
        let stream = batch.stream_id().clone();
        let (reply, answer) = oneshot::channel();
        self.shared.push(Request { batch, reply });
        let answer = match self.context.call_timeout().run(answer).await {
            Ok(answer) => answer,
            Err(limit) => {
                // Dropping `answer` closes the reply: a request still queued is then never
                // written; one already being written may still commit.
                tracing::warn!(
                    stream = &*stream,
                    ?limit,
                    "coalesced append not answered within the call timeout"
                );
                return Err(StoreError::Timeout {
                    operation: "append",
                });
            }
        };
        answer.map_err(|_| StoreError::Backend {
            operation: "append",
            source: format!(
                "the append writer stopped before answering for stream `{stream}`; the append may or may not be stored, retry it (appends are idempotent)"
            )
            .into(),
        })?
    }
}
