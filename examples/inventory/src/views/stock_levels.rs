//! The stock level read model: on hand, reserved and available units per sku.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use cqrs_core::{Persistence, RecordedEvent, TypedProjection, Upcasters};
use serde::Serialize;

use super::LowStockIndex;
use crate::domain::{Product, ProductEvent};

/// One product's stock as the view sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLevel {
    /// Stock keeping unit.
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Units in the warehouse.
    pub on_hand: u64,
    /// Units held for orders.
    pub reserved: u64,
    /// `on_hand - reserved`.
    pub available: u64,
}

#[derive(Debug, Default)]
struct ViewState {
    levels: BTreeMap<String, StockLevel>,
    low_stock: LowStockIndex,
    /// Last stream version applied per product, to skip redeliveries. Per stream (not
    /// global position), so the view is also exact when fed from Kafka partitions.
    versions: HashMap<String, u64>,
}

impl ViewState {
    fn apply(&mut self, sku: &str, event: ProductEvent) {
        let before = self.levels.get(sku).map(|l| l.available);
        let level = self
            .levels
            .entry(sku.to_owned())
            .or_insert_with(|| StockLevel {
                sku: sku.to_owned(),
                name: String::new(),
                on_hand: 0,
                reserved: 0,
                available: 0,
            });
        match event {
            ProductEvent::ProductRegistered { name, .. } => level.name = name,
            ProductEvent::StockReceived { qty } => level.on_hand += qty,
            ProductEvent::StockReserved { qty, .. } => level.reserved += qty,
            ProductEvent::ReservationReleased { qty, .. } => {
                level.reserved = level.reserved.saturating_sub(qty)
            }
            ProductEvent::ShipmentConfirmed { qty, .. } => {
                level.reserved = level.reserved.saturating_sub(qty);
                level.on_hand = level.on_hand.saturating_sub(qty);
            }
        }
        level.available = level.on_hand.saturating_sub(level.reserved);
        let after = level.available;
        self.low_stock.update(sku, before, after);
    }
}

/// Query side of the view: cheap to clone and share with request handlers.
#[derive(Debug, Clone, Default)]
pub struct StockLevels {
    state: Arc<RwLock<ViewState>>,
}

impl StockLevels {
    /// The stock of `sku`, if the product is known.
    pub fn get(&self, sku: &str) -> Option<StockLevel> {
        self.read(|s| s.levels.get(sku).cloned())
    }

    /// Every product, by sku.
    pub fn all(&self) -> Vec<StockLevel> {
        self.read(|s| s.levels.values().cloned().collect())
    }

    /// Products with fewer than `threshold` available units, fewest first.
    pub fn low_stock(&self, threshold: u64) -> Vec<StockLevel> {
        self.read(|s| {
            s.low_stock
                .below(threshold)
                .into_iter()
                .filter_map(|sku| s.levels.get(sku).cloned())
                .collect()
        })
    }

    fn read<T>(&self, f: impl FnOnce(&ViewState) -> T) -> T {
        f(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The projection feeding [`StockLevels`] from `Product` events.
///
/// Idempotent under redelivery: it remembers the last version applied per product.
#[derive(Debug, Clone, Default)]
pub struct StockLevelProjection {
    view: StockLevels,
    upcasters: Upcasters,
}

impl StockLevelProjection {
    /// Checkpoint name of this projection.
    pub const NAME: &'static str = "inventory-stock-levels";

    /// A projection and its query handle.
    pub fn new() -> (Self, StockLevels) {
        let projection = Self::default();
        let view = projection.view.clone();
        (projection, view)
    }
}

/// A typed projection of the `Product` aggregate: the runner hands it decoded, upcast
/// `ProductEvent`s and passes over other categories.
#[async_trait]
impl TypedProjection for StockLevelProjection {
    type Aggregate = Product;
    type Error = std::convert::Infallible;

    fn name(&self) -> &str {
        Self::NAME
    }

    /// In memory: the stock levels live in this process; rebuilt from the log on start.
    fn persistence(&self) -> Persistence {
        Persistence::InMemory
    }

    fn upcasters(&self) -> &Upcasters {
        &self.upcasters
    }

    async fn apply(
        &mut self,
        event: &ProductEvent,
        envelope: &RecordedEvent,
    ) -> Result<(), Self::Error> {
        let sku = envelope.aggregate_id();
        let mut state = self
            .view
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let seen = state.versions.entry(sku.to_owned()).or_default();
        if envelope.stream_version <= *seen {
            return Ok(()); // redelivered
        }
        *seen = envelope.stream_version;
        state.apply(sku, event.clone());
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), Self::Error> {
        *self
            .view
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner) = ViewState::default();
        Ok(())
    }
}
