//! What the store keeps about commands, against a scripted wire-protocol server (no MongoDB
//! needed): what `read_events_by_id`, `record_refusal` and `load_refusal` send, and how they
//! read the replies (a duplicate key, a racing refusal not readable yet, a corrupt
//! document). The semantics against a real server are the store contract in `server.rs`.

mod support {
    pub mod fake_server;
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, Document};
use cqrs_core::{EventStore, RecordedRefusal, StoreError};
use cqrs_mongo::{MongoEventStore, MongoEventStoreConfig};
use support::fake_server::{command_name, FakeServer, Script};
use uuid::Uuid;

async fn store_on(script: Arc<Script>) -> (FakeServer, MongoEventStore) {
    let mut config = MongoEventStoreConfig::new("wire");
    config.change_stream = false;
    config.poll_interval = Duration::from_secs(3600);
    config.transaction_timeout = Duration::from_secs(5);
    let server = FakeServer::start(true, script).await;
    let store = MongoEventStore::connect(&server.url(), config)
        .await
        .expect("connect");
    (server, store)
}

fn uuid(id: Uuid) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Uuid,
        bytes: id.as_bytes().to_vec(),
    })
}

fn cursor(documents: Vec<Document>, collection: &str) -> Document {
    doc! { "cursor": { "firstBatch": documents, "id": 0i64, "ns": format!("wire.{collection}") }, "ok": 1.0 }
}

fn duplicate_key() -> Document {
    doc! {
        "n": 0, "ok": 1.0,
        "writeErrors": [{ "index": 0, "code": 11000, "errmsg": "E11000 duplicate key error" }],
    }
}

fn refusal(message: &str) -> RecordedRefusal {
    RecordedRefusal::new(Uuid::now_v7(), "Tab-1", 2, "limit_reached", message)
}

/// The document the server holds for `refusal`.
fn stored(refusal: &RecordedRefusal) -> Document {
    doc! {
        "_id": uuid(refusal.command_id), "stream_id": &refusal.stream_id,
        "stream_version": refusal.stream_version as i64, "code": &refusal.code,
        "message": &refusal.message,
        "recorded_at": bson::DateTime::from_millis(refusal.recorded_at.timestamp_millis()),
    }
}

fn is_find_on(command: &Document, collection: &str) -> bool {
    command_name(command) == "find" && command.get_str("find") == Ok(collection)
}

/// The reads of the refusals collection (the wake-up task reads the events' head too).
fn refusal_finds(server: &FakeServer) -> Vec<Document> {
    server
        .named("find")
        .into_iter()
        .filter(|c| is_find_on(c, "command_refusals"))
        .collect()
}

/// The reads of events by id.
fn id_lookups(server: &FakeServer) -> Vec<Document> {
    server
        .named("find")
        .into_iter()
        .filter(|c| {
            c.get_document("filter")
                .is_ok_and(|f| f.contains_key("event_id"))
        })
        .collect()
}

#[tokio::test]
async fn a_new_refusal_is_inserted_by_command_id_with_majority_write_concern() {
    let (server, store) = store_on(Arc::new(|_: &Document| None)).await;
    let ours = refusal("the limit of 10 is reached: Zoë ✓");
    let recorded = store.record_refusal(ours.clone()).await.expect("record");
    assert_eq!(recorded, ours);

    let inserts = server.named("insert");
    assert_eq!(inserts.len(), 1, "one insert, no read");
    let insert = &inserts[0];
    assert_eq!(insert.get_str("insert"), Ok("command_refusals"));
    assert_eq!(
        insert.get_document("writeConcern").unwrap().get_str("w"),
        Ok("majority")
    );
    let documents = insert.get_array("documents").unwrap();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0].as_document().unwrap(), &stored(&ours));
    assert!(refusal_finds(&server).is_empty());
}

#[tokio::test]
async fn a_duplicate_key_returns_the_refusal_recorded_first() {
    let first = refusal("first execution");
    let held = stored(&first);
    let script: Arc<Script> = Arc::new(move |c: &Document| match command_name(c).as_str() {
        "insert" => Some(duplicate_key()),
        "find" if is_find_on(c, "command_refusals") => {
            Some(cursor(vec![held.clone()], "command_refusals"))
        }
        _ => None,
    });
    let (server, store) = store_on(script).await;
    let mut later = refusal("second execution");
    later.command_id = first.command_id;
    let recorded = store.record_refusal(later).await.expect("record");
    assert_eq!(recorded, first, "the first refusal wins");

    let finds = refusal_finds(&server);
    assert_eq!(finds.len(), 1);
    assert_eq!(
        finds[0].get_document("filter").unwrap(),
        &doc! { "_id": uuid(first.command_id) }
    );
    assert_eq!(
        finds[0]
            .get_document("readConcern")
            .unwrap()
            .get_str("level"),
        Ok("majority")
    );
}

