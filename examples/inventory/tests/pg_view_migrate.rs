//! Replicas starting at the same moment migrate the stock view's fresh schema without a
//! unique violation (concurrent `CREATE SCHEMA IF NOT EXISTS` is not safe in PostgreSQL;
//! the migration takes an advisory lock first). Needs PostgreSQL (`DATABASE_URL`); prints
//! SKIPPED without it unless `CI=true`.

use std::sync::Arc;

use cqrs_postgres::sqlx;
use cqrs_postgres::SchemaName;
use inventory::views::PgStockLevels;
use service_kit::testing::services::{postgres_or_skip, Services};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrating_a_fresh_schema_at_once_all_succeed() {
    let Some(pool) = postgres_or_skip("inventory PostgreSQL view migrations").await else {
        return;
    };
    let schema = SchemaName::new(format!("inventory_mig_{}", uuid::Uuid::now_v7().simple()))
        .expect("schema");
    let url = Services::from_env().database_url;
    let mut replicas = Vec::new();
    for _ in 0..6 {
        let own = sqlx::PgPool::connect(&url).await.expect("connect");
        replicas.push(PgStockLevels::new(own, &schema));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(replicas.len()));
    let tasks: Vec<_> = replicas
        .into_iter()
        .map(|view| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                view.migrate().await
            })
        })
        .collect();
    for task in tasks {
        task.await
            .expect("task")
            .expect("a concurrent migration of a fresh schema succeeds");
    }
    sqlx::query(&format!("DROP SCHEMA {} CASCADE", schema.quoted()))
        .execute(&pool)
        .await
        .expect("drop");
}
