//! Filling a store with events.

use cqrs_core::{EventStore, ExpectedVersion, JsonPayload, Metadata, NewEvent, RecordedEvent};
use uuid::Uuid;

/// Appends `total` events over `streams` streams (half `Order-<n>`, half `Invoice-<n>`),
/// a few events per append, round-robin, so the global log interleaves the streams.
/// Every event's payload is `{"amount": <its global index + 1>}`; every append carries a
/// correlation id and a `tenant` header. Returns the recorded events in position order.
pub async fn append_events<S: EventStore + ?Sized>(
    store: &S,
    streams: usize,
    total: usize,
) -> Vec<RecordedEvent> {
    const PER_APPEND: usize = 4;
    let mut recorded = Vec::with_capacity(total);
    let mut index = 0;
    let mut round = 0;
    while index < total {
        for stream in 0..streams {
            if index >= total {
                break;
            }
            let category = if stream % 2 == 0 { "Order" } else { "Invoice" };
            let stream_id = format!("{category}-{stream}");
            let count = PER_APPEND.min(total - index);
            let events = (0..count)
                .map(|i| {
                    let payload = JsonPayload::parse(format!(r#"{{"amount":{}}}"#, index + i + 1))
                        .expect("json");
                    NewEvent::raw(format!("{category}Changed"), 1, payload)
                })
                .collect();
            let metadata = Metadata {
                correlation_id: Some(Uuid::now_v7()),
                causation_id: Some(Uuid::now_v7()),
                ..Metadata::default()
            }
            .with_header("tenant", "acme");
            let result = store
                .append(&stream_id, ExpectedVersion::Any, events, &metadata)
                .await
                .expect("append");
            recorded.extend(result.events);
            index += count;
        }
        round += 1;
        assert!(round < 1_000_000);
    }
    recorded
}
