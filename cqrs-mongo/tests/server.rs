//! Tests against a real MongoDB replica set, run when `MONGODB_URL` is set, e.g.
//! `MONGODB_URL=mongodb://127.0.0.1:27017/?replicaSet=rs0` (see `docker-compose.yml`).
//! Without it every test passes after one `SKIPPED` line on stderr.
//!
//! Each test works in fresh databases named `cqrs_test_<uuid>`, dropped at the end.

use std::io::Write;
use std::sync::{Arc, Mutex, Once};

use async_trait::async_trait;
use bson::{doc, Bson, Document};
use cqrs_core::{
    EventStore, ExpectedVersion, FailureKind, JsonPayload, Metadata, NewEvent, RecordedEvent,
    RunnerError,
};
use cqrs_mongo::{
    MongoEventStore, MongoEventStoreConfig, MongoTransaction, TransactionalProjection,
    TransactionalRunner,
};
use mongodb::Database;

fn url() -> Option<String> {
    static SKIPPED: Once = Once::new();
    match std::env::var("MONGODB_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Written to the real stderr (not the captured test output) so it shows.
            SKIPPED.call_once(|| {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "SKIPPED cqrs-mongo contract suite: MONGODB_URL not set"
                );
            });
            None
        }
    }
}

/// Fresh, migrated stores in throwaway databases, dropped by [`Databases::drop_all`].
#[derive(Clone, Default)]
struct Databases(Arc<Mutex<Vec<Database>>>);

impl Databases {
    async fn fresh_store(&self, url: &str) -> MongoEventStore {
        let name = format!("cqrs_test_{}", uuid::Uuid::new_v4().simple());
        let store = MongoEventStore::connect(url, MongoEventStoreConfig::new(name))
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(store.database().clone());
        store
    }

