//! The inventory application: commands and queries over any event store, shared by the
//! HTTP API, the demo and both deployment modes.

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::{
    stream_id, Aggregate, CommandError, Committed, EventStore, LoadError, Repository, RetryPolicy,
};
use order::domain::{Cents, Order, OrderCommand, OrderError, OrderEvent, OrderLine, OrderStatus};
use serde::Serialize;

use crate::domain::{
    OrderAllocation, Product, ProductCommand, ProductError, ProductEvent, ReleaseOutcome,
    ReserveOutcome,
};
use crate::saga::FulfilmentSaga;
use crate::views::{StockLevel, StockQueries, ViewUnavailable};

/// An order as the inventory API reports it: the order's own state and the inventory's
/// decision about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderReport {
    /// Order id.
    pub order_id: String,
    /// Customer id.
    pub customer_id: String,
    /// The order's status (placed, paid, shipped, cancelled).
    pub status: OrderStatus,
    /// Why it was cancelled (e.g. `out_of_stock`), if it was.
    pub cancel_reason: Option<String>,
    /// Its lines.
    pub lines: Vec<OrderLine>,
    /// Sum of the lines, in minor units; `None` (`null`) if it overflows `u64` (only an
    /// order recorded before the order limits existed can).
    pub total: Option<Cents>,
    /// The inventory's decision (pending until the saga has run).
    pub allocation: OrderAllocation,
}

/// Commands and queries of the inventory system. Cheap to clone.
#[derive(Clone)]
pub struct Inventory {
    orders: Repository<Order, dyn EventStore>,
    products: Repository<Product, dyn EventStore>,
    allocations: Repository<OrderAllocation, dyn EventStore>,
    stock: Arc<dyn StockQueries>,
}

impl Inventory {
    /// The application on `store`, answering stock queries from `stock` (a read model the
    /// caller keeps fed).
    ///
    /// Product commands retry conflicts patiently (up to 100 attempts): many orders
    /// reserving one popular sku at once all append to the same stream.
    pub fn new(store: Arc<dyn EventStore>, stock: Arc<dyn StockQueries>) -> Self {
        let hot_stream = RetryPolicy::attempts(100)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(20));
        Self {
            orders: Repository::new(store.clone()),
            products: Repository::new(store.clone()).with_retry(hot_stream),
            allocations: Repository::new(store),
            stock,
        }
    }

    /// The fulfilment saga, issuing commands through this application's repositories.
    pub fn saga(&self) -> FulfilmentSaga {
        FulfilmentSaga::new(
            self.orders.clone(),
            self.products.clone(),
            self.allocations.clone(),
        )
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
        Ok(match committed.events.first() {
            Some(ProductEvent::ReservationReleased { qty, .. }) => {
                ReleaseOutcome::Released { qty: *qty }
            }
            _ => ReleaseOutcome::NotReserved,
        })
    }

    /// Places an order through the `Order` aggregate; the saga reacts to it.
    pub async fn place_order(
        &self,
        order_id: &str,
        customer_id: &str,
        items: Vec<OrderLine>,
    ) -> Result<Committed<OrderEvent>, CommandError<OrderError>> {
        let command = OrderCommand::PlaceOrder {
            order_id: order_id.to_owned(),
            customer_id: customer_id.to_owned(),
            items,
        };
        self.orders.execute(command).await
    }

    /// Cancels an order; the saga releases its stock if it was confirmed.
    pub async fn cancel_order(
        &self,
        order_id: &str,
        reason: &str,
    ) -> Result<Committed<OrderEvent>, CommandError<OrderError>> {
        let command = OrderCommand::CancelOrder {
            order_id: order_id.to_owned(),
            reason: reason.to_owned(),
        };
        self.orders.execute(command).await
    }

    /// Runs any order command (pay, ship, ...); the saga reacts to what it records.
    pub async fn order_command(
        &self,
        command: OrderCommand,
    ) -> Result<Committed<OrderEvent>, CommandError<OrderError>> {
        self.orders.execute(command).await
    }

    /// The order and the inventory's decision about it; `None` if it was never placed.
    ///
    /// Read from the order's stream (not a read model), so it is always current.
    pub async fn order(&self, order_id: &str) -> Result<Option<OrderReport>, LoadError> {
        let stream = stream_id::<Order>(order_id);
        let events = self.orders.store().read_stream(&stream, 1).await?;
        if events.is_empty() {
            return Ok(None);
        }
        let (mut order, mut cancel_reason) = (Order::default(), None);
        for recorded in &events {
            let event: OrderEvent = recorded.decode(self.orders.upcasters())?;
            if let OrderEvent::OrderCancelled { reason } = &event {
                cancel_reason = Some(reason.clone());
            }
            order.apply(&event);
        }
        let allocation = self.allocations.load(order_id).await?.state;
        Ok(Some(OrderReport {
            total: order.total(),
            order_id: order.order_id,
            customer_id: order.customer_id,
            status: order.status,
            cancel_reason,
            lines: order.lines,
            allocation,
        }))
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
