//! Parking an event the broker refused for good ([`RefusedEvents::Park`]): a bounded
//! record of it goes to the parking topic, in the event's place in the window, so the
//! checkpoint moves past the event only once that record is acknowledged.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Headers;
use rdkafka::producer::{DeliveryFuture, FutureRecord};

use cqrs_core::{EventStore, RecordedEvent};

use super::Session;
use crate::bounded::bounded_copy;
use crate::headers;
use crate::relay::config::RefusedEvents;
use crate::relay::error::RelayError;
use crate::relay::in_flight::Parked;

/// Header bytes a parking record keeps: the whole envelope under the assumptions of
/// [`RelayConfig::max_payload_bytes`](crate::RelayConfig::max_payload_bytes).
const PARKED_MAX_HEADER_BYTES: usize = 32 * 1024;

impl<S: EventStore + ?Sized> Session<'_, S> {
    /// The broker refused the front of the window (`error`): parks that event in its place
    /// if the relay parks and the refusal is for good, otherwise returns `error`.
    pub(super) async fn park_front(&mut self, error: RelayError) -> Result<(), RelayError> {
        let RelayError::Publish { position, .. } = error else {
            return Err(error);
        };
        if !self.parks(&error) {
            return Err(error);
        }
        let read = self.store.read_all(position, 1).await;
        let event = match read {
            Ok(events) => events.into_iter().next().filter(|e| e.position == position),
            Err(source) => {
                return Err(RelayError::Store {
                    relay: self.config.checkpoint_name.clone(),
                    source,
                })
            }
        };
        let Some(event) = event else {
            return Err(error);
        };
        let (delivery, parked) = self.park(&event, error).await?;
        self.in_flight
            .retry_front(event.position, event.stream_id.clone(), delivery, parked);
        Ok(())
    }

    /// True when `error` is a refusal the relay parks instead of stopping.
    fn parks(&self, error: &RelayError) -> bool {
        matches!(self.config.on_refused, RefusedEvents::Park { .. })
            && matches!(error, RelayError::Publish { .. })
            && !error.is_transient()
    }

    /// Sends the parking record of `event`, which the broker refused with `refused`, when
    /// the relay parks such events; otherwise returns `refused`.
    pub(super) async fn park(
        &mut self,
        event: &RecordedEvent,
        refused: RelayError,
    ) -> Result<(DeliveryFuture, Parked), RelayError> {
        let config = self.config;
        let (RefusedEvents::Park { topic: parking }, RelayError::Publish { topic, .. }) =
            (&config.on_refused, &refused)
        else {
            return Err(refused);
        };
        if refused.is_transient() {
            return Err(refused);
        }
        let reason = refused.to_string();
        tracing::error!(relay = %config.checkpoint_name, position = event.position, stream = %event.stream_id, parking_topic = %parking, %reason, "the broker refused an event for good; parking it");
        let envelope = headers::encode(event);
        let copy = bounded_copy(
            envelope.iter().map(|h| (h.key, h.value)),
            Some(event.payload.as_str().as_bytes()),
            (config.parked_max_payload_bytes, PARKED_MAX_HEADER_BYTES),
            &[
                (headers::DLQ_ERROR, &reason),
                (headers::DLQ_STAGE, "relay"),
                (headers::DLQ_ORIGINAL_TOPIC, topic),
            ],
        );
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(parking)
            .key(event.stream_id.as_bytes())
            .headers(copy.headers);
        if let Some(value) = copy.value {
            record = record.payload(value);
        }
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.progress.report(|p| p.parked += 1);
                    let parked = Parked {
                        topic: parking.as_str().into(),
                        refused: reason,
                    };
                    return Ok((delivery, parked));
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    // librdkafka drains its queue by itself; the window is settled later.
                    record = returned;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((source, _)) => {
                    return Err(RelayError::Park {
                        relay: config.checkpoint_name.as_str().into(),
                        position: event.position,
                        stream: event.stream_id.clone(),
                        refused: reason,
                        topic: parking.as_str().into(),
                        source: Box::new(source),
                    })
                }
            }
        }
    }
}
