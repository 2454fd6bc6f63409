//! Every public async fn of cqrs-postgres returns a `Send` future: users await them inside
//! `tokio::spawn` and `#[async_trait]` methods (service traits, setup code). This test only
//! needs to compile; the bodies never run.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{EventStore, ExpectedVersion, Metadata};
use cqrs_postgres::sqlx::PgConnection;
use cqrs_postgres::{
    PgEventStore, PgEventStoreConfig, PoolConfig, TransactionalProjection, TransactionalRunner,
    TransactionalStore,
};

fn assert_send<T: Send>(_: T) {}

#[async_trait]
trait Setup {
    async fn set_up(
        &self,
        url: &str,
    ) -> Result<PgEventStore, Box<dyn std::error::Error + Send + Sync>>;
}

struct Service;

#[async_trait]
impl Setup for Service {
    async fn set_up(
        &self,
        url: &str,
    ) -> Result<PgEventStore, Box<dyn std::error::Error + Send + Sync>> {
        let store = PgEventStore::connect(url, PgEventStoreConfig::default()).await?;
        store.migrate().await?;
        let _pool = PoolConfig::default().connect(url).await?;
        let mut tx = store.begin().await?;
        tx.append("S-1", ExpectedVersion::Any, vec![], &Metadata::default())
            .await?;
        tx.read_stream("S-1", 1).await?;
        tx.commit().await?;
        store.begin().await?.rollback().await?;
        store.head_position().await?;
        Ok(store)
    }
}

#[allow(dead_code)]
fn every_public_future_is_send<P: TransactionalProjection<PgConnection>>(
    store: PgEventStore,
    projection: P,
    url: String,
    leased_store: Arc<PgEventStore>,
    leased_projection: P,
) {
    assert_send(Service.set_up("postgres://"));
    let spawned = store.clone();
    assert_send(tokio::spawn(async move {
        let store = PgEventStore::connect(&url, PgEventStoreConfig::default())
            .await
            .ok();
        let _ = spawned.migrate().await;
        drop(store);
    }));
    let adapter = store.clone();
    assert_send(tokio::spawn(async move {
        let mut tx = adapter.begin_transaction().await?;
        let from = adapter.lock_checkpoint(&mut tx, "p").await?;
        adapter.read_all_in(&mut tx, from + 1, 10).await?;
        adapter.save_checkpoint_in(&mut tx, "p", from).await?;
        if let Some(lease) =
            cqrs_core::lease::LeaseStore::acquire(&adapter, "p", "me", Duration::from_secs(5))
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
    let mut runner = TransactionalRunner::new(Arc::new(store), projection);
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