#[tokio::test]
async fn a_racing_refusal_not_yet_readable_is_waited_for() {
    let first = refusal("first execution");
    let held = stored(&first);
    let finds = Arc::new(AtomicUsize::new(0));
    let seen = finds.clone();
    let script: Arc<Script> = Arc::new(move |c: &Document| match command_name(c).as_str() {
        "insert" => Some(duplicate_key()),
        // The winner's insert becomes majority-readable on the third read.
        "find" if is_find_on(c, "command_refusals") => {
            let found = seen.fetch_add(1, Ordering::SeqCst) >= 2;
            let documents = if found { vec![held.clone()] } else { vec![] };
            Some(cursor(documents, "command_refusals"))
        }
        _ => None,
    });
    let (server, store) = store_on(script).await;
    let mut later = refusal("second execution");
    later.command_id = first.command_id;
    let recorded = store.record_refusal(later).await.expect("record");
    assert_eq!(recorded, first);
    assert_eq!(finds.load(Ordering::SeqCst), 3);
    assert_eq!(
        server.named("insert").len(),
        3,
        "each round inserts again (the winner may have been rolled back)"
    );
}

#[tokio::test]
async fn a_refusal_that_never_becomes_readable_times_out() {
    let script: Arc<Script> =
        Arc::new(|c: &Document| (command_name(c) == "insert").then(duplicate_key));
    let mut config = MongoEventStoreConfig::new("wire");
    config.change_stream = false;
    config.poll_interval = Duration::from_secs(3600);
    config.transaction_timeout = Duration::from_millis(300);
    let server = FakeServer::start(true, script).await;
    let store = MongoEventStore::connect(&server.url(), config)
        .await
        .expect("connect");
    let error = store
        .record_refusal(refusal("never readable"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Timeout {
                operation: "record_refusal"
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn a_refusal_the_server_refuses_is_a_permanent_error() {
    let script: Arc<Script> = Arc::new(|c: &Document| {
        (command_name(c) == "insert").then(|| {
            doc! {
                "n": 0, "ok": 1.0,
                "writeErrors": [{ "index": 0, "code": 121, "errmsg": "Document failed validation" }],
            }
        })
    });
    let (server, store) = store_on(script).await;
    let error = store.record_refusal(refusal("invalid")).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Refused { operation: "record_refusal", code, .. } if code == "121"),
        "{error:?}"
    );
    assert!(refusal_finds(&server).is_empty(), "nothing to look up");
}

#[tokio::test]
async fn load_refusal_reads_by_command_id_and_reports_corrupt_documents() {
    let known = refusal("stored");
    let corrupt_id = Uuid::now_v7();
    let (known_doc, corrupt_doc) = (
        stored(&known),
        doc! { "_id": uuid(corrupt_id), "stream_id": "Tab-1", "code": 7 },
    );
    let script: Arc<Script> = Arc::new(move |c: &Document| {
        if !is_find_on(c, "command_refusals") {
            return None;
        }
        let id = c.get_document("filter").ok()?.get("_id").cloned();
        let documents = if id == Some(known_doc.get("_id").cloned()?) {
            vec![known_doc.clone()]
        } else if id == Some(corrupt_doc.get("_id").cloned()?) {
            vec![corrupt_doc.clone()]
        } else {
            vec![]
        };
        Some(cursor(documents, "command_refusals"))
    });
    let (_server, store) = store_on(script).await;
    assert_eq!(
        store.load_refusal(known.command_id).await.expect("load"),
        Some(known)
    );
    assert_eq!(
        store.load_refusal(Uuid::now_v7()).await.expect("load"),
        None
    );
    let error = store.load_refusal(corrupt_id).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Corrupt(detail) if detail.contains(&corrupt_id.to_string())),
        "{error:?}"
    );
}

#[tokio::test]
async fn read_events_by_id_sends_one_in_query_and_decodes_the_events() {
    let (first, unknown) = (Uuid::now_v7(), Uuid::now_v7());
    let event = doc! {
        "_id": 17i64, "stream_id": "S-1", "stream_version": 3i64, "event_id": uuid(first),
        "event_type": "Counted", "event_version": 1i64, "payload": { "n": 1i64 },
        "metadata": {}, "recorded_at": bson::DateTime::from_millis(1_700_000_000_000),
    };
    let script: Arc<Script> = Arc::new(move |c: &Document| {
        let is_id_lookup = is_find_on(c, "events")
            && c.get_document("filter")
                .is_ok_and(|f| f.contains_key("event_id"));
        is_id_lookup.then(|| cursor(vec![event.clone()], "events"))
    });
    let (server, store) = store_on(script).await;
    assert!(store
        .read_events_by_id(&[])
        .await
        .expect("no ids")
        .is_empty());
    assert!(id_lookups(&server).is_empty(), "no ids send nothing");

    let found = store
        .read_events_by_id(&[unknown, first])
        .await
        .expect("read_events_by_id");
    let seen: Vec<_> = found
        .iter()
        .map(|e| (e.event_id, &*e.stream_id, e.stream_version, e.position))
        .collect();
    assert_eq!(seen, [(first, "S-1", 3, 17)]);
    let finds = id_lookups(&server);
    assert_eq!(finds.len(), 1);
    assert_eq!(
        finds[0].get_document("filter").unwrap(),
        &doc! { "event_id": { "$in": [uuid(unknown), uuid(first)] } }
    );
}
