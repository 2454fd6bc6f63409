//! Embedded mode: one in-memory store for orders, products and allocations; the saga and
//! the stock view fed in process from the global log.

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::worker::{CatchUpError, ProcessedPosition, ShutdownError};
use cqrs_core::{
    EventStore, InMemoryEventStore, ProjectionProgress, ProjectionRunner, RetryPolicy,
    RunnerConfig, RunnerError, RunningProjection,
};

use service_kit::Health;

use crate::app::Inventory;
use crate::hosted_orders::HostedOrders;
use crate::saga::SagaProjection;
use crate::views::{StockLevelProjection, StockLevels};

/// The whole inventory system in one process.
///
/// ```
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let system = inventory::InventorySystem::embedded();
/// system.app.register_product("pen", "Ballpoint pen").await.unwrap();
/// system.app.receive_stock("pen", 5).await.unwrap();
/// system.settle().await.unwrap();
/// assert_eq!(system.stock.get("pen").unwrap().available, 5);
/// system.shutdown().await.unwrap();
/// # });
/// ```
pub struct InventorySystem {
    /// Commands and queries.
    pub app: Inventory,
    /// The in-memory stock view (also reachable through `app`).
    pub stock: StockLevels,
    /// The saga's and the view's runners and the event store, for `GET /health/ready`.
    pub health: Health,
    store: Arc<dyn EventStore>,
    saga: RunningProjection<SagaProjection>,
    stock_runner: RunningProjection<StockLevelProjection>,
}

impl InventorySystem {
    /// Name of the saga's runner in `/health/ready`.
    pub const SAGA_WORKER: &'static str = "fulfilment-saga";
    /// Name of the stock view's runner in `/health/ready`.
    pub const STOCK_WORKER: &'static str = "stock-levels";
    /// Name of the event store's check in `/health/ready`.
    pub const STORE_CHECK: &'static str = "event-store";

    /// Starts on a fresh in-memory store.
    pub fn embedded() -> Self {
        Self::on(Arc::new(InMemoryEventStore::new()))
    }

    /// Starts on `store`; the saga and the view resume from their checkpoints there.
    pub fn on(store: Arc<dyn EventStore>) -> Self {
        let (projection, levels) = StockLevelProjection::new();
        let app = Inventory::with_hosted_orders(store.clone(), Arc::new(levels.clone()));
        let saga_config = RunnerConfig {
            retry: RetryPolicy::attempts(10)
                .with_backoff(Duration::from_millis(10), Duration::from_secs(2)),
            ..RunnerConfig::default()
        };
        let saga = ProjectionRunner::new(store.clone(), SagaProjection::new(app.saga()))
            .with_config(saga_config)
            .spawn();
        let stock_runner = ProjectionRunner::new(store.clone(), projection).spawn();
        let health = Health::new();
        health.watch(Self::SAGA_WORKER, saga.state());
        health.watch(Self::STOCK_WORKER, stock_runner.state());
        health.check_store(Self::STORE_CHECK, store.clone());
        Self {
            app,
            stock: levels,
            health,
            store,
            saga,
            stock_runner,
        }
    }

    /// The order service hosted in this process.
    pub fn orders(&self) -> &HostedOrders {
        self.app
            .hosted_orders()
            .expect("the embedded system is built with hosted orders")
    }

    /// How far the stock view has processed the log (its runner's checkpoint): what a
    /// query's `min_position` waits for.
    pub fn stock_position(&self) -> ProcessedPosition {
        self.stock_runner.processed_position()
    }

    /// The shared event store.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// Waits until the saga and the view have processed everything, including the events
    /// the saga itself appended (for the demo, tests and read-your-writes).
    pub async fn settle(&self) -> Result<u64, CatchUpError<ProjectionProgress>> {
        const TIMEOUT: Duration = Duration::from_secs(30);
        loop {
            let head = self.saga.wait_until_caught_up(TIMEOUT).await?.checkpoint;
            self.stock_runner.wait_for_position(head, TIMEOUT).await?;
            let now = self.saga.wait_until_caught_up(TIMEOUT).await?.checkpoint;
            if now == head {
                return Ok(head);
            }
        }
    }

    /// Stops the saga and the view after their current batch.
    pub async fn shutdown(self) -> Result<(), ShutdownError<RunnerError>> {
        let saga = self.saga.shutdown().await.map(|_| ());
        let stock = self.stock_runner.shutdown().await.map(|_| ());
        saga.and(stock)
    }
}
