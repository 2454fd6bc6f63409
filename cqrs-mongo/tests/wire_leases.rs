//! The lease store's driver calls against a scripted wire-protocol server (no MongoDB
//! needed): what acquire, renew and a fenced checkpoint send, and how they read the replies.
//! The semantics against a real server are the lease contract in `server.rs`.

mod support {
    pub mod fake_server;
}

use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Document};
use cqrs_core::lease::{FencedWrite, Lease, LeaseStore};
use cqrs_mongo::{MongoEventStore, MongoEventStoreConfig};
use support::fake_server::{command_name, FakeServer, Script};

async fn store_on(script: Arc<Script>) -> (FakeServer, MongoEventStore) {
    let mut config = MongoEventStoreConfig::new("wire");
    config.change_stream = false;
    config.poll_interval = Duration::from_secs(3600);
    let server = FakeServer::start(true, script).await;
    let store = MongoEventStore::connect(&server.url(), config)
        .await
        .expect("connect");
    (server, store)
}

#[tokio::test]
async fn acquire_upserts_by_the_server_clock_and_reads_the_token() {
    let script: Arc<Script> = Arc::new(|c: &Document| {
        (command_name(c) == "findAndModify").then(|| {
            doc! { "value": { "_id": "relay", "holder": "a", "token": 7_i64 }, "ok": 1.0 }
        })
    });
    let (server, store) = store_on(script).await;
    let lease = store
        .acquire("relay", "a", Duration::from_secs(5))
        .await
        .unwrap()
        .expect("granted");
    assert_eq!(lease.token, 7);
    let sent = &server.named("findAndModify")[0];
    assert_eq!(sent.get_str("findAndModify").unwrap(), "leases");
    assert_eq!(sent.get_bool("upsert"), Ok(true));
    assert_eq!(sent.get_bool("new"), Ok(true));
    let text = format!("{sent}");
    assert!(
        text.contains("$$NOW"),
        "expiry not by the server clock: {text}"
    );
    assert!(text.contains("5000"), "ttl not sent in ms: {text}");
}

#[tokio::test]
async fn a_lease_held_by_another_is_a_duplicate_key_and_reads_as_held() {
    let script: Arc<Script> = Arc::new(|c: &Document| {
        (command_name(c) == "findAndModify").then(|| {
            doc! { "ok": 0.0, "code": 11000, "codeName": "DuplicateKey", "errmsg": "E11000 duplicate key error" }
        })
    });
    let (_server, store) = store_on(script).await;
    let held = store
        .acquire("relay", "b", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(held, None);
}

fn lease() -> Lease {
    Lease {
        name: "relay".into(),
        holder: "a".into(),
        token: 3,
        ttl: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn renew_matches_holder_and_token_and_reports_a_lost_lease() {
    let script: Arc<Script> = Arc::new(|c: &Document| {
        (command_name(c) == "update").then(|| doc! { "n": 0, "nModified": 0, "ok": 1.0 })
    });
    let (server, store) = store_on(script).await;
    assert!(
        !store.renew(&lease()).await.unwrap(),
        "a lease matching nothing renewed"
    );
    let sent = &server.named("update")[0];
    let statement = sent.get_array("updates").unwrap()[0].as_document().unwrap();
    assert_eq!(
        statement.get_document("q").unwrap(),
        &doc! { "_id": "relay", "holder": "a", "token": 3_i64 }
    );
}

#[tokio::test]
async fn a_fenced_checkpoint_under_a_lost_lease_writes_no_checkpoint() {
    // The lease document matches nothing: another holder took it.
    let script: Arc<Script> = Arc::new(|c: &Document| {
        (command_name(c) == "update" && c.get_str("update") == Ok("leases"))
            .then(|| doc! { "n": 0, "nModified": 0, "ok": 1.0 })
    });
    let (server, store) = store_on(script).await;
    let written = store
        .save_checkpoint_fenced("relay", 10, &lease())
        .await
        .unwrap();
    assert_eq!(written, FencedWrite::Deposed);
    let checkpoint_writes = server
        .named("update")
        .iter()
        .filter(|c| c.get_str("update") == Ok("checkpoints"))
        .count();
    assert_eq!(checkpoint_writes, 0);
}

#[tokio::test]
async fn a_fenced_checkpoint_under_the_current_lease_never_moves_backwards() {
    let (server, store) = store_on(Arc::new(|_: &Document| None)).await;
    let written = store
        .save_checkpoint_fenced("relay", 10, &lease())
        .await
        .unwrap();
    assert_eq!(written, FencedWrite::Written);
    let update = server
        .named("update")
        .into_iter()
        .find(|c| c.get_str("update") == Ok("checkpoints"))
        .expect("checkpoint written");
    let statement = update.get_array("updates").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(
        statement.get_document("u").unwrap(),
        &doc! { "$max": { "position": 10_i64 } }
    );
    assert!(
        server.named("commitTransaction").len() == 1,
        "not in a transaction"
    );
}

#[tokio::test]
async fn live_leases_finds_a_plain_prefix_valid_by_the_server_clock() {
    let script: Arc<Script> = Arc::new(|c: &Document| {
        (command_name(c) == "find").then(|| {
            doc! { "cursor": { "firstBatch": [
                { "_id": "p.members/a", "holder": "a", "token": 2_i64 },
                { "_id": "p.members/b", "holder": "b", "token": 5_i32 },
            ], "id": 0_i64, "ns": "wire.leases" }, "ok": 1.0 }
        })
    });
    let (server, store) = store_on(script).await;
    let live = store.live_leases("p.members/").await.unwrap();
    let read: Vec<(&str, &str, u64)> = live
        .iter()
        .map(|l| (&*l.name, &*l.holder, l.token))
        .collect();
    assert_eq!(read, vec![("p.members/a", "a", 2), ("p.members/b", "b", 5)]);
    let sent = &server.named("find")[0];
    assert_eq!(sent.get_str("find").unwrap(), "leases");
    let filter = sent.get_document("filter").unwrap();
    // The prefix's `.` is escaped: a plain prefix, not a pattern.
    assert_eq!(
        filter.get_document("_id").unwrap(),
        &doc! { "$regex": "^p\\.members/" }
    );
    assert_eq!(
        filter.get_document("$expr").unwrap(),
        &doc! { "$gt": ["$expires_at", "$$NOW"] }
    );
    assert_eq!(sent.get_document("sort").unwrap(), &doc! { "_id": 1 });
}
