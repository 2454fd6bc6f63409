//! The embedded wiring: in-memory store, command pipeline and in-process projection.

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::worker::{CatchUpError, ProcessedPosition, ShutdownError};
use cqrs_core::{
    CommandError, Committed, EventStore, InMemoryEventStore, ProjectionProgress, ProjectionRunner,
    Repository, RunnerError, RunningProjection,
};

use service_kit::read_your_writes::ReadYourWrites;
use service_kit::Health;

use crate::domain::{Order, OrderCommand, OrderError, OrderEvent};
use crate::views::{PriceTierProjection, PriceTiers};

/// The order system in one process.
pub struct OrderSystem {
    /// Command side.
    pub orders: Repository<Order, dyn EventStore>,
    /// Query side.
    pub tiers: PriceTiers,
    health: Health,
    runner: RunningProjection<PriceTierProjection>,
}

impl OrderSystem {
    /// Name of the price-tier projection in `/health/ready`.
    pub const PROJECTION_WORKER: &'static str = "price-tier-projection";
    /// Name of the event store's check in `/health/ready`.
    pub const STORE_CHECK: &'static str = "order-event-store";
}

impl OrderSystem {
    /// Starts on a fresh in-memory store.
    pub fn embedded() -> Self {
        Self::on(Arc::new(InMemoryEventStore::new()))
    }

    /// Starts on `store`; the in-memory price-tier projection replays its log from the start.
    pub fn on(store: Arc<dyn EventStore>) -> Self {
        let orders = Repository::new(store.clone());
        let (projection, tiers) = PriceTierProjection::new();
        let health = Health::new();
        health.check_store(Self::STORE_CHECK, store.clone());
        let runner = ProjectionRunner::new(store, projection).spawn();
        health.watch(Self::PROJECTION_WORKER, runner.state());
        Self {
            orders,
            tiers,
            health,
            runner,
        }
    }

    /// Executes a command.
    pub async fn execute(
        &self,
        command: OrderCommand,
    ) -> Result<Committed<OrderEvent>, CommandError<OrderError>> {
        self.orders.execute(command).await
    }

    /// Waits until the read model has applied everything committed so far.
    pub async fn settle(&self) -> Result<u64, CatchUpError<ProjectionProgress>> {
        let progress = self
            .runner
            .wait_until_caught_up(Duration::from_secs(10))
            .await?;
        Ok(progress.checkpoint)
    }

    /// The HTTP API's state for this system.
    pub fn app_state(&self) -> crate::http::AppState {
        crate::http::AppState {
            orders: self.orders.clone(),
            tiers: std::sync::Arc::new(self.tiers.clone()),
            tiers_position: self.runner.processed_position(),
            orders_position: ProcessedPosition::store_head(
                "order-event-store",
                self.orders.store().clone(),
            ),
            read_your_writes: ReadYourWrites::default(),
            health: self.health.clone(),
        }
    }

    /// Stops the projection runner.
    pub async fn shutdown(self) -> Result<(), ShutdownError<RunnerError>> {
        self.runner.shutdown().await.map(|_| ())
    }
}
