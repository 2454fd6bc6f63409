//! The `Idempotency-Key` header of the inventory's product commands (embedded mode, in
//! process): a repeated key has one effect and gets the first answer, status and body,
//! refusals included; a key names one product's command; a malformed key is a 400 naming
//! the header.

use axum::http::StatusCode;
use inventory::http::{self, ApiState};
use inventory::InventorySystem;
use serde_json::{json, Value};
use service_kit::testing::oneshot::call_with_headers;

fn api(system: &InventorySystem) -> axum::Router {
    http::router(ApiState {
        inventory: system.app.clone(),
        low_stock_threshold: 5,
        health: system.health.clone(),
        stock_position: system.stock_position(),
        read_your_writes: Default::default(),
    })
}

async fn send(
    api: &axum::Router,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let headers: Vec<(&str, &[u8])> = key
        .map(|k| ("Idempotency-Key", k.as_bytes()))
        .into_iter()
        .collect();
    let (status, _, reply) = call_with_headers(api, method, uri, &headers, body).await;
    (status, reply)
}

async fn on_hand(system: &InventorySystem, sku: &str) -> u64 {
    system
        .app
        .product(sku)
        .await
        .expect("load")
        .map_or(0, |p| p.on_hand)
}

#[tokio::test]
async fn stock_received_twice_under_one_key_is_added_once_and_answered_alike() {
    let system = InventorySystem::embedded();
    let api = api(&system);
    let register = json!({"sku": "pen", "name": "Ballpoint pen"});
    let first = send(
        &api,
        "POST",
        "/products",
        Some("register-pen"),
        Some(register.clone()),
    )
    .await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    assert_eq!(
        send(
            &api,
            "POST",
            "/products",
            Some("register-pen"),
            Some(register)
        )
        .await,
        first,
        "the same 201 and body, not the 200 of an identical registration"
    );

    let receive = Some(json!({"qty": 5}));
    let first = send(
        &api,
        "POST",
        "/products/pen/stock",
        Some("delivery-1"),
        receive.clone(),
    )
    .await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert!(first.1["position"].as_u64().is_some(), "{}", first.1);
    let again = send(
        &api,
        "POST",
        "/products/pen/stock",
        Some("delivery-1"),
        receive.clone(),
    )
    .await;
    assert_eq!(again, first, "same status and body, position included");
    assert_eq!(on_hand(&system, "pen").await, 5, "received once");
    let other = send(
        &api,
        "POST",
        "/products/pen/stock",
        Some("delivery-2"),
        receive,
    )
    .await;
    assert_eq!(other.0, StatusCode::OK);
    assert_eq!(
        on_hand(&system, "pen").await,
        10,
        "another key is another delivery"
    );

    // Releasing under a key: the outcome of the first execution, also when repeated.
    let release = "/products/pen/reservations/o1";
    let first = send(&api, "DELETE", release, Some("release-o1"), None).await;
    assert_eq!(first.1["outcome"], "not_reserved", "{}", first.1);
    assert!(first.1["position"].as_u64().is_some(), "{}", first.1);
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refused_command_repeated_under_its_key_gets_the_same_refusal() {
    let system = InventorySystem::embedded();
    let api = api(&system);
    let receive = Some(json!({"qty": 3}));
    let refused = send(
        &api,
        "POST",
        "/products/cup/stock",
        Some("cups"),
        receive.clone(),
    )
    .await;
    assert_eq!(
        refused.0,
        StatusCode::NOT_FOUND,
        "not registered: {}",
        refused.1
    );
    // Once registered, receiving would succeed; the key's command was refused, and stays so.
    let register = Some(json!({"sku": "cup", "name": "Cup"}));
    assert_eq!(
        send(&api, "POST", "/products", None, register).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        send(
            &api,
            "POST",
            "/products/cup/stock",
            Some("cups"),
            receive.clone()
        )
        .await,
        refused
    );
    assert_eq!(on_hand(&system, "cup").await, 0);

    // A conflict: registering the sku under another name, 409 the second time too.
    let rename = Some(json!({"sku": "cup", "name": "Mug"}));
    let conflict = send(
        &api,
        "POST",
        "/products",
        Some("rename-cup"),
        rename.clone(),
    )
    .await;
    assert_eq!(conflict.0, StatusCode::CONFLICT, "{}", conflict.1);
    assert_eq!(conflict.1["error"], "already_registered");
    assert_eq!(
        send(&api, "POST", "/products", Some("rename-cup"), rename).await,
        conflict
    );

    // A rule on the values: more stock than a product may hold, 422 the second time too.
    let too_much = Some(json!({"qty": inventory::domain::MAX_RECEIPT}));
    let mut refused_rule = None;
    for attempt in 0.. {
        let key = format!("big-{attempt}");
        let reply = send(
            &api,
            "POST",
            "/products/cup/stock",
            Some(&key),
            too_much.clone(),
        )
        .await;
        if reply.0 == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(reply.1["error"], "too_much_stock", "{}", reply.1);
            let again = send(
                &api,
                "POST",
                "/products/cup/stock",
                Some(&key),
                too_much.clone(),
            )
            .await;
            assert_eq!(again, reply);
            refused_rule = Some(reply);
            break;
        }
        assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);
        assert!(attempt < 10_000, "never refused");
    }
    assert!(refused_rule.is_some());
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_used_for_another_product_is_refused_and_changes_nothing() {
    let system = InventorySystem::embedded();
    let api = api(&system);
    for sku in ["a", "b"] {
        let register = Some(json!({"sku": sku, "name": sku}));
        assert_eq!(
            send(&api, "POST", "/products", None, register).await.0,
            StatusCode::CREATED
        );
    }
    let receive = Some(json!({"qty": 1}));
    let key = Some("shared-key");
    assert_eq!(
        send(&api, "POST", "/products/a/stock", key, receive.clone())
            .await
            .0,
        StatusCode::OK
    );
    let (status, reply) = send(&api, "POST", "/products/b/stock", key, receive).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(
        (reply["error"].as_str(), reply["field"].as_str()),
        (Some("idempotency_key_reused"), Some("Idempotency-Key"))
    );
    assert_eq!(on_hand(&system, "b").await, 0);
    system.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_malformed_key_is_a_400_naming_the_header_and_nothing_is_applied() {
    let system = InventorySystem::embedded();
    let api = api(&system);
    let too_long = "k".repeat(201);
    for key in ["", "two words", too_long.as_str()] {
        let register = Some(json!({"sku": "pen", "name": "Pen"}));
        let (status, reply) = send(&api, "POST", "/products", Some(key), register).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key:?}: {reply}");
        assert_eq!(
            (reply["error"].as_str(), reply["field"].as_str()),
            (Some("invalid_field"), Some("Idempotency-Key")),
            "{key:?}"
        );
    }
    assert!(system.app.product("pen").await.unwrap().is_none());
    system.shutdown().await.unwrap();
}
