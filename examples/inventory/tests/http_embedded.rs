//! The HTTP API end to end in embedded mode, over a real TCP socket.
//!
//! Over 400 lines on purpose: three long scenarios (the happy path, every refused input,
//! store failures) that share the server setup and read as the API's contract.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{
    AppendResult, EventStore, ExpectedVersion, InMemoryEventStore, Metadata, NewEvent,
    PositionWatch, RecordedEvent, RecordedRefusal, Snapshot, StoreError,
};
use inventory::http::{self, ApiState};
use inventory::InventorySystem;
use serde_json::{json, Value};
use support::http_client::{request, Response};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    system: InventorySystem,
}

async fn start(store: Arc<dyn EventStore>) -> Server {
    let system = InventorySystem::on(store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let state = ApiState {
        inventory: system.app.clone(),
        low_stock_threshold: 5,
        health: system.health.clone(),
        stock_position: system.stock_position(),
        read_your_writes: Default::default(),
    };
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(http::serve(listener, state, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop,
        task,
        system,
    }
}

impl Server {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let body = body.map(|b| b.to_string());
        request(self.addr, method, path, body.as_deref()).await
    }

    async fn raw(&self, method: &str, path: &str, body: &str) -> Response {
        request(self.addr, method, path, Some(body)).await
    }

    /// Polls `GET path` until `done` holds for the JSON body (the saga and views run
    /// asynchronously).
    async fn eventually(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            let response = self.call("GET", path, None).await;
            if response.status == 200 && done(&response.body) {
                return response.body;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("GET {path} never satisfied the condition");
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let served = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("graceful shutdown in time");
        served.expect("server task").expect("served");
        self.system.shutdown().await.expect("runners stopped");
    }
}

fn assert_invalid(response: &Response, field: &str) {
    assert_eq!(response.status, 400, "{response:?}");
    assert_eq!(response.body["field"], field, "{response:?}");
    assert!(response.body["message"].is_string(), "{response:?}");
}

fn order(id: &str, sku: &str, quantity: u64) -> Value {
    json!({
        "order_id": id,
        "customer_id": "alice",
        "items": [{ "sku": sku, "label": "Pen", "unit_price": 150, "quantity": quantity }]
    })
}

#[tokio::test]
async fn products_stock_and_orders_through_the_api() {
    let server = start(Arc::new(InMemoryEventStore::new())).await;

    let created = server
        .call(
            "POST",
            "/products",
            Some(json!({ "sku": "pen", "name": "Pen" })),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let again = server
        .call(
            "POST",
            "/products",
            Some(json!({ "sku": "pen", "name": "Pen" })),
        )
        .await;
    assert_eq!((again.status, &again.body["created"]), (200, &json!(false)));
    let renamed = server
        .call(
            "POST",
            "/products",
            Some(json!({ "sku": "pen", "name": "Other" })),
        )
        .await;
    assert_eq!(
        (renamed.status, &renamed.body["error"]),
        (409, &json!("already_registered"))
    );

    let received = server
        .call("POST", "/products/pen/stock", Some(json!({ "qty": 3 })))
        .await;
    assert_eq!(received.status, 200, "{received:?}");
    let level = server
        .eventually("/products/pen", |b| b["available"] == 3)
        .await;
    assert_eq!(
        level,
        json!({ "sku": "pen", "name": "Pen", "on_hand": 3, "reserved": 0, "available": 3 })
    );

    // Confirmed: 2 of 3 pens reserved.
    let placed = server
        .call("POST", "/orders", Some(order("o-1", "pen", 2)))
        .await;
    assert_eq!(placed.status, 202, "{placed:?}");
    assert_eq!(placed.header("location"), Some("/orders/o-1"));
    let confirmed = server
        .eventually("/orders/o-1", |b| b["allocation"]["status"] == "confirmed")
        .await;
    assert_eq!(confirmed["status"], "placed");
    assert_eq!(confirmed["total"], 300);

    // Cancelled: only 1 pen left.
    server
        .call("POST", "/orders", Some(order("o-2", "pen", 2)))
        .await;
    let rejected = server
        .eventually("/orders/o-2", |b| b["allocation"]["status"] == "rejected")
        .await;
    assert_eq!(rejected["status"], "cancelled");
    assert_eq!(rejected["cancel_reason"], "out_of_stock");
    assert_eq!(rejected["allocation"]["shortage"]["available"], 1);

    // Idempotent and conflicting re-placements.
    let same = server
        .call("POST", "/orders", Some(order("o-1", "pen", 2)))
        .await;
    assert_eq!(same.status, 200, "{same:?}");
    let other = server
        .call("POST", "/orders", Some(order("o-1", "pen", 1)))
        .await;
    assert_eq!(
        (other.status, &other.body["error"]),
        (409, &json!("order_exists"))
    );

    let low = server
        .eventually("/stock/low?threshold=2", |b| {
            b["products"][0]["available"] == 1
        })
        .await;
    assert_eq!(low["threshold"], 2);
    let low = server.call("GET", "/stock/low", None).await;
    assert_eq!(low.body["threshold"], 5, "the server's default threshold");
    let none = server.call("GET", "/stock/low?threshold=1", None).await;
    assert_eq!(none.body["products"], json!([]));

    let release = server
        .call("DELETE", "/products/pen/reservations/nobody", None)
        .await;
    assert_eq!(release.body["outcome"], "not_reserved", "{release:?}");
    assert!(
        release.body["position"].is_u64(),
        "the position of the state it found: {release:?}"
    );
    let unknown = server
        .call("DELETE", "/products/no-such-sku/reservations/nobody", None)
        .await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert_eq!(unknown.body["error"], "not_found", "{unknown:?}");

    let cancelled = server
        .call(
            "POST",
            "/orders/o-1/cancel",
            Some(json!({ "reason": "changed mind" })),
        )
        .await;
    assert_eq!(cancelled.status, 200, "{cancelled:?}");
    server
        .eventually("/products/pen", |b| {
            b["available"] == 3 && b["reserved"] == 0
        })
        .await;
    let again = server.call("POST", "/orders/o-1/cancel", None).await;
    assert_eq!(
        (again.status, &again.body["error"]),
        (409, &json!("invalid_status"))
    );

    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named() {
    let server = start(Arc::new(InMemoryEventStore::new())).await;
    server
        .call(
            "POST",
            "/products",
            Some(json!({ "sku": "pen", "name": "Pen" })),
        )
        .await;
    let store = server.system.store().clone();
    let head = store.head_position().await.expect("head");

    assert_invalid(&server.raw("POST", "/products", "{\"sku\": ").await, "body");
    assert_invalid(&server.raw("POST", "/products", "").await, "body");
    assert_invalid(&server.raw("POST", "/products", "[1, 2]").await, "body");
    let cases = [
        ("/products", json!({ "name": "Pen" }), "sku"),
        ("/products", json!({ "sku": 5, "name": "Pen" }), "sku"),
        (
            "/products",
            json!({ "sku": "has space", "name": "Pen" }),
            "sku",
        ),
        ("/products", json!({ "sku": "x", "name": "" }), "name"),
        (
            "/products",
            json!({ "sku": "x", "name": "X", "colour": "red" }),
            "colour",
        ),
        ("/products/pen/stock", json!({ "qty": "3" }), "qty"),
        ("/products/pen/stock", json!({ "qty": 0 }), "qty"),
        ("/products/pen/stock", json!({ "qty": -1 }), "qty"),
        ("/products/pen/stock", json!({ "qty": 2.5 }), "qty"),
        ("/products/pen/stock", json!({ "qty": 1_000_001 }), "qty"),
        (
            "/orders",
            json!({ "customer_id": "a", "items": [] }),
            "items",
        ),
        (
            "/orders",
            json!({ "customer_id": "a", "items": {} }),
            "items",
        ),
        ("/orders", json!({ "items": [] }), "customer_id"),
        ("/orders", order("o 1", "pen", 1), "order_id"),
        ("/orders", order("o1", "pen", 0), "items[0].quantity"),
        ("/orders", order("o1", "pen", 1001), "items[0].quantity"),
        (
            "/orders",
            json!({ "customer_id": "a", "items": [{ "sku": "pen", "label": "P", "unit_price": "1.50", "quantity": 1 }] }),
            "items[0].unit_price",
        ),
        (
            "/orders",
            json!({ "customer_id": "a", "items": [7] }),
            "items[0]",
        ),
    ];
    for (path, body, field) in cases {
        let response = server.call("POST", path, Some(body.clone())).await;
        assert_eq!(
            response.body["field"], field,
            "POST {path} {body}: {response:?}"
        );
        assert_eq!(response.status, 400, "POST {path} {body}");
    }
    assert_invalid(
        &server.call("GET", "/stock/low?threshold=abc", None).await,
        "threshold",
    );
    assert_invalid(
        &server.call("GET", "/stock/low?threshold=-1", None).await,
        "threshold",
    );
    assert_invalid(
        &server.call("GET", "/products/bad%20sku", None).await,
        "sku",
    );

    let unknown = server
        .call("POST", "/products/ghost/stock", Some(json!({ "qty": 1 })))
        .await;
    assert_eq!(
        (unknown.status, &unknown.body["error"]),
        (404, &json!("not_found"))
    );
    assert_eq!(server.call("GET", "/orders/nope", None).await.status, 404);
    assert_eq!(
        server.call("GET", "/products/ghost", None).await.status,
        404
    );
    assert_eq!(server.call("GET", "/nowhere", None).await.status, 404);

    // Nothing of the refused requests was applied: no event was appended.
    assert_eq!(store.head_position().await.expect("head"), head);
    server.stop().await;
}

/// A store whose appends fail while `down` is set, like a database that went away.
#[derive(Default)]
struct FlakyStore {
    inner: InMemoryEventStore,
    down: AtomicBool,
    /// Appends are refused for good, like PostgreSQL refusing a row (SQLSTATE 22021).
    refusing: AtomicBool,
}

#[async_trait]
impl EventStore for FlakyStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                operation: "append",
                source: "connection refused by 10.1.2.3:5432 (driver detail)".into(),
            });
        }
        if self.refusing.load(Ordering::SeqCst) {
            return Err(StoreError::Refused {
                operation: "append",
                code: "22021".into(),
                input_at_fault: true,
                source: "invalid byte sequence for encoding \"UTF8\": 0x00".into(),
            });
        }
        self.inner
            .append(stream_id, expected, events, metadata)
            .await
    }
    async fn read_stream(&self, s: &str, from: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(s, from).await
    }
    async fn read_all(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, max).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.inner.head_position().await
    }
    fn subscribe(&self) -> PositionWatch {
        self.inner.subscribe()
    }
    async fn load_snapshot(&self, s: &str) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(s).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.inner.load_checkpoint(name).await
    }
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.inner.save_checkpoint(name, position).await
    }
    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_events_by_id(ids).await
    }
    async fn record_refusal(
        &self,
        refusal: RecordedRefusal,
    ) -> Result<RecordedRefusal, StoreError> {
        self.inner.record_refusal(refusal).await
    }
    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError> {
        self.inner.load_refusal(command_id).await
    }
}

