//! The "ordered items by tier" read model: per customer, per price tier, the items ordered
//! with their total quantity. Cancelled orders' items leave the view.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use cqrs_core::{Persistence, RecordedEvent, TypedProjection, Upcasters};
use serde::Serialize;

use crate::domain::{Cents, Order, OrderEvent, OrderLine, Tier};

/// One item of the view: the same sku at the same price aggregates its quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierItem {
    /// Stock keeping unit.
    pub sku: String,
    /// Label (from the first order that had it).
    pub label: String,
    /// Unit price in minor units.
    pub unit_price: Cents,
    /// Total quantity over the customer's orders that are not cancelled.
    pub quantity: u64,
}

/// The items of one tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierGroup {
    /// The tier.
    pub tier: Tier,
    /// Its items, by sku then price.
    pub items: Vec<TierItem>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct PlacedOrder {
    customer_id: String,
    lines: Vec<OrderLine>,
    cancelled: bool,
}

type ItemsByTier = BTreeMap<Tier, BTreeMap<(String, Cents), TierItem>>;

#[derive(Debug, Clone, Default, PartialEq)]
struct ViewState {
    last_position: u64,
    orders: HashMap<String, PlacedOrder>,
    customers: BTreeMap<String, ItemsByTier>,
}

impl ViewState {
    fn add(&mut self, customer_id: &str, lines: &[OrderLine]) {
        let tiers = self.customers.entry(customer_id.to_owned()).or_default();
        for line in lines {
            let item = tiers
                .entry(Tier::of(line.unit_price))
                .or_default()
                .entry((line.sku.clone(), line.unit_price))
                .or_insert_with(|| TierItem {
                    sku: line.sku.clone(),
                    label: line.label.clone(),
                    unit_price: line.unit_price,
                    quantity: 0,
                });
            item.quantity += u64::from(line.quantity);
        }
    }

    fn remove(&mut self, customer_id: &str, lines: &[OrderLine]) {
        let Some(tiers) = self.customers.get_mut(customer_id) else {
            return;
        };
        for line in lines {
            let tier = Tier::of(line.unit_price);
            let Some(items) = tiers.get_mut(&tier) else {
                continue;
            };
            let key = (line.sku.clone(), line.unit_price);
            if let Some(item) = items.get_mut(&key) {
                item.quantity = item.quantity.saturating_sub(u64::from(line.quantity));
                if item.quantity == 0 {
                    items.remove(&key);
                }
            }
            if items.is_empty() {
                tiers.remove(&tier);
            }
        }
        if tiers.is_empty() {
            self.customers.remove(customer_id);
        }
    }

    fn apply(&mut self, order_id: &str, event: OrderEvent) {
        match event {
            OrderEvent::OrderPlaced {
                order_id: placed_id,
                customer_id,
                lines,
            } => {
                if self.orders.contains_key(&placed_id) {
                    return;
                }
                self.add(&customer_id, &lines);
                self.orders.insert(
                    placed_id,
                    PlacedOrder {
                        customer_id,
                        lines,
                        cancelled: false,
                    },
                );
            }
            OrderEvent::OrderCancelled { .. } => {
                let Some(order) = self.orders.get_mut(order_id) else {
                    return;
                };
                if order.cancelled {
                    return;
                }
                order.cancelled = true;
                let (customer, lines) = (order.customer_id.clone(), order.lines.clone());
                self.remove(&customer, &lines);
            }
            OrderEvent::OrderPaid { .. }
            | OrderEvent::OrderShipped
            | OrderEvent::OrderConfirmed => {}
        }
    }
}

/// Query side of the view: cheap to clone and share with request handlers.
#[derive(Debug, Clone, Default)]
pub struct PriceTiers {
    state: Arc<RwLock<ViewState>>,
}

impl PriceTiers {
    /// A customer's items grouped by tier (cheapest tier first), optionally one tier only.
    /// Tiers without items are included as empty groups.
    pub fn items(&self, customer_id: &str, tier: Option<Tier>) -> Vec<TierGroup> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let tiers = state.customers.get(customer_id);
        Tier::ALL
            .into_iter()
            .filter(|t| tier.is_none_or(|wanted| wanted == *t))
            .map(|t| TierGroup {
                tier: t,
                items: tiers
                    .and_then(|m| m.get(&t))
                    .map(|items| items.values().cloned().collect())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Customer ids present in the view, sorted.
    pub fn customers(&self) -> Vec<String> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.customers.keys().cloned().collect()
    }

    /// The position of the last event applied.
    pub fn last_position(&self) -> u64 {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .last_position
    }

    /// True when both views hold the same items for every customer (used to prove that a
    /// rebuild comes out identical).
    pub fn same_items_as(&self, other: &PriceTiers) -> bool {
        let a = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let b = other.state.read().unwrap_or_else(PoisonError::into_inner);
        a.customers == b.customers
    }
}

/// The projection feeding [`PriceTiers`] from `Order` events.
///
/// Idempotent under redelivery: it remembers the last position applied and skips anything
/// at or below it.
#[derive(Debug, Clone, Default)]
pub struct PriceTierProjection {
    view: PriceTiers,
    upcasters: Upcasters,
}

impl PriceTierProjection {
    /// Checkpoint name of this projection.
    pub const NAME: &'static str = "order-price-tiers";

    /// A projection and its query handle.
    pub fn new() -> (Self, PriceTiers) {
        let projection = Self::default();
        let view = projection.view.clone();
        (projection, view)
    }
}

/// A typed projection of the `Order` aggregate: the runner hands it decoded, upcast
/// `OrderEvent`s and passes over other categories.
#[async_trait]
impl TypedProjection for PriceTierProjection {
    type Aggregate = Order;
    type Error = std::convert::Infallible;

    fn name(&self) -> &str {
        Self::NAME
    }

    /// In memory: the tiers live in this process; rebuilt from the log on start.
    fn persistence(&self) -> Persistence {
        Persistence::InMemory
    }

    fn upcasters(&self) -> &Upcasters {
        &self.upcasters
    }

    async fn apply(
        &mut self,
        event: &OrderEvent,
        envelope: &RecordedEvent,
    ) -> Result<(), Self::Error> {
        let mut state = self
            .view
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if envelope.position <= state.last_position {
            return Ok(()); // redelivered
        }
        state.apply(envelope.aggregate_id(), event.clone());
        state.last_position = envelope.position;
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
