//! The MongoDB transactional projection adapter against a scripted wire-protocol server (no
//! MongoDB needed): what one batch sends, and how the shared runner reacts to a write
//! conflict at commit and to a commit whose result is unknown.

mod support {
    pub mod fake_server;
}

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bson::{doc, Bson, Document};
use cqrs_core::{RecordedEvent, RetryPolicy, RunnerConfig, RunnerError};
use cqrs_mongo::{
    MongoEventStore, MongoEventStoreConfig, MongoTransaction, TransactionalProjection,
    TransactionalRunner,
};
use support::fake_server::{command_name, FakeServer, Script};

/// Counts events per stream in the `per_stream` collection, through the session.
struct PerStream;

#[async_trait]
impl TransactionalProjection<MongoTransaction> for PerStream {
    type Error = mongodb::error::Error;
    fn name(&self) -> &str {
        "per-stream"
    }
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        tx: &mut MongoTransaction,
    ) -> Result<(), Self::Error> {
        tx.database()
            .collection::<Document>("per_stream")
            .update_one(
                doc! { "_id": event.stream_id.as_ref() },
                doc! { "$inc": { "n": 1 } },
            )
            .upsert(true)
            .session(tx.session())
            .await?;
        Ok(())
    }
    async fn reset(&mut self, tx: &mut MongoTransaction) -> Result<(), Self::Error> {
        tx.database()
            .collection::<Document>("per_stream")
            .delete_many(doc! {})
            .session(tx.session())
            .await?;
        Ok(())
    }
}

/// The log holds events 1 and 2 of stream `S-1`.
fn log_from(command: &Document) -> Option<Document> {
    let from = command
        .get_document("filter")
        .ok()?
        .get_document("_id")
        .ok()?
        .get_i64("$gte")
        .ok()?;
    let events: Vec<Document> = (from.max(1)..=2).map(logged).collect();
    Some(doc! { "cursor": { "firstBatch": events, "id": 0i64, "ns": "wire.events" }, "ok": 1.0 })
}

fn logged(position: i64) -> Document {
    let id = bson::Binary {
        subtype: bson::spec::BinarySubtype::Uuid,
        bytes: uuid::Uuid::new_v4().as_bytes().to_vec(),
    };
    doc! { "_id": position, "stream_id": "S-1", "stream_version": position, "event_id": id, "event_type": "Counted",
    "event_version": 1i64, "payload": {}, "metadata": {}, "recorded_at": bson::DateTime::from_millis(0) }
}

/// The checkpoint `per-stream` at `position` (none at 0).
fn checkpoint(position: i64) -> Document {
    let found: Vec<Document> = (position > 0)
        .then(|| doc! { "_id": "per-stream", "position": position })
        .into_iter()
        .collect();
    doc! { "cursor": { "firstBatch": found, "id": 0i64, "ns": "wire.checkpoints" }, "ok": 1.0 }
}

fn failure(code: i32, name: &str, label: &str) -> Document {
    doc! { "ok": 0.0, "code": code, "codeName": name, "errmsg": "scripted", "errorLabels": [label] }
}

/// A server whose log holds events 1 and 2 and whose checkpoint reads 2 once `landed`.
fn server_script(
    landed: Arc<AtomicBool>,
    commit: impl Fn() -> Option<Document> + Send + Sync + 'static,
) -> Arc<Script> {
    Arc::new(move |c: &Document| match command_name(c).as_str() {
        "find" if c.get_str("find") == Ok("checkpoints") => {
            Some(checkpoint(if landed.load(Ordering::SeqCst) {
                2
            } else {
                0
            }))
        }
        "find" if c.get_str("find") == Ok("events") => log_from(c),
        "commitTransaction" => commit(),
        _ => None,
    })
}

async fn store_on(script: Arc<Script>) -> (FakeServer, Arc<MongoEventStore>) {
    let server = FakeServer::start(true, script).await;
    let mut config = MongoEventStoreConfig::new("wire");
    config.change_stream = false;
    config.poll_interval = Duration::from_secs(3600);
    let store = MongoEventStore::connect(&server.url(), config)
        .await
        .expect("connect");
    (server, Arc::new(store))
}

/// A runner that retries fast.
fn runner(store: Arc<MongoEventStore>) -> TransactionalRunner<PerStream, MongoEventStore> {
    let config = RunnerConfig {
        idle_poll: Duration::from_millis(20),
        retry: RetryPolicy::attempts(1)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(5)),
        ..RunnerConfig::default()
    };
    TransactionalRunner::new(store, PerStream).with_config(config)
}

