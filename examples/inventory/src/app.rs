//! The inventory application: commands and queries over any event store, shared by the
//! HTTP API, the demo and both deployment modes.

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{
    CommandBus, CommandContext, CommandError, CommandRouter, Committed, EventStore, InProcessBus,
    LoadError, Repository, RetryPolicy,
};
use order::domain::Order;

use crate::domain::{
    OrderAllocation, Product, ProductCommand, ProductError, ProductEvent, ReleaseOutcome,
    ReserveOutcome,
};
use crate::hosted_orders::HostedOrders;
use crate::saga::FulfilmentSaga;
use crate::views::{StockLevel, StockQueries, ViewUnavailable};

/// Commands and queries of the inventory system. Cheap to clone.
///
/// The inventory owns products and allocations. Orders belong to the order service: the
/// saga sends it `ConfirmOrder` and `CancelOrder` through a [`CommandBus`] (Kafka in
/// services mode, in process in embedded mode). In embedded mode the order service is
/// hosted in this process too ([`hosted_orders`](Self::hosted_orders)).
#[derive(Clone)]
pub struct Inventory {
    products: Repository<Product, dyn EventStore>,
    allocations: Repository<OrderAllocation, dyn EventStore>,
    stock: Arc<dyn StockQueries>,
    order_bus: Arc<dyn CommandBus>,
    hosted_orders: Option<HostedOrders>,
}

impl Inventory {
    /// The inventory on `store`, answering stock queries from `stock` (a read model the
    /// caller keeps fed), sending order commands through `order_bus` to the order service.
    ///
    /// Product commands retry conflicts patiently (up to 100 attempts): many orders
    /// reserving one popular sku at once all append to the same stream.
    pub fn new(
        store: Arc<dyn EventStore>,
        stock: Arc<dyn StockQueries>,
        order_bus: Arc<dyn CommandBus>,
    ) -> Self {
        let hot_stream = RetryPolicy::attempts(100)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(20));
        Self {
            products: Repository::new(store.clone()).with_retry(hot_stream),
            allocations: Repository::new(store),
            stock,
            order_bus,
            hosted_orders: None,
        }
    }

    /// The inventory and the order service in one process (embedded mode): the `Order`
    /// aggregate on the same `store`, its commands delivered by an [`InProcessBus`].
    pub fn with_hosted_orders(store: Arc<dyn EventStore>, stock: Arc<dyn StockQueries>) -> Self {
        let orders: Repository<Order, dyn EventStore> = Repository::new(store.clone());
        let bus = InProcessBus::new(CommandRouter::new().route(orders.clone()));
        let mut inventory = Self::new(store, stock, Arc::new(bus));
        inventory.hosted_orders = Some(HostedOrders::new(orders, inventory.allocations.clone()));
        inventory
    }

    /// The order service hosted in this process (embedded mode); `None` in services mode,
    /// where orders are placed and read through the order service.
    pub fn hosted_orders(&self) -> Option<&HostedOrders> {
        self.hosted_orders.as_ref()
    }

    /// The fulfilment saga, issuing commands through this application's repositories and
    /// its order bus.
    pub fn saga(&self) -> FulfilmentSaga {
        FulfilmentSaga::new(
            self.order_bus.clone(),
            self.products.clone(),
            self.allocations.clone(),
        )
    }

    /// The inventory's decision about an order (pending until the saga has run).
    pub async fn allocation(&self, order_id: &str) -> Result<OrderAllocation, LoadError> {
        Ok(self.allocations.load(order_id).await?.state)
    }

    /// Registers a product; `Ok(false)` when it was registered before with the same name.
    pub async fn register_product(
        &self,
        sku: &str,
        name: &str,
    ) -> Result<bool, CommandError<ProductError>> {
        let command = ProductCommand::RegisterProduct {
            sku: sku.to_owned(),
            name: name.to_owned(),
        };
        Ok(!self.products.execute(command).await?.events.is_empty())
    }

    /// Adds `qty` units to the stock on hand.
    pub async fn receive_stock(
        &self,
        sku: &str,
        qty: u64,
    ) -> Result<Committed<ProductEvent>, CommandError<ProductError>> {
        let command = ProductCommand::ReceiveStock {
            sku: sku.to_owned(),
            qty,
        };
        self.products.execute(command).await
    }

    /// Reserves `qty` units of `sku` for `order_id` (idempotent per order id).
    pub async fn reserve(
        &self,
        sku: &str,
        order_id: &str,
        qty: u64,
    ) -> Result<ReserveOutcome, CommandError<ProductError>> {
        let command = ProductCommand::ReserveStock {
            sku: sku.to_owned(),
            order_id: order_id.to_owned(),
            qty,
        };
        let committed = self.products.execute(command).await?;
        Ok(if committed.events.is_empty() {
            ReserveOutcome::AlreadyReserved { qty }
        } else {
            ReserveOutcome::Reserved { qty }
        })
    }

    /// Releases the units `order_id` holds of `sku`; [`ReleaseOutcome::NotReserved`] when
    /// it holds none.
    pub async fn release_reservation(
        &self,
        sku: &str,
        order_id: &str,
    ) -> Result<ReleaseOutcome, CommandError<ProductError>> {
        let command = ProductCommand::ReleaseReservation {
            sku: sku.to_owned(),
            order_id: order_id.to_owned(),
        };
        let committed = self.products.execute(command).await?;
        Ok(ReleaseOutcome::of(&committed.events))
    }

    /// Runs a product command in `context`: under an HTTP request's `Idempotency-Key`, a
    /// repeat of its command id has no second effect and returns the first execution's
    /// outcome (its events, or its recorded refusal).
    pub async fn product_command(
        &self,
        context: &CommandContext,
        command: ProductCommand,
    ) -> Result<Committed<ProductEvent>, CommandError<ProductError>> {
        self.products.execute_in(context, command).await
    }

    /// The event store the inventory writes to.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        self.products.store()
    }

    /// The product's stock level (from the read model).
    pub async fn stock_level(&self, sku: &str) -> Result<Option<StockLevel>, ViewUnavailable> {
        self.stock.stock_level(sku).await
    }

    /// Every product's stock level (from the read model).
    pub async fn stock_levels(&self) -> Result<Vec<StockLevel>, ViewUnavailable> {
        self.stock.stock_levels().await
    }

    /// Products with fewer than `threshold` available units (from the read model).
    pub async fn low_stock(&self, threshold: u64) -> Result<Vec<StockLevel>, ViewUnavailable> {
        self.stock.low_stock(threshold).await
    }

    /// The product as the command side sees it (always current).
    pub async fn product(&self, sku: &str) -> Result<Option<Product>, LoadError> {
        let loaded = self.products.load(sku).await?;
        Ok((loaded.version > 0).then_some(loaded.state))
    }
}
