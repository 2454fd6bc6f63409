//! The largest order the limits allow fits in one Kafka message: the store's payload limit
//! in services mode ([`store_limits`]) stays below the producer's
//! `message.max.bytes` (1,000,000 bytes by default), and every event the domain can produce
//! is below that limit, so the relay never meets an event the broker refuses as too large.

use cqrs_core::Aggregate;
use cqrs_kafka::RelayConfig;
use order::domain::*;
use order::services::store_limits;

/// The widest character in JSON text: 4 bytes of UTF-8, never escaped.
const WIDE: char = '𝄞';

fn widest(chars: usize) -> String {
    std::iter::repeat_n(WIDE, chars).collect()
}

#[tokio::test]
async fn the_largest_valid_order_fits_a_kafka_message() {
    const PRODUCER_MESSAGE_MAX_BYTES: usize = 1_000_000;
    let max_payload = store_limits(&RelayConfig::default()).max_payload_for("Order-1");
    assert!(max_payload < PRODUCER_MESSAGE_MAX_BYTES, "{max_payload}");

    let line = OrderLine {
        sku: widest(MAX_SKU_LEN),
        label: widest(MAX_LABEL_LEN),
        unit_price: Cents(MAX_UNIT_PRICE),
        quantity: MAX_QUANTITY,
    };
    let place = OrderCommand::PlaceOrder {
        order_id: widest(MAX_ID_LEN),
        customer_id: widest(MAX_ID_LEN),
        items: vec![line; MAX_LINES],
    };
    let order = Order::default();
    let events = order
        .handle(&place, &())
        .await
        .expect("the largest valid order is accepted");
    let mut placed = order.clone();
    for event in &events {
        placed.apply(event);
    }
    let cancel = OrderCommand::CancelOrder {
        order_id: placed.order_id.clone(),
        reason: widest(MAX_REASON_LEN),
    };
    let pay = OrderCommand::PayOrder {
        order_id: placed.order_id.clone(),
    };
    let mut all = events;
    all.extend(placed.handle(&cancel, &()).await.expect("cancel"));
    all.extend(placed.handle(&pay, &()).await.expect("pay"));
    for event in all {
        let bytes = cqrs_core::NewEvent::from_event(&event)
            .expect("encode")
            .payload
            .len();
        assert!(
            bytes < max_payload / 4, // measured: 112,787 bytes for OrderPlaced
            "{} is {bytes} bytes: too close to the relay's limit of {max_payload}",
            cqrs_core::Event::event_type(&event)
        );
        eprintln!(
            "largest {} payload: {bytes} bytes",
            cqrs_core::Event::event_type(&event)
        );
    }

    // And the store in services mode takes it: the stream id `Order-{id}` of the longest
    // id in the widest characters fits the stream id limit, the payload the relay's.
    let store = std::sync::Arc::new(cqrs_core::InMemoryEventStore::with_limits(store_limits(
        &RelayConfig::default(),
    )));
    let orders = cqrs_core::Repository::<Order, _>::new(store);
    orders
        .execute(place)
        .await
        .expect("the store accepts the largest valid order");
}
