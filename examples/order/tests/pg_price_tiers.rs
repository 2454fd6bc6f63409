//! The PostgreSQL price-tier view gives the same answers as the in-memory one, and applies
//! redelivered events once. Needs PostgreSQL (`DATABASE_URL`); prints SKIPPED without it
//! unless `CI=true`.

use std::sync::Arc;

use cqrs_core::{EventStore, InMemoryEventStore, Projection};
use cqrs_postgres::SchemaName;
use order::domain::Tier;
use order::views::PgPriceTiers;
use order::views::TierQueries;
use order::OrderSystem;
use service_kit::testing::services::postgres_or_skip;

fn schema() -> SchemaName {
    SchemaName::new(format!("order_test_{}", uuid_suffix())).expect("valid schema name")
}

fn uuid_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[tokio::test]
async fn the_postgres_view_matches_the_in_memory_view_and_ignores_redelivery() {
    let Some(pool) = postgres_or_skip("order PostgreSQL view tests").await else {
        return;
    };
    let store: Arc<dyn EventStore> = Arc::new(InMemoryEventStore::new());
    let system = OrderSystem::on(store.clone());
    for command in order::demo::script() {
        let _ = system.execute(command).await;
    }
    system.settle().await.unwrap();

    let schema = schema();
    let mut view = PgPriceTiers::new(pool.clone(), schema.clone());
    view.migrate().await.unwrap();
    let events = store.read_all(1, 1000).await.unwrap();
    for _ in 0..2 {
        // The second round is a full redelivery: nothing may change.
        for event in &events {
            Projection::apply(&mut view, event).await.unwrap();
        }
    }
    for customer in system.tiers.customers() {
        let expected = system.tiers.items(&customer, None);
        let actual = view.items(&customer, None).await.unwrap();
        assert_eq!(actual, expected, "customer {customer}");
        let affordable = view.items(&customer, Some(Tier::Affordable)).await.unwrap();
        assert_eq!(
            affordable,
            system.tiers.items(&customer, Some(Tier::Affordable))
        );
    }
    assert!(!system.tiers.customers().is_empty());
    sqlx::query(&format!("DROP SCHEMA {} CASCADE", schema.quoted()))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_migrating_a_fresh_schema_at_once_all_succeed() {
    let Some(pool) = postgres_or_skip("order PostgreSQL view tests").await else {
        return;
    };
    // One schema for the event store and the view (both settings may name the same one):
    // the store's migrations and the view's take the same lock.
    let schema = schema();
    let url = service_kit::testing::services::Services::from_env().database_url;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for replica in 0..8 {
        // Each replica has its own connections; all start at the same moment.
        let own = cqrs_postgres::sqlx::PgPool::connect(&url).await.unwrap();
        let (barrier, schema) = (barrier.clone(), schema.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            if replica % 2 == 0 {
                PgPriceTiers::new(own, schema)
                    .migrate()
                    .await
                    .map_err(|e| e.to_string())
            } else {
                let config = cqrs_postgres::PgEventStoreConfig::new(schema);
                let store = cqrs_postgres::PgEventStore::from_pool(own, config);
                store.migrate().await.map(|_| ()).map_err(|e| e.to_string())
            }
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("a concurrent migration of a fresh schema succeeds");
    }
    cqrs_postgres::sqlx::query(&format!("DROP SCHEMA {} CASCADE", schema.quoted()))
        .execute(&pool)
        .await
        .unwrap();
}
