//! The `Idempotency-Key` header of the order API (embedded mode, in process): a repeated
//! key has one effect and gets the first answer, status and body, refusals included; a
//! key names one order; a malformed key is a 400 naming the header.

use axum::http::StatusCode;
use order::OrderSystem;
use serde_json::{json, Value};
use service_kit::testing::oneshot::call_with_headers;

async fn post(
    api: &axum::Router,
    uri: &str,
    key: Option<&[u8]>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let headers: Vec<(&str, &[u8])> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    let (status, _, reply) = call_with_headers(api, "POST", uri, &headers, body).await;
    (status, reply)
}

fn place(order_id: &str, quantity: u32) -> Value {
    json!({
        "order_id": order_id,
        "customer_id": "dora",
        "items": [{"sku": "pen", "label": "Pen", "unit_price": 150, "quantity": quantity}]
    })
}

async fn version(system: &OrderSystem, order_id: &str) -> u64 {
    system.orders.load(order_id).await.expect("load").version
}

#[tokio::test]
async fn a_repeated_key_places_the_order_once_and_answers_as_the_first_time() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let key = Some(&b"place-o1"[..]);
    let first = post(&api, "/orders", key, Some(place("o1", 2))).await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    assert!(first.1["position"].as_u64().is_some(), "{}", first.1);
    let again = post(&api, "/orders", key, Some(place("o1", 2))).await;
    assert_eq!(again, first, "same status and body, position included");
    // A key names one command: another body under it still gets the first answer.
    let other_body = post(&api, "/orders", key, Some(place("o1", 9))).await;
    assert_eq!(other_body, first);
    assert_eq!(version(&system, "o1").await, 1, "one OrderPlaced");

    let pay_key = Some(&b"pay-o1"[..]);
    let paid = post(&api, "/orders/o1/pay", pay_key, None).await;
    assert_eq!(paid.0, StatusCode::CREATED, "{}", paid.1);
    assert_eq!(post(&api, "/orders/o1/pay", pay_key, None).await, paid);
    assert_eq!(version(&system, "o1").await, 2, "one OrderPaid");
    // Without the key (or with another) it is a second payment, which the order refuses.
    let (status, reply) = post(&api, "/orders/o1/pay", Some(&b"pay-o1-again"[..]), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reply}");
    assert_eq!(reply["code"], "already_paid");
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refused_command_repeated_under_its_key_gets_the_same_refusal() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    assert_eq!(
        post(&api, "/orders", None, Some(place("o2", 1))).await.0,
        StatusCode::CREATED
    );
    let key = Some(&b"ship-o2"[..]);
    let refused = post(&api, "/orders/o2/ship", key, None).await;
    assert_eq!(refused.0, StatusCode::CONFLICT, "unpaid: {}", refused.1);
    assert_eq!(
        (refused.1["error"].as_str(), refused.1["code"].as_str()),
        (Some("refused"), Some("invalid_status"))
    );
    // Once paid, shipping would succeed; the key's command was refused, and stays so.
    assert_eq!(
        post(&api, "/orders/o2/pay", None, None).await.0,
        StatusCode::CREATED
    );
    assert_eq!(post(&api, "/orders/o2/ship", key, None).await, refused);
    assert_eq!(version(&system, "o2").await, 2, "nothing shipped");
    assert_eq!(
        post(&api, "/orders/o2/ship", None, None).await.0,
        StatusCode::CREATED
    );

    // A refusal of another kind, by its code: not found is a 404 the second time too.
    let missing = post(&api, "/orders/nope/pay", Some(&b"pay-nope"[..]), None).await;
    assert_eq!(missing.0, StatusCode::NOT_FOUND, "{}", missing.1);
    assert_eq!(
        post(&api, "/orders/nope/pay", Some(&b"pay-nope"[..]), None).await,
        missing
    );
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_used_for_another_order_is_refused_and_changes_nothing() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let key = Some(&b"00000000-0000-7000-8000-000000000001"[..]); // a UUID: the command id
    assert_eq!(
        post(&api, "/orders", key, Some(place("o3", 1))).await.0,
        StatusCode::CREATED
    );
    let (status, reply) = post(&api, "/orders", key, Some(place("o4", 1))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(
        (reply["error"].as_str(), reply["field"].as_str()),
        (Some("idempotency_key_reused"), Some("Idempotency-Key"))
    );
    assert_eq!(version(&system, "o4").await, 0);
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_key_is_a_400_naming_the_header_and_nothing_is_applied() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let too_long = vec![b'k'; 201];
    let malformed: [&[u8]; 4] = [b"", b"two words", &too_long, b"cl\xc3\xa9"];
    for key in malformed {
        let (status, reply) = post(&api, "/orders", Some(key), Some(place("o5", 1))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key:?}: {reply}");
        assert_eq!(
            (reply["error"].as_str(), reply["field"].as_str()),
            (Some("invalid_input"), Some("Idempotency-Key")),
            "{key:?}"
        );
    }
    assert_eq!(version(&system, "o5").await, 0);
    let longest = vec![b'k'; 200];
    let (status, reply) = post(&api, "/orders", Some(&longest), Some(place("o5", 1))).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "200 characters are accepted: {reply}"
    );
    system.shutdown().await.unwrap();
}
