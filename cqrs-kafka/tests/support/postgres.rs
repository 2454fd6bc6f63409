//! PostgreSQL for the relay's lease tests: `DATABASE_URL` (default
//! postgres://postgres@127.0.0.1:5432/test), a fresh schema per test, dropped afterwards.

use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName};

/// A fresh schema in the test database, dropped by [`drop`](Self::drop).
pub struct PgSchema {
    pub url: String,
    pub schema: SchemaName,
}

/// The test database with a fresh, migrated event store schema, or `None` (after printing
/// why) when PostgreSQL is unreachable and the run is not CI.
pub async fn schema() -> Option<PgSchema> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let id = uuid::Uuid::new_v4().simple().to_string();
    let schema = SchemaName::new(format!("relay_{}", &id[..16])).expect("schema name");
    let pg = PgSchema { url, schema };
    match pg.store().await {
        Ok(store) => {
            store.migrate().await.expect("migrate");
            Some(pg)
        }
        Err(error) => {
            super::broker::unavailable(&format!("PostgreSQL unreachable at {}: {error}", pg.url));
            None
        }
    }
}

impl PgSchema {
    /// A store on the schema with its own pool (so one replica's connections are its own).
    pub async fn store(&self) -> Result<PgEventStore, cqrs_postgres::SetupError> {
        PgEventStore::connect(&self.url, PgEventStoreConfig::new(self.schema.clone())).await
    }

    /// Drops the schema.
    pub async fn drop(self) {
        let store = self.store().await.expect("connect");
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema.as_str());
        cqrs_postgres::sqlx::query(&sql)
            .execute(store.pool())
            .await
            .expect("drop the test schema");
    }
}
