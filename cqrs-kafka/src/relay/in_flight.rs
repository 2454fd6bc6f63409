//! The window of sent but not yet acknowledged events, settled in position order.
//!
//! Acknowledgements arrive in any order across partitions; the window only moves its
//! `acked` mark past an event once that event and every event before it were
//! acknowledged. That mark is what the relay may checkpoint.

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
}

/// Sent events in position order, and the highest position below which all are acked.
pub(crate) struct InFlight {
    relay: Arc<str>,
    topics: TopicMapping,
    pending: VecDeque<Pending>,
    acked: u64,
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
        }
    }

    /// Everything up to this position (inclusive) was acknowledged by the broker.
    pub(crate) fn acked(&self) -> u64 {
        self.acked
    }

    /// Events sent and not yet settled.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Records a sent event. Positions must be pushed in increasing order.
    pub(crate) fn push(&mut self, position: u64, stream: Arc<str>, delivery: DeliveryFuture) {
        self.pending.push_back(Pending {
            position,
            stream,
            delivery,
        });
    }

    /// Settles the acknowledgements that already arrived, in order, without waiting.
    pub(crate) fn settle_ready(&mut self) -> Result<(), RelayError> {
        while let Some(front) = self.pending.front_mut() {
            match (&mut front.delivery).now_or_never() {
                Some(outcome) => self.settle_front(outcome)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Waits until at most `keep` events remain unsettled.
    pub(crate) async fn settle_until(&mut self, keep: usize) -> Result<(), RelayError> {
        while self.pending.len() > keep {
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
        match outcome {
            Ok(Ok(_delivery)) => {
                self.acked = front.position;
                Ok(())
            }
            Ok(Err((source, _message))) => Err(RelayError::Publish {
                relay: self.relay.clone(),
                position: front.position,
                topic: self.topics.topic_for_stream(&front.stream).into(),
                stream: front.stream,
                source: Box::new(source),
            }),
            Err(_canceled) => Err(RelayError::ProducerGone {
                relay: self.relay.to_string(),
                position: front.position,
            }),
        }
    }
}
