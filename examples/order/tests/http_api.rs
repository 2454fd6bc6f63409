//! The HTTP API in embedded mode: commands, queries, validation and refusals.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use order::OrderSystem;
use serde_json::{json, Value};
use service_kit::testing::oneshot::call;
use tower::ServiceExt;

async fn raw(
    router: &axum::Router,
    uri: &str,
    content_type: &str,
    body: &str,
) -> (StatusCode, Value) {
    let request = Request::post(uri)
        .header("content-type", content_type)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn order_body(id: &str, items: Value) -> Value {
    json!({"order_id": id, "customer_id": "alice", "items": items})
}

#[tokio::test]
async fn orders_flow_through_commands_and_queries() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let items = json!([
        {"sku": "pen", "label": "Pen", "unit_price": 150, "quantity": 2},
        {"sku": "lamp", "label": "Lamp", "unit_price": 5000, "quantity": 1},
        {"sku": "tv", "label": "TV", "unit_price": 5001, "quantity": 1}
    ]);
    let (status, reply) = call(
        &api,
        "POST",
        "/orders",
        Some(order_body("o1", items.clone())),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["events"], json!(["OrderPlaced"]));
    let (status, _) = call(&api, "POST", "/orders", Some(order_body("o1", items))).await;
    assert_eq!(status, StatusCode::OK, "an identical repeat is idempotent");

    let (status, order) = call(&api, "GET", "/orders/o1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(order["status"], "placed");
    assert_eq!(order["total"], 150 * 2 + 5000 + 5001);
    assert_eq!(order["lines"][0]["line_total"], 300);

    system.settle().await.unwrap();
    let (status, groups) = call(&api, "GET", "/customers/alice/items?tier=affordable", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        groups,
        json!([{"tier": "affordable", "items": [{"sku": "lamp", "label": "Lamp", "unit_price": 5000, "quantity": 1}]}])
    );
    let (_, all) = call(&api, "GET", "/customers/alice/items", None).await;
    assert_eq!(all.as_array().unwrap().len(), 3);

    assert_eq!(
        call(&api, "POST", "/orders/o1/pay", None).await.0,
        StatusCode::CREATED
    );
    let (status, body) = call(&api, "POST", "/orders/o1/pay", None).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "paying twice is refused: {body}"
    );
    assert_eq!(body["error"], "refused");
    assert_eq!(
        call(
            &api,
            "POST",
            "/orders/o1/cancel",
            Some(json!({"reason": "changed mind"}))
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (status, _) = call(&api, "POST", "/orders/o1/ship", None).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a cancelled order cannot ship"
    );

    // Cancelling removed the items from the view.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, groups) = call(&api, "GET", "/customers/alice/items", None).await;
        if groups
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["items"].as_array().unwrap().is_empty())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "items still in the view: {groups}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _) = call(&api, "GET", "/orders/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_input_is_a_400_naming_the_field_and_nothing_is_applied() {
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let cases = [
        (
            order_body(
                "o1",
                json!([{"sku": "a", "label": "A", "unit_price": "cheap", "quantity": 1}]),
            ),
            "items[0].unit_price",
        ),
        (
            order_body(
                "o1",
                json!([{"sku": "a", "label": "A", "unit_price": -5, "quantity": 1}]),
            ),
            "items[0].unit_price",
        ),
        (
            order_body(
                "o1",
                json!([{"sku": "a", "label": "A", "unit_price": 5, "quantity": 1.5}]),
            ),
            "items[0].quantity",
        ),
        (
            order_body("o1", json!([{"sku": "a", "label": "A", "unit_price": 5}])),
            "items[0]",
        ),
        (json!({"order_id": "o1", "items": []}), "body"),
    ];
    for (body, field) in cases {
        let (status, reply) = call(&api, "POST", "/orders", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {reply}");
        assert_eq!(reply["error"], "invalid_input");
        assert!(
            reply["field"].as_str().unwrap().starts_with(field),
            "field for {body}: expected {field}, got {reply}"
        );
    }
    let (status, reply) = raw(&api, "/orders", "application/json", "{\"order_id\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let (status, reply) = raw(&api, "/orders", "text/plain", "{}").await;
    assert_eq!(
        (status, reply["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("content-type"))
    );
    let (status, reply) = call(&api, "GET", "/customers/alice/items?tier=pricey", None).await;
    assert_eq!(
        (status, reply["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("tier"))
    );

    // Values outside the limits pass the type check but are refused naming the field: 422.
    for (body, field) in [
        (
            order_body(
                "o1",
                json!([{"sku": "a", "label": "A", "unit_price": 5, "quantity": 1001}]),
            ),
            "items[0].quantity",
        ),
        (
            order_body(
                "",
                json!([{"sku": "a", "label": "A", "unit_price": 5, "quantity": 1}]),
            ),
            "order_id",
        ),
    ] {
        let (status, reply) = call(&api, "POST", "/orders", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
        assert_eq!(
            (reply["error"].as_str(), reply["field"].as_str()),
            (Some("invalid_input"), Some(field))
        );
    }
    assert_eq!(
        call(&api, "GET", "/orders/o1", None).await.0,
        StatusCode::NOT_FOUND,
        "nothing was applied"
    );
}
