//! The read model of the leased-runner tests: one row per applied position with the
//! number of times it was applied, written in the batch's transaction (transactional
//! runner) or straight through the pool (core runner); and a gate that holds a replica
//! inside `apply`, a pause in the middle of a batch.
#![allow(dead_code)]

use std::sync::Arc;

use async_trait::async_trait;
use cqrs_core::{Persistence, Projection, RecordedEvent, TransactionalProjection};
use cqrs_postgres::sqlx::{self, PgConnection, PgPool};
use tokio::sync::Notify;

/// Holds a replica inside `apply` of position `at` until opened.
#[derive(Default)]
pub struct Gate {
    pub at: Option<u64>,
    pub reached: Notify,
    pub open: Notify,
}

impl Gate {
    pub fn at(position: u64) -> Arc<Self> {
        Arc::new(Self {
            at: Some(position),
            ..Self::default()
        })
    }

    async fn pass(&self, position: u64) {
        if self.at == Some(position) {
            self.reached.notify_one();
            self.open.notified().await;
        }
    }
}

/// Counts how often each position was applied, in `table`.
#[derive(Clone)]
pub struct Applied {
    pub name: String,
    pub table: String,
    pub gate: Arc<Gate>,
}

impl Applied {
    pub async fn create(pool: &PgPool, schema: &str, name: &str) -> Self {
        let table = format!("{schema}.applied_{}", name.replace('-', "_"));
        sqlx::query(&format!(
            "CREATE TABLE {table} (position bigint PRIMARY KEY, times int NOT NULL)"
        ))
        .execute(pool)
        .await
        .unwrap();
        Self {
            name: name.to_owned(),
            table,
            gate: Arc::default(),
        }
    }

    pub fn gated(mut self, gate: Arc<Gate>) -> Self {
        self.gate = gate;
        self
    }

    fn upsert(&self) -> String {
        format!(
            "INSERT INTO {0} (position, times) VALUES ($1, 1)
             ON CONFLICT (position) DO UPDATE SET times = {0}.times + 1",
            self.table
        )
    }

    /// `(position, times applied)` in position order.
    pub async fn rows(&self, pool: &PgPool) -> Vec<(i64, i32)> {
        sqlx::query_as(&format!(
            "SELECT position, times FROM {} ORDER BY position",
            self.table
        ))
        .fetch_all(pool)
        .await
        .unwrap()
    }
}

#[async_trait]
impl TransactionalProjection<PgConnection> for Applied {
    type Error = sqlx::Error;
    fn name(&self) -> &str {
        &self.name
    }
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        connection: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&self.upsert())
            .bind(event.position as i64)
            .execute(&mut *connection)
            .await?;
        self.gate.pass(event.position).await;
        Ok(())
    }
    async fn reset(&mut self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(&format!("DELETE FROM {}", self.table))
            .execute(&mut *connection)
            .await?;
        Ok(())
    }
}

/// The same read model for the core (at-least-once) runner: written through `pool`.
#[derive(Clone)]
pub struct PoolApplied {
    pub model: Applied,
    pub pool: PgPool,
}

#[async_trait]
impl Projection for PoolApplied {
    type Error = sqlx::Error;
    fn name(&self) -> &str {
        &self.model.name
    }
    async fn apply(&mut self, event: &RecordedEvent) -> Result<(), sqlx::Error> {
        self.model.gate.pass(event.position).await;
        sqlx::query(&self.model.upsert())
            .bind(event.position as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
    fn persistence(&self) -> Persistence {
        Persistence::Durable
    }
}