    async fn drop_all(&self) {
        let databases = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        for database in databases {
            let _ = database.drop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_store_satisfies_the_store_contract() {
    let Some(url) = url() else { return };
    let databases = Databases::default();
    cqrs_core::testing::run_store_contract(|| {
        let databases = databases.clone();
        let url = url.clone();
        async move { databases.fresh_store(&url).await }
    })
    .await;
    databases.drop_all().await;
}

fn event(n: u64) -> NewEvent {
    NewEvent::raw(
        "Counted",
        1,
        JsonPayload::from_value(&serde_json::json!({ "n": n })),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_are_stored_as_documents_with_exact_values() {
    let Some(url) = url() else { return };
    let databases = Databases::default();
    let store = databases.fresh_store(&url).await;
    let text = r#"{"$type":"Order","a.b":{"big":18446744073709551615,"neg":-9223372036854775808},"z":"ünï 🚀","list":[1.5,null,true]}"#;
    let sent = NewEvent::raw("Odd", 1, JsonPayload::parse(text).unwrap());
    let appended = store
        .append(
            "Odd-1",
            ExpectedVersion::NoStream,
            vec![sent],
            &Metadata::default(),
        )
        .await
        .expect("append");
    assert_eq!(
        appended.events[0].payload.as_str(),
        text,
        "compact input reads back byte for byte"
    );
    let raw = store
        .database()
        .collection::<Document>("events")
        .find_one(doc! { "stream_id": "Odd-1" })
        .await
        .expect("find")
        .expect("stored");
    let payload = raw.get_document("payload").expect("payload is a document");
    assert!(matches!(
        payload.get_document("a.b").unwrap().get("big"),
        Some(Bson::Decimal128(_))
    ));
    assert_eq!(raw.get_i64("_id"), Ok(appended.events[0].position as i64));
    assert_eq!(
        store.read_stream("Odd-1", 1).await.unwrap()[0]
            .payload
            .as_str(),
        text
    );
    databases.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_idempotent_and_never_lowers_the_position_counter() {
    let Some(url) = url() else { return };
    let databases = Databases::default();
    let store = databases.fresh_store(&url).await;
    store
        .append(
            "M-1",
            ExpectedVersion::NoStream,
            vec![event(1), event(2)],
            &Metadata::default(),
        )
        .await
        .unwrap();
    store.migrate().await.expect("second migrate");
    let next = store
        .append(
            "M-1",
            ExpectedVersion::Exact(2),
            vec![event(3)],
            &Metadata::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        next.events[0].position, 3,
        "positions stay dense across migrations"
    );
    databases.drop_all().await;
}

/// Counts events per stream in a read-model collection, through the session.
struct CountPerStream {
    fail_on: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
enum CountError {
    #[error(transparent)]
    Mongo(#[from] mongodb::error::Error),
    #[error("refusing position {0}")]
    Refused(u64),
}

#[async_trait]
impl TransactionalProjection<MongoTransaction> for CountPerStream {
    type Error = CountError;
    fn name(&self) -> &str {
        "count-per-stream"
    }
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        tx: &mut MongoTransaction,
    ) -> Result<(), CountError> {
        tx.database()
            .collection::<Document>("counts")
            .update_one(
                doc! { "_id": event.stream_id.as_ref() },
                doc! { "$inc": { "n": 1 } },
            )
            .upsert(true)
            .session(tx.session())
            .await?;
        if Some(event.position) == self.fail_on {
            return Err(CountError::Refused(event.position));
        }
        Ok(())
    }
    async fn reset(&mut self, tx: &mut MongoTransaction) -> Result<(), CountError> {
        tx.database()
            .collection::<Document>("counts")
            .delete_many(doc! {})
            .session(tx.session())
            .await?;
        Ok(())
    }
    fn failure_kind(&self, error: &CountError) -> Option<FailureKind> {
        matches!(error, CountError::Refused(_)).then_some(FailureKind::Permanent)
    }
}

async fn count(db: &Database, stream: &str) -> i64 {
    db.collection::<Document>("counts")
        .find_one(doc! { "_id": stream })
        .await
        .unwrap()
        .map_or(0, |d| {
            d.get_i32("n")
                .map(i64::from)
                .or_else(|_| d.get_i64("n"))
                .unwrap_or(-1)
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projection_read_model_and_checkpoint_commit_together() {
    let Some(url) = url() else { return };
    let databases = Databases::default();
    let store = Arc::new(databases.fresh_store(&url).await);
    store
        .append(
            "P-1",
            ExpectedVersion::NoStream,
            (1..=5).map(event).collect(),
            &Metadata::default(),
        )
        .await
        .unwrap();

    // Fails at position 4 for good: its write rolls back, the events before it commit.
    let mut failing = TransactionalRunner::new(store.clone(), CountPerStream { fail_on: Some(4) });
    let error = failing.catch_up().await.unwrap_err();
    assert!(
        matches!(error, RunnerError::Projection { position: 4, .. }),
        "{error}"
    );
    assert_eq!(count(store.database(), "P-1").await, 3);
    assert_eq!(
        store.load_checkpoint("count-per-stream").await.unwrap(),
        Some(3)
    );

    let mut working = TransactionalRunner::new(store.clone(), CountPerStream { fail_on: None });
    assert_eq!(working.catch_up().await.unwrap(), 5);
    assert_eq!(
        count(store.database(), "P-1").await,
        5,
        "each event counted exactly once"
    );

    // A rebuild resets the read model and the checkpoint together, then replays.
    working.rebuild().await.unwrap();
    assert_eq!(count(store.database(), "P-1").await, 0);
    assert_eq!(
        store.load_checkpoint("count-per-stream").await.unwrap(),
        Some(0)
    );
    assert_eq!(working.catch_up().await.unwrap(), 5);
    assert_eq!(count(store.database(), "P-1").await, 5);
    databases.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mongo_leases_meet_the_lease_contract() {
    let Some(url) = url() else { return };
    let databases = Databases::default();
    cqrs_core::testing::run_lease_contract(|| {
        let databases = databases.clone();
        let url = url.clone();
        async move { databases.fresh_store(&url).await }
    })
    .await;
    databases.drop_all().await;
}
