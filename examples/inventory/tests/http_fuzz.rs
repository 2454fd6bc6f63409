//! Fuzz-style tests of the HTTP bodies (embedded mode): random and mutated JSON for every
//! body-taking route never makes the API panic or answer 5xx; every answer is a 2xx or a
//! 4xx with a JSON `error` and `message`; good requests sent afterwards succeed.

mod support;

use std::time::{Duration, Instant};

use inventory::InventorySystem;
use serde_json::{json, Value};
use service_kit::testing::fuzz::{mutate, path_segment, value, Rng};
use support::oneshot::{call, router, send};

const CASES: usize = 1200;

fn assert_well_formed(case: &str, status: u16, body: &[u8]) {
    let text = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(300)
            .collect::<String>()
    };
    assert!(status < 500, "{case} -> {status}: {}", text());
    if status >= 400 {
        let reply: Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| panic!("{case} -> {status}: not JSON: {}", text()));
        assert!(
            reply["error"].is_string() && reply["message"].is_string(),
            "{case} -> {status}: {reply}"
        );
    } else {
        assert!((200..300).contains(&status), "{case} -> {status}");
    }
}

#[tokio::test]
async fn mutated_product_stock_order_and_cancel_bodies_never_panic_nor_answer_5xx() {
    let started = Instant::now();
    let system = InventorySystem::embedded();
    let api = router(&system);
    assert_eq!(
        call(
            &api,
            "POST",
            "/products",
            Some(json!({"sku": "pen", "name": "Pen"}))
        )
        .await
        .0,
        201
    );
    let valid_order = json!({
        "order_id": "o-1", "customer_id": "alice",
        "items": [{"sku": "pen", "label": "Pen", "unit_price": 150, "quantity": 2}]
    });
    assert_eq!(
        call(&api, "POST", "/orders", Some(valid_order.clone()))
            .await
            .0,
        202
    );
    let bodies = [
        ("/products", json!({"sku": "mug", "name": "Mug"})),
        ("/products/pen/stock", json!({"qty": 3})),
        ("/orders", valid_order),
        ("/orders/o-1/cancel", json!({"reason": "changed mind"})),
    ];
    let mut rng = Rng::new(0x1e_57_0c_4b);
    for case in 0..CASES {
        let (uri, valid) = &bodies[case % bodies.len()];
        let (uri, body) = if case % 7 == 6 {
            let id: String = value(&mut rng, 0).to_string().chars().take(200).collect();
            let uri = uri
                .replace("pen", &path_segment(&id))
                .replace("o-1", &path_segment(&id));
            (uri, value(&mut rng, 3).to_string().into_bytes())
        } else {
            // Fresh ids, so that the contents are judged (not "already registered/placed").
            let mut fresh = valid.clone();
            if let Some(object) = fresh.as_object_mut() {
                if object.contains_key("order_id") {
                    object.insert("order_id".into(), json!(format!("f-{case}")));
                }
                if *uri == "/products" {
                    object.insert("sku".into(), json!(format!("m-{case}")));
                }
            }
            ((*uri).to_owned(), mutate(&mut rng, &fresh))
        };
        let (status, reply) = send(&api, "POST", &uri, body.clone()).await;
        let shown: String = String::from_utf8_lossy(&body).chars().take(300).collect();
        assert_well_formed(&format!("case {case} POST {uri} {shown}"), status, &reply);
    }
    for uri in ["/orders/o-1", "/products/pen", "/stock/low"] {
        system.settle().await.expect("settle");
        let (status, reply) = call(&api, "GET", uri, None).await;
        assert_eq!(status, 200, "{uri}: {reply}");
    }
    let (status, reply) = call(&api, "POST", "/products/pen/stock", Some(json!({"qty": 1}))).await;
    assert_eq!(status, 200, "{reply}");
    let good = json!({"order_id": "o-after", "customer_id": "bob",
        "items": [{"sku": "pen", "label": "Pen", "unit_price": 150, "quantity": 1}]});
    let (status, reply) = call(&api, "POST", "/orders", Some(good)).await;
    assert_eq!(status, 202, "{reply}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    system.shutdown().await.expect("stop");
}
