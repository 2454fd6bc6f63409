//! Test support: a connection to the test database, fresh schemas, and the skip rule.
//!
//! `DATABASE_URL` defaults to `postgres://postgres@127.0.0.1:5432/test`. When PostgreSQL is
//! unreachable, tests fail if `CI=true`; otherwise each prints one `SKIPPED` line and
//! passes.
#![allow(dead_code)]

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use cqrs_postgres::sqlx::postgres::{PgPool, PgPoolOptions};
use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName};

/// The default test database.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A reachable test database.
pub struct TestDb {
    /// Its URL.
    pub url: String,
    /// A pool shared by the stores of one test.
    pub pool: PgPool,
    schemas: Mutex<Vec<SchemaName>>,
}

/// The test database, or `None` (after printing the SKIPPED line) when it is unreachable
/// outside CI.
pub async fn database() -> Option<TestDb> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let connected = PgPoolOptions::new()
        .max_connections(12)
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await;
    match connected {
        Ok(pool) => Some(TestDb {
            url,
            pool,
            schemas: Mutex::new(Vec::new()),
        }),
        Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and PostgreSQL is unreachable at {url}: {error}")
        }
        Err(_) => {
            // Written past the test harness's capture, so it shows in `cargo test` output.
            let line = format!("SKIPPED cqrs-postgres: PostgreSQL unreachable at {url}\n");
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
            None
        }
    }
}

/// A schema name no other test uses.
pub fn unique_schema() -> SchemaName {
    let id = uuid::Uuid::new_v4().simple().to_string();
    SchemaName::new(format!("t_{}", &id[..20])).expect("valid generated schema name")
}

impl TestDb {
    /// A migrated store in a fresh schema, on the shared pool.
    pub async fn store(&self) -> PgEventStore {
        self.store_with(PgEventStoreConfig::new(self.fresh_schema()))
            .await
    }

    /// A migrated store with `config` (its schema is dropped by [`cleanup`](Self::cleanup)).
    pub async fn store_with(&self, config: PgEventStoreConfig) -> PgEventStore {
        self.remember(&config.schema);
        let store = PgEventStore::from_pool(self.pool.clone(), config);
        store.migrate().await.expect("migrate the test schema");
        store
    }

    /// A migrated store with its own pool built from `config.pool`.
    pub async fn own_pool_store(&self, config: PgEventStoreConfig) -> PgEventStore {
        self.remember(&config.schema);
        let store = PgEventStore::connect(&self.url, config)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate the test schema");
        store
    }

    /// A fresh schema name, dropped by [`cleanup`](Self::cleanup).
    pub fn fresh_schema(&self) -> SchemaName {
        let schema = unique_schema();
        self.remember(&schema);
        schema
    }

    fn remember(&self, schema: &SchemaName) {
        let mut schemas = self.schemas.lock().unwrap_or_else(|e| e.into_inner());
        if !schemas.contains(schema) {
            schemas.push(schema.clone());
        }
    }

    /// Drops every schema this test created.
    pub async fn cleanup(&self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap_or_else(|e| e.into_inner()));
        for schema in schemas {
            let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.quoted());
            if let Err(error) = cqrs_postgres::sqlx::query(&sql).execute(&self.pool).await {
                let _ = writeln!(
                    std::io::stderr(),
                    "cannot drop test schema {schema}: {error}"
                );
            }
        }
    }
}

/// A small deterministic PRNG (xorshift64*) so randomized tests need no extra crate and
/// print a seed that reproduces them.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A seed from the clock.
    pub fn seed_from_clock() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    }

    /// The next value in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound.max(1)
    }
}

/// An event with a JSON payload.
pub fn event(event_type: &str, payload: serde_json::Value) -> cqrs_core::NewEvent {
    cqrs_core::NewEvent::raw(event_type, 1, cqrs_core::JsonPayload::from_value(&payload))
}

/// Spawns an append of `events` to `stream` on `store`.
pub fn spawn_append(
    store: &PgEventStore,
    stream: &str,
    expected: cqrs_core::ExpectedVersion,
    events: Vec<cqrs_core::NewEvent>,
) -> tokio::task::JoinHandle<Result<cqrs_core::AppendResult, cqrs_core::StoreError>> {
    use cqrs_core::EventStore;
    let (store, stream) = (store.clone(), stream.to_owned());
    tokio::spawn(async move {
        store
            .append(&stream, expected, events, &cqrs_core::Metadata::default())
            .await
    })
}

/// The whole global log of `store` once at least `expected` events are visible (10 s at
/// most). The gap-safe reader holds back events while any older transaction in the cluster
/// is open (another test's migration, say), so a read right after an append may see fewer.
pub async fn read_all_visible(
    store: &PgEventStore,
    expected: usize,
) -> Vec<cqrs_core::RecordedEvent> {
    use cqrs_core::EventStore;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let all = store.read_all(1, 10_000).await.expect("read_all");
        if all.len() >= expected || std::time::Instant::now() >= deadline {
            return all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