/// Runs one batch by hand; it must fail transiently.
async fn fails_transiently(runner: &mut TransactionalRunner<PerStream, MongoEventStore>) {
    match runner.run_batch().await {
        Err(RunnerError::Store { source, .. }) => assert!(source.is_transient(), "{source}"),
        other => panic!("expected a transient store failure, got {other:?}"),
    }
}

fn read_model_writes(server: &FakeServer) -> usize {
    server
        .named("update")
        .iter()
        .filter(|c| c.get_str("update") == Ok("per_stream"))
        .count()
}

#[tokio::test]
async fn a_batch_reads_the_checkpoint_and_the_log_and_commits_the_rows_with_the_checkpoint() {
    let (server, store) = store_on(server_script(Arc::new(AtomicBool::new(false)), || None)).await;
    let mut runner = TransactionalRunner::new(store, PerStream);
    assert_eq!(runner.run_batch().await.expect("batch"), (2, 2));

    let sent: Vec<Document> = server
        .commands()
        .into_iter()
        .filter(|c| c.contains_key("txnNumber"))
        .collect();
    let names: Vec<(String, String)> = sent
        .iter()
        .map(|c| {
            let name = command_name(c);
            let target = c.get(&name).and_then(Bson::as_str).unwrap_or("").to_owned();
            (name, target)
        })
        .collect();
    let expected = [
        ("find", "checkpoints"),
        ("find", "events"),
        ("update", "per_stream"),
        ("update", "per_stream"),
        ("update", "checkpoints"),
        ("commitTransaction", ""),
    ];
    assert_eq!(
        names,
        expected.map(|(n, t)| (n.to_owned(), t.to_owned())),
        "one transaction, in this order"
    );
    let (txn, lsid) = (sent[0].get("txnNumber"), sent[0].get("lsid"));
    assert!(sent
        .iter()
        .all(|c| c.get("txnNumber") == txn && c.get("lsid") == lsid));
    assert_eq!(sent[0].get_bool("startTransaction"), Ok(true));
    assert_eq!(
        sent[0]
            .get_document("readConcern")
            .and_then(|r| r.get_str("level")),
        Ok("snapshot")
    );
    let log = &sent[1];
    assert_eq!(
        log.get_document("filter").unwrap(),
        &doc! { "_id": { "$gte": 1i64 } }
    );
    assert_eq!(log.get_document("sort").unwrap(), &doc! { "_id": 1 });
    assert_eq!(log.get_i64("limit"), Ok(500), "the runner's batch size");
    let saved = sent[4].get_array("updates").unwrap()[0]
        .as_document()
        .unwrap();
    assert_eq!(
        saved.get_document("q").unwrap(),
        &doc! { "_id": "per-stream" }
    );
    assert_eq!(
        saved.get_document("u").unwrap(),
        &doc! { "$set": { "position": 2i64 } }
    );
    assert_eq!(
        sent[5]
            .get_document("writeConcern")
            .and_then(|w| w.get_str("w")),
        Ok("majority")
    );
}

#[tokio::test]
async fn a_write_conflict_at_commit_fails_the_batch_transiently_and_the_retry_applies_it_again() {
    let landed = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicUsize::new(0));
    let (counted, marked) = (commits.clone(), landed.clone());
    let script = server_script(landed.clone(), move || {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            return Some(failure(112, "WriteConflict", "TransientTransactionError"));
        }
        marked.store(true, Ordering::SeqCst);
        None
    });
    let (server, store) = store_on(script).await;
    let mut runner = runner(store);
    fails_transiently(&mut runner).await;
    assert_eq!(runner.run_batch().await.expect("the retry commits"), (2, 2));
    assert_eq!(commits.load(Ordering::SeqCst), 2);
    assert_eq!(read_model_writes(&server), 4, "the batch was applied again");
}

#[tokio::test]
async fn a_commit_that_landed_with_an_unknown_result_is_not_applied_again() {
    let landed = Arc::new(AtomicBool::new(false));
    let marked = landed.clone();
    let script = server_script(landed.clone(), move || {
        // The first commit lands, but its reply says the result is unknown (a time limit
        // the driver does not retry on), so the batch fails as transient.
        let first = !marked.swap(true, Ordering::SeqCst);
        first.then(|| failure(50, "MaxTimeMSExpired", "UnknownTransactionCommitResult"))
    });
    let (server, store) = store_on(script).await;
    let mut runner = runner(store);
    fails_transiently(&mut runner).await;
    // Spawned, the runner reads the landed checkpoint and has nothing left to apply.
    let running = runner.spawn();
    running
        .wait_for_position(2, Duration::from_secs(10))
        .await
        .expect("the runner reaches the head");
    running.shutdown().await.expect("shutdown");
    assert_eq!(read_model_writes(&server), 2, "each event applied once");
    assert_eq!(
        server.named("commitTransaction").len(),
        1,
        "nothing left to commit"
    );
}
