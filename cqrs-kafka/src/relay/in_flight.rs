//! The window of sent but not yet acknowledged events, settled in position order.
//!
//! Acknowledgements arrive in any order across partitions; the window only moves its
//! `acked` mark past an event once that event and every event before it were
//! acknowledged. That mark is what the relay may checkpoint.
//!
//! A failed delivery ends the window: nothing after it is settled any more (an event
//! acknowledged after a failed one must not move the mark past the failed one), unless
//! the session parks the failed event and [`InFlight::retry_front`] puts the parking
//! record's delivery in its place.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::FutureExt;
use rdkafka::producer::DeliveryFuture;

use super::config::RelayConfig;
use super::error::RelayError;
use crate::TopicMapping;

/// One sent event waiting for its acknowledgement. Its topic is not kept: a failure
/// derives it from the stream again.
struct Pending {
    position: u64,
    stream: Arc<str>,
    delivery: DeliveryFuture,
    /// Set when `delivery` is the parking record of a refused event.
    parked: Option<Parked>,
}

/// Where a refused event was parked, and why it was refused.
pub(crate) struct Parked {
    pub(crate) topic: Arc<str>,
    pub(crate) refused: String,
}

/// Sent events in position order, and the highest position below which all are acked.
pub(crate) struct InFlight {
    relay: Arc<str>,
    topics: TopicMapping,
    pending: VecDeque<Pending>,
    acked: u64,
    /// Events (not parking records) acknowledged since [`take_published`](Self::take_published).
    published: u64,
    /// A delivery failed and was not replaced: nothing more is settled.
    failed: bool,
}

impl InFlight {
    /// An empty window of the relay configured by `config`; everything up to `acked` is
    /// already acknowledged.
    pub(crate) fn new(config: &RelayConfig, acked: u64) -> Self {
        Self {
            relay: config.checkpoint_name.as_str().into(),
            topics: config.topics.clone(),
            pending: VecDeque::new(),
            acked,
            published: 0,
            failed: false,
        }
    }

    /// Everything up to this position (inclusive) was acknowledged by the broker.
    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }

    /// How many events the broker acknowledged on their topic (parking records not
    /// included) since the last call.
    pub(crate) fn take_published(&mut self) -> u64 {
        std::mem::take(&mut self.published)
    }

    /// Events sent and not yet settled.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Records a sent event (or, with `parked`, the parking record of a refused one).
    /// Positions must be pushed in increasing order.
    pub(crate) fn push(
        &mut self,
        position: u64,
        stream: Arc<str>,
        delivery: DeliveryFuture,
        parked: Option<Parked>,
    ) {
        self.pending.push_back(Pending {
            position,
            stream,
            delivery,
            parked,
        });
    }

    /// Puts the parking record of the event whose delivery just failed back in its place,
    /// at the front of the window, and lets settling go on.
    pub(crate) fn retry_front(
        &mut self,
        position: u64,
        stream: Arc<str>,
        delivery: DeliveryFuture,
        parked: Parked,
    ) {
        self.pending.push_front(Pending {
            position,
            stream,
            delivery,
            parked: Some(parked),
        });
        self.failed = false;
    }

    /// Settles the acknowledgements that already arrived, in order, without waiting.
    pub(crate) fn settle_ready(&mut self) -> Result<(), RelayError> {
        while !self.failed {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            match (&mut front.delivery).now_or_never() {
                Some(outcome) => self.settle_front(outcome)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Waits until at most `keep` events remain unsettled.
    pub(crate) async fn settle_until(&mut self, keep: usize) -> Result<(), RelayError> {
        while self.pending.len() > keep && !self.failed {
            let Some(front) = self.pending.front_mut() else {
                break;
            };
            let outcome = (&mut front.delivery).await;
            self.settle_front(outcome)?;
        }
        Ok(())
    }

    fn settle_front(
        &mut self,
        outcome: Result<
            rdkafka::producer::future_producer::OwnedDeliveryResult,
            futures::channel::oneshot::Canceled,
        >,
    ) -> Result<(), RelayError> {
        let Some(front) = self.pending.pop_front() else {
            return Ok(());
        };
        let error = match outcome {
            Ok(Ok(_delivery)) => {
                self.acked = front.position;
                self.published += u64::from(front.parked.is_none());
                return Ok(());
            }
            Ok(Err((source, _message))) => match front.parked {
                None => RelayError::Publish {
                    relay: self.relay.clone(),
                    position: front.position,
                    topic: self.topics.topic_for_stream(&front.stream).into(),
                    stream: front.stream,
                    source: Box::new(source),
                },
                Some(parked) => RelayError::Park {
                    relay: self.relay.clone(),
                    position: front.position,
                    stream: front.stream,
                    refused: parked.refused,
                    topic: parked.topic,
                    source: Box::new(source),
                },
            },
            Err(_canceled) => RelayError::ProducerGone {
                relay: self.relay.to_string(),
                position: front.position,
            },
        };
        self.failed = true;
        Err(error)
    }
}
