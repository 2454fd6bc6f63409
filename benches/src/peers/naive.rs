//! The floor: raw sqlx, one transaction per command (`BEGIN; SELECT` the stream's payloads;
//! decide; `INSERT` the next version; `COMMIT`), on the postgres group's naive table (the
//! store's columns, a `(stream_id, version)` unique key). Four round trips per command.

use futures::future::BoxFuture;
use futures::FutureExt;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::types::Json;
use uuid::Uuid;

use super::{is_unique_violation, retry_lost_races, Attempt, Role, System, Target, Workload, POOL};
use crate::counter::{Counter, CounterEvent, INCREMENT_JSON};
use crate::postgres::{NAIVE_INSERT, NAIVE_TABLE};

pub(super) struct Naive {
    pool: PgPool,
    select: String,
    insert: String,
    /// `Naive-0` .. `Naive-{aggregates - 1}`, so a command formats nothing.
    streams: Vec<String>,
}

impl Naive {
    /// Creates the naive table in `schema` and writes the long stream's events with one
    /// `INSERT .. SELECT generate_series`.
    pub async fn start(database_url: &str, schema: &str, workload: &Workload) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(POOL)
            .connect(database_url)
            .await
            .expect("naive pool");
        let render = |sql: &str| sql.replace("{schema}", schema);
        sqlx::query(&render(NAIVE_TABLE))
            .execute(&pool)
            .await
            .expect("naive table");
        sqlx::query(&render(
            "INSERT INTO {schema}.naive_events
                 (stream_id, version, event_id, event_type, payload, metadata)
             SELECT 'Naive-long', v, gen_random_uuid(), 'Incremented', $2::jsonb, '{}'::jsonb
             FROM generate_series(1, $1::bigint) AS v",
        ))
        .bind(workload.long_stream as i64)
        .bind(INCREMENT_JSON)
        .execute(&pool)
        .await
        .expect("fill the long stream");
        Naive {
            pool,
            select: render(
                "SELECT payload FROM {schema}.naive_events WHERE stream_id = $1 ORDER BY version",
            ),
            insert: render(NAIVE_INSERT),
            streams: (0..workload.aggregates)
                .map(|n| format!("Naive-{n}"))
                .collect(),
        }
    }

    fn stream(&self, target: Target) -> &str {
        match target {
            Target::Account(n) => &self.streams[n],
            Target::Long => "Naive-long",
        }
    }

    async fn load(&self, executor: impl sqlx::PgExecutor<'_>, stream: &str) -> (Counter, usize) {
        let rows: Vec<Json<CounterEvent>> = sqlx::query_scalar(&self.select)
            .bind(stream)
            .fetch_all(executor)
            .await
            .expect("naive select");
        let mut state = Counter::default();
        for event in &rows {
            state.add(&event.0);
        }
        (state, rows.len())
    }
}

impl Naive {
    /// `BEGIN; SELECT` the stream; decide; `INSERT` the next version; `COMMIT`.
    async fn attempt(&self, stream: &str) -> Attempt {
        let mut tx = self.pool.begin().await.expect("naive begin");
        let (state, version) = self.load(&mut *tx, stream).await;
        let event = serde_json::to_string(&state.decide()).expect("encode");
        let inserted = sqlx::query(&self.insert)
            .bind(stream)
            .bind(version as i64 + 1)
            .bind(Uuid::now_v7())
            .bind("Incremented")
            .bind(event)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {
                tx.commit().await.expect("naive commit");
                Attempt::Committed
            }
            Err(error) if is_unique_violation(&error) => Attempt::LostRace,
            Err(error) => panic!("naive insert: {error}"),
        }
    }
}

impl System for Naive {
    fn name(&self) -> &'static str {
        "naive raw sqlx (BEGIN; SELECT stream; INSERT; COMMIT)"
    }

    fn role(&self) -> Role {
        Role::Floor
    }

    fn command(&self, target: Target) -> BoxFuture<'_, ()> {
        retry_lost_races(self.name(), move || self.attempt(self.stream(target))).boxed()
    }

    fn state(&self, target: Target) -> BoxFuture<'_, (u64, u64)> {
        async move {
            let (state, version) = self.load(&self.pool, self.stream(target)).await;
            (state.value, version as u64)
        }
        .boxed()
    }
}
