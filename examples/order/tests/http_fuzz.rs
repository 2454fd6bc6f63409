//! Fuzz-style tests of the HTTP bodies (embedded mode): random and mutated JSON never makes
//! the API panic or answer 5xx; every answer is a 2xx or a 4xx with a JSON `error` and
//! `message`; a good request sent afterwards succeeds.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use order::OrderSystem;
use serde_json::{json, Value};
use service_kit::testing::fuzz::{mutate, path_segment, value, Rng};
use service_kit::testing::oneshot::call;

const CASES: usize = 1200;

async fn post_raw(api: &axum::Router, uri: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    service_kit::testing::oneshot::send_bytes(api, "POST", uri, body).await
}

fn assert_well_formed(case: &str, status: StatusCode, body: &[u8]) {
    assert!(
        !status.is_server_error(),
        "{case} -> {status}: {}",
        String::from_utf8_lossy(body)
    );
    if status.is_client_error() {
        let reply: Value = serde_json::from_slice(body).unwrap_or_else(|_| {
            panic!(
                "{case} -> {status}: not JSON: {}",
                String::from_utf8_lossy(body)
            )
        });
        assert!(
            reply["error"].is_string() && reply["message"].is_string(),
            "{case} -> {status}: {reply}"
        );
    } else {
        assert!(status.is_success(), "{case} -> {status}");
    }
}

fn truncated(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

#[tokio::test]
async fn mutated_order_and_cancel_bodies_never_panic_nor_answer_5xx() {
    let started = Instant::now();
    let system = OrderSystem::embedded();
    let api = order::http::router(system.app_state());
    let valid_order = json!({
        "order_id": "o-1", "customer_id": "alice",
        "items": [
            {"sku": "pen", "label": "Pen", "unit_price": 150, "quantity": 4},
            {"sku": "lamp", "label": "Lamp", "unit_price": 5000, "quantity": 1}
        ]
    });
    let (status, _) = call(&api, "POST", "/orders", Some(valid_order.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let valid_cancel = json!({"reason": "changed mind"});
    let mut rng = Rng::new(0x5eed_0010);
    for case in 0..CASES {
        let (uri, body) = match case % 4 {
            0 | 1 => {
                // A fresh id, so that the order's contents are judged (not "already placed").
                let mut fresh = valid_order.clone();
                fresh["order_id"] = json!(format!("f-{case}"));
                ("/orders".to_owned(), mutate(&mut rng, &fresh))
            }
            2 => (
                "/orders/o-1/cancel".to_owned(),
                mutate(&mut rng, &valid_cancel),
            ),
            _ => {
                let id: String = value(&mut rng, 0).to_string().chars().take(200).collect();
                (
                    format!("/orders/{}/cancel", path_segment(&id)),
                    value(&mut rng, 3).to_string().into_bytes(),
                )
            }
        };
        let (status, reply) = post_raw(&api, &uri, body.clone()).await;
        assert_well_formed(
            &format!("case {case} POST {uri} {}", truncated(&body)),
            status,
            &reply,
        );
        // Whatever was accepted must read back, and pay, without a panic.
        if status.is_success() && uri == "/orders" {
            let reply: Value = serde_json::from_slice(&reply).expect("JSON reply");
            let id = path_segment(reply["order_id"].as_str().expect("order id"));
            for (method, uri) in [
                ("GET", format!("/orders/{id}")),
                ("POST", format!("/orders/{id}/pay")),
            ] {
                let (status, bytes) =
                    service_kit::testing::oneshot::send_bytes(&api, method, &uri, Vec::new()).await;
                assert_well_formed(&format!("case {case} {method} {uri}"), status, &bytes);
            }
        }
    }
    let good = json!({
        "order_id": "o-after", "customer_id": "bob",
        "items": [{"sku": "pen", "label": "Pen", "unit_price": 150, "quantity": 2}]
    });
    let (status, reply) = call(&api, "POST", "/orders", Some(good)).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}
