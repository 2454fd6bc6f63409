//! The store's driver calls against a scripted wire-protocol server (no MongoDB needed):
//! what each operation sends, and how it reacts to documented server replies.
//!
//! One file on purpose: every case shares the scripted server and the reply builders above
//! them, and reads as the list of the store's wire exchanges.

mod support {
    pub mod fake_server;
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bson::{doc, Bson, Document};
use cqrs_core::{
    AppendResult, EventStore, ExpectedVersion, JsonPayload, Metadata, NewEvent, StoreError,
};
use cqrs_mongo::{MongoEventStore, MongoEventStoreConfig, SetupError};
use support::fake_server::{command_name, FakeServer, Script};

fn quiet_config() -> MongoEventStoreConfig {
    let mut config = MongoEventStoreConfig::new("wire");
    config.change_stream = false;
    config.poll_interval = std::time::Duration::from_secs(3600);
    config
}

async fn store_on(script: Arc<Script>) -> (FakeServer, MongoEventStore) {
    store_with(script, quiet_config()).await
}

async fn store_with(
    script: Arc<Script>,
    config: MongoEventStoreConfig,
) -> (FakeServer, MongoEventStore) {
    let server = FakeServer::start(true, script).await;
    let store = MongoEventStore::connect(&server.url(), config)
        .await
        .expect("connect");
    (server, store)
}

fn event(n: u64) -> NewEvent {
    NewEvent::raw(
        "Counted",
        1,
        JsonPayload::from_value(&serde_json::json!({ "n": n })),
    )
}

/// Appends `event(1)` to stream `S-1` with any expected version.
async fn append_one(store: &MongoEventStore) -> Result<AppendResult, StoreError> {
    store
        .append(
            "S-1",
            ExpectedVersion::Any,
            vec![event(1)],
            &Metadata::default(),
        )
        .await
}

/// A `find` reply holding `documents` (one batch, cursor exhausted).
fn cursor(documents: Vec<Document>) -> Document {
    doc! { "cursor": { "firstBatch": documents, "id": 0i64, "ns": "wire.events" }, "ok": 1.0 }
}

/// The document a server holds for `event`, stored at `position` as version `version` of
/// stream `S-1`.
fn stored_event(event: &NewEvent, position: i64, version: i64) -> Document {
    let id = bson::Binary {
        subtype: bson::spec::BinarySubtype::Uuid,
        bytes: event.event_id.as_bytes().to_vec(),
    };
    doc! {
        "_id": position, "stream_id": "S-1", "stream_version": version, "event_id": id,
        "event_type": &event.event_type, "event_version": 1i64,
        "payload": bson::to_document(&event.payload.to_value().unwrap()).unwrap(),
        "metadata": {}, "recorded_at": bson::DateTime::from_millis(1_700_000_000_000),
    }
}

/// A counter reply for findAndModify: the last allocated position.
fn counter(last: i64) -> Document {
    doc! { "value": { "_id": "global_position", "last_position": last }, "ok": 1.0 }
}

fn error_reply(code: i32, name: &str, labels: &[&str]) -> Document {
    let labels: Vec<Bson> = labels.iter().map(|l| Bson::String(l.to_string())).collect();
    doc! { "ok": 0.0, "code": code, "codeName": name, "errmsg": format!("scripted {name}"), "errorLabels": labels }
}

#[tokio::test]
async fn standalone_server_is_refused_with_a_clear_error() {
    let server = FakeServer::start(false, Arc::new(|_: &Document| None)).await;
    let url = format!(
        "mongodb://127.0.0.1:{}/?directConnection=true&serverSelectionTimeoutMS=3000",
        server.port
    );
    let error = MongoEventStore::connect(&url, quiet_config())
        .await
        .unwrap_err();
    assert!(
        matches!(error, SetupError::StandaloneServer { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("replica set"));
}

#[tokio::test]
async fn append_runs_checks_allocation_and_insert_in_one_transaction() {
    let script: Arc<Script> =
        Arc::new(|c: &Document| (command_name(c) == "findAndModify").then(|| counter(42)));
    let (server, store) = store_on(script).await;
    let metadata = Metadata::default().with_header("user", "ada");
    let result = store
        .append(
            "Order-1",
            ExpectedVersion::NoStream,
            vec![event(1), event(2)],
            &metadata,
        )
        .await
        .expect("append");
    assert_eq!(result.current_version, 2);
    assert_eq!(
        result.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![41, 42]
    );

    let sent: Vec<Document> = server
        .commands()
        .into_iter()
        .filter(|c| c.contains_key("txnNumber"))
        .collect();
    let names: Vec<String> = sent.iter().map(command_name).collect();
    assert_eq!(
        names,
        [
            "find",
            "find",
            "findAndModify",
            "insert",
            "commitTransaction"
        ]
    );
    let txn = sent[0].get("txnNumber").cloned();
    assert!(
        sent.iter().all(|c| c.get("txnNumber").cloned() == txn),
        "one transaction"
    );
    assert_eq!(sent[0].get_bool("startTransaction"), Ok(true));
    assert_eq!(
        sent[0]
            .get_document("readConcern")
            .unwrap()
            .get_str("level"),
        Ok("snapshot")
    );
    assert!(sent[1..]
        .iter()
        .all(|c| !c.contains_key("startTransaction")));

    // 1. the idempotency lookup, 2. the stream's current version
    assert!(sent[0]
        .get_document("filter")
        .unwrap()
        .get_document("event_id")
        .unwrap()
        .contains_key("$in"));
    assert_eq!(
        sent[1].get_document("filter").unwrap(),
        &doc! { "stream_id": "Order-1" }
    );
    assert_eq!(
        sent[1].get_document("sort").unwrap(),
        &doc! { "stream_version": -1 }
    );
    // 3. positions from the counter, 4. the documents
    assert_eq!(
        sent[2].get_document("update").unwrap(),
        &doc! { "$inc": { "last_position": 2i64 } }
    );
    assert_eq!(sent[2].get_bool("new"), Ok(true));
    let documents = sent[3].get_array("documents").unwrap();
    let first = documents[0].as_document().unwrap();
    assert_eq!(first.get_i64("_id"), Ok(41));
    assert_eq!(first.get_i64("stream_version"), Ok(1));
    assert_eq!(first.get_document("payload").unwrap(), &doc! { "n": 1i64 });
    assert_eq!(
        first
            .get_document("metadata")
            .unwrap()
            .get_document("headers")
            .unwrap(),
        &doc! { "user": "ada" }
    );
    assert_eq!(documents[1].as_document().unwrap().get_i64("_id"), Ok(42));
    // 5. a majority commit
    assert_eq!(
        sent[4].get_document("writeConcern").unwrap().get_str("w"),
        Ok("majority")
    );
}

#[tokio::test]
async fn version_mismatch_is_a_typed_conflict_and_aborts() {
    let script: Arc<Script> = Arc::new(|c: &Document| {
        let is_version_lookup = command_name(c) == "find"
            && c.get_document("sort")
                .is_ok_and(|s| s.contains_key("stream_version"));
        is_version_lookup.then(|| cursor(vec![doc! { "stream_version": 7i64 }]))
    });
    let (server, store) = store_on(script).await;
    let error = store
        .append(
            "Order-1",
            ExpectedVersion::Exact(5),
            vec![event(1)],
            &Metadata::default(),
        )
        .await
        .unwrap_err();
    let conflict = error.as_conflict().expect("conflict");
    assert_eq!(
        (conflict.expected, conflict.actual),
        (ExpectedVersion::Exact(5), 7)
    );
    assert!(
        server.named("insert").is_empty() && server.named("findAndModify").is_empty(),
        "nothing written"
    );
    assert_eq!(server.named("abortTransaction").len(), 1);
    assert!(server.named("commitTransaction").is_empty());
}

#[tokio::test]
async fn write_conflict_on_the_counter_retries_the_whole_transaction() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let seen = attempts.clone();
    let script: Arc<Script> = Arc::new(move |c: &Document| {
        (command_name(c) == "findAndModify").then(|| {
            if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                error_reply(112, "WriteConflict", &["TransientTransactionError"])
            } else {
                counter(1)
            }
        })
    });
    let (server, store) = store_on(script).await;
    let result = append_one(&store).await.expect("append");
    assert_eq!(result.events[0].position, 1);
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    let starts = server
        .commands()
        .iter()
        .filter(|c| c.get_bool("startTransaction") == Ok(true))
        .count();
    assert_eq!(
        starts, 3,
        "each attempt is a new transaction from the first check"
    );
    assert_eq!(server.named("insert").len(), 1);
    assert_eq!(server.named("commitTransaction").len(), 1);
}

#[tokio::test]
async fn unknown_commit_result_retries_only_the_commit() {
    let commits = Arc::new(AtomicUsize::new(0));
    let seen = commits.clone();
    let script: Arc<Script> = Arc::new(move |c: &Document| match command_name(c).as_str() {
        "findAndModify" => Some(counter(9)),
        "commitTransaction" if seen.fetch_add(1, Ordering::SeqCst) == 0 => Some(error_reply(
            91,
            "ShutdownInProgress",
            &["UnknownTransactionCommitResult"],
        )),
        _ => None,
    });
    let (server, store) = store_on(script).await;
    let result = append_one(&store).await.expect("append");
    assert_eq!(result.events[0].position, 9);
    assert_eq!(server.named("commitTransaction").len(), 2);
    assert_eq!(
        server.named("insert").len(),
        1,
        "the writes are not repeated"
    );
}

#[tokio::test]
async fn persistent_write_conflicts_end_as_a_serialization_error() {
    let script: Arc<Script> = Arc::new(|c: &Document| {
        (command_name(c) == "findAndModify")
            .then(|| error_reply(112, "WriteConflict", &["TransientTransactionError"]))
    });
    let mut config = quiet_config();
    config.transaction_timeout = std::time::Duration::from_millis(300);
    let (_server, store) = store_with(script, config).await;
    let error = append_one(&store).await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Serialization {
                operation: "append",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.is_transient());
}

#[tokio::test]
async fn retried_batch_returns_the_stored_events_without_writing() {
    let sent = event(1);
    let stored = stored_event(&sent, 17, 3);
    let script: Arc<Script> = Arc::new(move |c: &Document| {
        let is_id_lookup = command_name(c) == "find"
            && c.get_document("filter")
                .is_ok_and(|f| f.contains_key("event_id"));
        is_id_lookup.then(|| cursor(vec![stored.clone()]))
    });
    let (server, store) = store_on(script).await;
    let result = store
        .append(
            "S-1",
            ExpectedVersion::NoStream,
            vec![sent.clone()],
            &Metadata::default(),
        )
        .await
        .expect("append");
    assert!(result.deduplicated);
    assert_eq!((result.current_version, result.events[0].position), (3, 17));
    assert_eq!(result.events[0].event_id, sent.event_id);
    assert!(server.named("insert").is_empty());
}

#[tokio::test]
async fn duplicate_key_on_insert_reruns_the_checks_once() {
    let inserts = Arc::new(AtomicUsize::new(0));
    let seen = inserts.clone();
    let script: Arc<Script> = Arc::new(move |c: &Document| match command_name(c).as_str() {
        "findAndModify" => Some(counter(5)),
        "insert" if seen.fetch_add(1, Ordering::SeqCst) == 0 => Some(doc! {
            "n": 0, "ok": 1.0,
            "writeErrors": [{ "index": 0, "code": 11000, "errmsg": "E11000 duplicate key error" }],
        }),
        _ => None,
    });
    let (server, store) = store_on(script).await;
    let result = append_one(&store).await.expect("append");
    assert_eq!(result.events[0].position, 5);
    assert_eq!(server.named("insert").len(), 2);
}

#[tokio::test]
async fn reads_send_gap_safe_queries() {
    let (server, store) = store_on(Arc::new(|_: &Document| None)).await;
    assert!(store.read_all(5_000_000_000, 37).await.unwrap().is_empty());
    assert!(store.read_all(1, 0).await.unwrap().is_empty());
    assert_eq!(store.head_position().await.unwrap(), 0);
    let finds = server.named("find");
    let read_all = finds
        .iter()
        .find(|c| c.get_i64("limit") == Ok(37) || c.get_i32("limit") == Ok(37))
        .expect("read_all query");
    assert_eq!(
        read_all.get_document("filter").unwrap(),
        &doc! { "_id": { "$gte": 5_000_000_000i64 } }
    );
    assert_eq!(read_all.get_document("sort").unwrap(), &doc! { "_id": 1 });
    assert_eq!(
        read_all
            .get_document("readConcern")
            .unwrap()
            .get_str("level"),
        Ok("majority")
    );
    assert_eq!(
        finds
            .iter()
            .filter(|c| c.get_document("sort") == Ok(&doc! { "_id": 1 }))
            .count(),
        1,
        "max = 0 sends nothing"
    );
}

#[tokio::test]
async fn read_all_decodes_every_document_the_server_returns() {
    let (first, second) = (event(1), event(2));
    let documents = vec![stored_event(&first, 17, 1), stored_event(&second, 18, 2)];
    let script: Arc<Script> = Arc::new(move |c: &Document| {
        let is_log_read =
            command_name(c) == "find" && c.get_document("sort") == Ok(&doc! { "_id": 1 });
        is_log_read.then(|| cursor(documents.clone()))
    });
    let (_server, store) = store_on(script).await;
    let read = store.read_all(17, 10).await.expect("read_all");
    let seen: Vec<_> = read
        .iter()
        .map(|e| (e.position, e.stream_version, e.event_id, e.payload.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (17, 1, first.event_id, r#"{"n":1}"#),
            (18, 2, second.event_id, r#"{"n":2}"#)
        ]
    );
}

#[tokio::test]
async fn migrate_creates_collections_indexes_and_the_counter() {
    let (server, store) = store_on(Arc::new(|_: &Document| None)).await;
    store.migrate().await.expect("migrate");
    let created: Vec<String> = server
        .named("create")
        .iter()
        .map(|c| c.get_str("create").unwrap().to_owned())
        .collect();
    assert_eq!(
        created,
        [
            "events",
            "snapshots",
            "checkpoints",
            "counters",
            "leases",
            "command_refusals"
        ]
    );
    let indexes = server.named("createIndexes");
    let names: Vec<&str> = indexes[0]
        .get_array("indexes")
        .unwrap()
        .iter()
        .map(|i| i.as_document().unwrap().get_str("name").unwrap())
        .collect();
    assert_eq!(names, ["stream_version_unique", "event_id_unique"]);
    let update = &server.named("update")[0];
    let statement = update.get_array("updates").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(
        statement.get_document("u").unwrap(),
        &doc! { "$max": { "last_position": 0i64 } }
    );
    assert_eq!(statement.get_bool("upsert"), Ok(true));
}

#[tokio::test]
async fn change_stream_inserts_wake_subscribers() {
    let script: Arc<Script> = Arc::new(|c: &Document| {
        (command_name(c) == "aggregate").then(|| {
            let change = doc! {
                "_id": { "_data": "8263A1" }, "operationType": "insert",
                "ns": { "db": "wire", "coll": "events" }, "documentKey": { "_id": 33i64 },
            };
            cursor(vec![change])
        })
    });
    let mut config = quiet_config();
    config.change_stream = true;
    let (server, store) = store_with(script, config).await;
    let mut watch = store.subscribe();
    assert!(
        watch
            .wait_beyond(32, std::time::Duration::from_secs(5))
            .await
    );
    assert_eq!(watch.head(), 33);
    let aggregate = &server.named("aggregate")[0];
    let pipeline = aggregate.get_array("pipeline").unwrap();
    assert!(pipeline[0]
        .as_document()
        .unwrap()
        .contains_key("$changeStream"));
    assert_eq!(
        pipeline[1].as_document().unwrap(),
        &doc! { "$match": { "operationType": "insert" } }
    );
}

#[tokio::test]
async fn head_poll_wakes_subscribers_without_change_streams() {
    let script: Arc<Script> = Arc::new(|c: &Document| {
        let is_head =
            command_name(c) == "find" && c.get_document("sort") == Ok(&doc! { "_id": -1 });
        is_head.then(|| cursor(vec![doc! { "_id": 12i64 }]))
    });
    let mut config = quiet_config();
    config.poll_interval = std::time::Duration::from_millis(20);
    let (server, store) = store_with(script, config).await;
    let mut watch = store.subscribe();
    assert!(
        watch
            .wait_beyond(11, std::time::Duration::from_secs(5))
            .await
    );
    assert_eq!(watch.head(), 12);
    // Dropping the store stops the background task: no more polls.
    drop(store);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let polls = server.named("find").len();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        server.named("find").len(),
        polls,
        "polling stopped with the store"
    );
}
