//! Every public async fn of cqrs-mongo returns a `Send` future, awaitable inside
//! `tokio::spawn` and `#[async_trait]` methods. This test only needs to compile.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_mongo::{
    MongoEventStore, MongoEventStoreConfig, MongoTransaction, TransactionalProjection,
    TransactionalRunner, TransactionalStore,
};

fn assert_send<T: Send>(_: T) {}

#[async_trait]
trait Setup {
    async fn set_up(
        &self,
        url: &str,
    ) -> Result<MongoEventStore, Box<dyn std::error::Error + Send + Sync>>;
}

struct Service;

#[async_trait]
impl Setup for Service {
    async fn set_up(
        &self,
        url: &str,
    ) -> Result<MongoEventStore, Box<dyn std::error::Error + Send + Sync>> {
        let store = MongoEventStore::connect(url, MongoEventStoreConfig::new("db")).await?;
        store.migrate().await?;
        store.ensure_indexes().await?;
        Ok(store)
    }
}

#[allow(dead_code)]
fn every_public_future_is_send<P: TransactionalProjection<MongoTransaction>>(
    client: mongodb::Client,
    store: Arc<MongoEventStore>,
    projection: P,
    leased_store: Arc<MongoEventStore>,
    leased_projection: P,
) {
    assert_send(Service.set_up("mongodb://"));
    assert_send(tokio::spawn(async move {
        let _ = MongoEventStore::with_client(client, MongoEventStoreConfig::new("db")).await;
    }));
    let adapter = store.clone();
    assert_send(tokio::spawn(async move {
        let mut tx = adapter.begin_transaction().await?;
        let from = adapter.lock_checkpoint(&mut tx, "p").await?;
        adapter.read_all_in(&mut tx, from + 1, 10).await?;
        adapter.save_checkpoint_in(&mut tx, "p", from).await?;
        if let Some(lease) =
            cqrs_core::lease::LeaseStore::acquire(&*adapter, "p", "me", Duration::from_secs(5))
                .await?
        {
            adapter.fence_in(&mut tx, &lease).await?;
        }
        adapter.commit_transaction(tx).await?;
        adapter
            .rollback_transaction(adapter.begin_transaction().await?)
            .await;
        Ok::<_, cqrs_core::StoreError>(())
    }));
    let mut runner = TransactionalRunner::new(store, projection);
    assert_send(tokio::spawn(async move {
        let _ = runner.run_batch().await;
        let _ = runner.catch_up().await;
        let _ = runner.rebuild().await;
        let _ = runner.spawn().shutdown().await;
    }));
    let leased = TransactionalRunner::new(leased_store, leased_projection)
        .with_lease(cqrs_core::lease::LeaseConfig::default());
    assert_send(tokio::spawn(async move {
        let _ = leased.spawn().shutdown().await;
    }));
}

#[test]
fn compiles() {}
