//! The read models of the transactional projection tests, and their tables.
#![allow(dead_code)]

use std::collections::HashMap;

use async_trait::async_trait;
use cqrs_core::{ExpectedVersion, Metadata, RecordedEvent, RunnerError, TransactionalProjection};
use cqrs_postgres::sqlx::{self, PgConnection};
use cqrs_postgres::{PgEventStore, TransactionalRunner};
use serde_json::json;

use crate::support::event;

/// How a [`Totals`] reset goes wrong: after deleting the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetFault {
    /// The projection returns an error.
    Fails,
    /// The transaction's backend is terminated (a crash mid-rebuild).
    Crashes,
}

/// Adds each event's amount to its stream's total: not idempotent, so a replayed event
/// would show.
pub struct Totals {
    pub table: String,
    /// Fail (once) when this event number is applied: a crash mid-batch.
    pub fail_at: Option<u64>,
    pub reset_fault: Option<ResetFault>,
}

impl Totals {
    pub fn new(table: &str) -> Self {
        Self {
            table: table.to_owned(),
            fail_at: None,
            reset_fault: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TotalsError {
    #[error("simulated crash at event {0}")]
    Crash(u64),
    #[error("simulated reset failure")]
    Reset,
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

#[async_trait]
impl TransactionalProjection<PgConnection> for Totals {
    type Error = TotalsError;
    fn name(&self) -> &str {
        "totals"
    }
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        connection: &mut PgConnection,
    ) -> Result<(), TotalsError> {
        let payload = event
            .payload
            .to_value()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let n = payload["n"].as_u64().unwrap_or_default();
        sqlx::query(&format!(
            "INSERT INTO {} (stream_id, total, applied) VALUES ($1, $2, 1)
             ON CONFLICT (stream_id) DO UPDATE SET total = {0}.total + $2, applied = {0}.applied + 1",
            self.table
        ))
        .bind(&*event.stream_id)
        .bind(payload["amount"].as_i64().unwrap_or_default())
        .execute(&mut *connection)
        .await?;
        if self.fail_at == Some(n) {
            self.fail_at = None;
            return Err(TotalsError::Crash(n));
        }
        Ok(())
    }
    async fn reset(&mut self, connection: &mut PgConnection) -> Result<(), TotalsError> {
        sqlx::query(&format!("DELETE FROM {}", self.table))
            .execute(&mut *connection)
            .await?;
        match self.reset_fault {
            None => Ok(()),
            Some(ResetFault::Fails) => Err(TotalsError::Reset),
            Some(ResetFault::Crashes) => {
                sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
                    .execute(&mut *connection)
                    .await?;
                Ok(())
            }
        }
    }
}

/// The columns of the [`Totals`] read model.
pub const TOTALS_COLUMNS: &str =
    "stream_id text PRIMARY KEY, total bigint NOT NULL, applied bigint NOT NULL";

/// Writes each event's `label` into a table whose primary key indexes it.
pub struct Labels {
    pub table: String,
}

#[async_trait]
impl TransactionalProjection<PgConnection> for Labels {
    type Error = sqlx::Error;
    fn name(&self) -> &str {
        "labels"
    }
    async fn apply(
        &mut self,
        event: &RecordedEvent,
        connection: &mut PgConnection,
    ) -> Result<(), sqlx::Error> {
        let payload = event
            .payload
            .to_value()
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        sqlx::query(&format!("INSERT INTO {} (label) VALUES ($1)", self.table))
            .bind(payload["label"].as_str().unwrap_or_default())
            .execute(&mut *connection)
            .await?;
        Ok(())
    }
    async fn reset(&mut self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(&format!("DELETE FROM {}", self.table))
            .execute(&mut *connection)
            .await?;
        Ok(())
    }
}

/// Creates table `name` with `columns` in the store's schema; returns its qualified name.
pub async fn create_table(store: &PgEventStore, name: &str, columns: &str) -> String {
    let table = format!("{}.{name}", store.config().schema.quoted());
    sqlx::query(&format!("CREATE TABLE {table} ({columns})"))
        .execute(store.pool())
        .await
        .expect("create the read model table");
    table
}

/// The [`Totals`] rows: stream -> (total, events applied).
pub type TotalsRows = HashMap<String, (i64, i64)>;

pub async fn totals(store: &PgEventStore, table: &str) -> TotalsRows {
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as(&format!("SELECT stream_id, total, applied FROM {table}"))
            .fetch_all(store.pool())
            .await
            .expect("read totals");
    rows.into_iter().map(|(s, t, a)| (s, (t, a))).collect()
}

/// Appends `Deposited` events numbered `from..to` to `streams` streams named
/// `{prefix}-{n % streams}`, adding them to `expected`; returns their positions.
pub async fn deposit(
    store: &PgEventStore,
    prefix: &str,
    streams: u64,
    numbers: std::ops::Range<u64>,
    expected: &mut TotalsRows,
) -> Vec<u64> {
    let mut positions = Vec::new();
    for n in numbers {
        let stream = format!("{prefix}-{}", n % streams);
        let amount = (n * 3 + 1) as i64;
        let appended = cqrs_core::EventStore::append(
            store,
            &stream,
            ExpectedVersion::Any,
            vec![event("Deposited", json!({"n": n, "amount": amount}))],
            &Metadata::default(),
        )
        .await
        .expect("append");
        positions.push(appended.events[0].position);
        let entry = expected.entry(stream).or_default();
        entry.0 += amount;
        entry.1 += 1;
    }
    positions
}

/// Catches up until the checkpoint reaches `last`. The gap-safe reader shows only events
/// below the oldest transaction running in the cluster, so a catch-up that runs while
/// another test holds a transaction may stop short of events already committed.
pub async fn catch_up_to<P>(
    runner: &mut TransactionalRunner<P, PgEventStore>,
    last: u64,
) -> Result<u64, RunnerError>
where
    P: TransactionalProjection<PgConnection>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let checkpoint = runner.catch_up().await?;
        if checkpoint >= last || std::time::Instant::now() > deadline {
            return Ok(checkpoint);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
