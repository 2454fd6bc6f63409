//! Every public async fn of cqrs-mongo returns a `Send` future, awaitable inside
//! `tokio::spawn` and `#[async_trait]` methods. This test only needs to compile.

use std::time::Duration;

use async_trait::async_trait;
use cqrs_mongo::{
    MongoEventStore, MongoStoreConfig, TransactionalProjection, TransactionalProjector,
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
        let store = MongoEventStore::connect(url, MongoStoreConfig::new("db")).await?;
        store.migrate().await?;
        store.ensure_indexes().await?;
        Ok(store)
    }
}

#[allow(dead_code)]
fn every_public_future_is_send<P: TransactionalProjection>(
    client: mongodb::Client,
    projector: TransactionalProjector<P>,
) {
    assert_send(Service.set_up("mongodb://"));
    assert_send(tokio::spawn(async move {
        let _ = MongoEventStore::with_client(client, MongoStoreConfig::new("db")).await;
    }));
    let mut projector = projector;
    assert_send(async move {
        let _ = projector.step().await;
        let _ = projector.catch_up().await;
        let _ = projector.run_until(Duration::from_secs(1), async {}).await;
    });
}

#[test]
fn compiles() {}