#[tokio::test]
async fn an_unavailable_store_is_a_503_without_driver_text_and_a_refusing_store_a_422() {
    let store = Arc::new(FlakyStore::default());
    let server = start(store.clone()).await;
    server
        .call(
            "POST",
            "/products",
            Some(json!({ "sku": "pen", "name": "Pen" })),
        )
        .await;
    store.down.store(true, Ordering::SeqCst);
    let response = server
        .call("POST", "/products/pen/stock", Some(json!({ "qty": 1 })))
        .await;
    assert_eq!(
        (response.status, &response.body["error"]),
        (503, &json!("unavailable"))
    );
    assert!(
        !response.raw_body.contains("10.1.2.3") && !response.raw_body.contains("driver"),
        "a 503 does not echo the driver's error: {}",
        response.raw_body
    );
    let response = server
        .call("POST", "/orders", Some(order("o1", "pen", 1)))
        .await;
    assert_eq!(response.status, 503, "{response:?}");
    store.down.store(false, Ordering::SeqCst);
    let response = server
        .call("POST", "/products/pen/stock", Some(json!({ "qty": 1 })))
        .await;
    assert_eq!(response.status, 200);

    // Input the store refuses for good is the client's to fix: 422, never 503.
    store.refusing.store(true, Ordering::SeqCst);
    for response in [
        server
            .call("POST", "/products/pen/stock", Some(json!({ "qty": 1 })))
            .await,
        server
            .call("POST", "/orders", Some(order("o2", "pen", 1)))
            .await,
    ] {
        assert_eq!(
            (response.status, &response.body["error"]),
            (422, &json!("refused_by_store")),
            "{response:?}"
        );
        assert!(!response.raw_body.contains("0x00"), "{}", response.raw_body);
    }
    store.refusing.store(false, Ordering::SeqCst);
    server.stop().await;
}
