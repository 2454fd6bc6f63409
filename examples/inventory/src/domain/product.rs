//! The `Product` aggregate: stock on hand and reservations of one sku.
//!
//! Invariant: `reserved() <= on_hand`, so `available() = on_hand - reserved()` is never
//! negative. Every decision that could break it is refused.

use std::collections::{BTreeMap, BTreeSet};

use cqrs_core::Aggregate;

use super::limits::{validate_name, validate_sku, MAX_ON_HAND, MAX_RECEIPT};
use super::product_commands::ProductCommand;
use super::product_events::ProductEvent;

/// Why a product command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    /// The sku or name is not acceptable.
    #[error("invalid {field} for product `{sku}`: {reason}")]
    Invalid {
        /// The sku concerned.
        sku: String,
        /// `sku` or `name`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The product was registered before under another name.
    #[error("product `{sku}` is already registered as `{name}`")]
    AlreadyRegistered {
        /// The sku.
        sku: String,
        /// Its registered name.
        name: String,
    },
    /// The product does not exist.
    #[error("product `{0}` is not registered")]
    NotRegistered(String),
    /// A quantity of zero, or more than one command may move.
    #[error("product `{sku}`: quantity must be 1 to {max}, got {qty}")]
    InvalidQuantity {
        /// The sku.
        sku: String,
        /// The quantity given.
        qty: u64,
        /// The largest accepted.
        max: u64,
    },
    /// The stock on hand would exceed [`MAX_ON_HAND`].
    #[error("product `{sku}`: receiving {qty} would put {on_hand} + {qty} units on hand, over the limit of {MAX_ON_HAND}")]
    TooMuchStock {
        /// The sku.
        sku: String,
        /// Units on hand.
        on_hand: u64,
        /// Units to receive.
        qty: u64,
    },
    /// Not enough units are available for the reservation.
    #[error("product `{sku}`: cannot reserve {requested} for order `{order_id}`, only {available} available")]
    InsufficientStock {
        /// The sku.
        sku: String,
        /// The order.
        order_id: String,
        /// Units requested.
        requested: u64,
        /// Units available.
        available: u64,
    },
    /// The order already holds a reservation of another quantity.
    #[error("product `{sku}`: order `{order_id}` already holds {held} units, cannot reserve {requested}")]
    ReservationMismatch {
        /// The sku.
        sku: String,
        /// The order.
        order_id: String,
        /// Units already held.
        held: u64,
        /// Units requested now.
        requested: u64,
    },
    /// Shipping an order that holds no reservation of this product.
    #[error("product `{sku}`: order `{order_id}` holds no reservation to ship")]
    NoReservation {
        /// The sku.
        sku: String,
        /// The order.
        order_id: String,
    },
}

impl ProductError {
    /// The refusal's stable, machine-readable code, the `"error"` of its HTTP answer (and
    /// its [`Aggregate::refusal_code`]): `invalid_product`, `already_registered`,
    /// `not_found`, `invalid_quantity`, `too_much_stock`, `insufficient_stock`,
    /// `reservation_mismatch` or `no_reservation`.
    pub fn code(&self) -> &'static str {
        match self {
            ProductError::Invalid { .. } => "invalid_product",
            ProductError::AlreadyRegistered { .. } => "already_registered",
            ProductError::NotRegistered(_) => "not_found",
            ProductError::InvalidQuantity { .. } => "invalid_quantity",
            ProductError::TooMuchStock { .. } => "too_much_stock",
            ProductError::InsufficientStock { .. } => "insufficient_stock",
            ProductError::ReservationMismatch { .. } => "reservation_mismatch",
            ProductError::NoReservation { .. } => "no_reservation",
        }
    }
}

/// A product's stock, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Product {
    /// Stock keeping unit (empty until registered).
    pub sku: String,
    /// Display name.
    pub name: String,
    /// Units in the warehouse, reserved or not.
    pub on_hand: u64,
    /// Units held per order id.
    pub reservations: BTreeMap<String, u64>,
    /// Orders whose reservation was shipped (makes shipping idempotent).
    pub shipped: BTreeSet<String>,
}

impl Product {
    /// True once `ProductRegistered` was applied.
    pub fn is_registered(&self) -> bool {
        !self.sku.is_empty()
    }

    /// Units held by reservations.
    pub fn reserved(&self) -> u64 {
        self.reservations.values().sum()
    }

    /// Units that can still be reserved: `on_hand - reserved`, never negative.
    pub fn available(&self) -> u64 {
        self.on_hand.saturating_sub(self.reserved())
    }

    /// The units held for `order_id`, if any.
    pub fn reservation(&self, order_id: &str) -> Option<u64> {
        self.reservations.get(order_id).copied()
    }

    fn register(&self, sku: &str, name: &str) -> Result<Vec<ProductEvent>, ProductError> {
        let invalid = |field, reason| ProductError::Invalid {
            sku: sku.to_owned(),
            field,
            reason,
        };
        validate_sku(sku).map_err(|r| invalid("sku", r))?;
        validate_name(name).map_err(|r| invalid("name", r))?;
        if self.is_registered() {
            return if self.name == name {
                Ok(Vec::new()) // registered again identically: idempotent
            } else {
                Err(ProductError::AlreadyRegistered {
                    sku: sku.to_owned(),
                    name: self.name.clone(),
                })
            };
        }
        Ok(vec![ProductEvent::ProductRegistered {
            sku: sku.to_owned(),
            name: name.to_owned(),
        }])
    }

    fn require_registered(&self, sku: &str) -> Result<(), ProductError> {
        if self.is_registered() {
            Ok(())
        } else {
            Err(ProductError::NotRegistered(sku.to_owned()))
        }
    }

    fn require_quantity(sku: &str, qty: u64, max: u64) -> Result<(), ProductError> {
        if qty == 0 || qty > max {
            return Err(ProductError::InvalidQuantity {
                sku: sku.to_owned(),
                qty,
                max,
            });
        }
        Ok(())
    }

    fn receive(&self, sku: &str, qty: u64) -> Result<Vec<ProductEvent>, ProductError> {
        self.require_registered(sku)?;
        Self::require_quantity(sku, qty, MAX_RECEIPT)?;
        match self.on_hand.checked_add(qty) {
            Some(total) if total <= MAX_ON_HAND => Ok(vec![ProductEvent::StockReceived { qty }]),
            _ => Err(ProductError::TooMuchStock {
                sku: sku.to_owned(),
                on_hand: self.on_hand,
                qty,
            }),
        }
    }

    fn reserve(
        &self,
        sku: &str,
        order_id: &str,
        qty: u64,
    ) -> Result<Vec<ProductEvent>, ProductError> {
        self.require_registered(sku)?;
        Self::require_quantity(sku, qty, MAX_ON_HAND)?;
        match self.reservation(order_id) {
            Some(held) if held == qty => return Ok(Vec::new()), // idempotent
            Some(held) => {
                return Err(ProductError::ReservationMismatch {
                    sku: sku.to_owned(),
                    order_id: order_id.to_owned(),
                    held,
                    requested: qty,
                })
            }
            None => {}
        }
        let available = self.available();
        if qty > available {
            return Err(ProductError::InsufficientStock {
                sku: sku.to_owned(),
                order_id: order_id.to_owned(),
                requested: qty,
                available,
            });
        }
        Ok(vec![ProductEvent::StockReserved {
            order_id: order_id.to_owned(),
            qty,
        }])
    }

    /// Refused only for a product that is not registered; without a reservation there is
    /// nothing to do (a release is idempotent).
    fn release(&self, sku: &str, order_id: &str) -> Result<Vec<ProductEvent>, ProductError> {
        self.require_registered(sku)?;
        Ok(self
            .reservation(order_id)
            .map(|qty| ProductEvent::ReservationReleased {
                order_id: order_id.to_owned(),
                qty,
            })
            .into_iter()
            .collect())
    }

    fn ship(&self, sku: &str, order_id: &str) -> Result<Vec<ProductEvent>, ProductError> {
        self.require_registered(sku)?;
        if self.shipped.contains(order_id) {
            return Ok(Vec::new()); // shipped before: idempotent
        }
        match self.reservation(order_id) {
            Some(qty) => Ok(vec![ProductEvent::ShipmentConfirmed {
                order_id: order_id.to_owned(),
                qty,
            }]),
            None => Err(ProductError::NoReservation {
                sku: sku.to_owned(),
                order_id: order_id.to_owned(),
            }),
        }
    }
}

impl Aggregate for Product {
    const TYPE: &'static str = "Product";
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = ProductError;
    type Services = ();

    async fn handle(
        &self,
        command: &ProductCommand,
        _: &(),
    ) -> Result<Vec<ProductEvent>, ProductError> {
        match command {
            ProductCommand::RegisterProduct { sku, name } => self.register(sku, name),
            ProductCommand::ReceiveStock { sku, qty } => self.receive(sku, *qty),
            ProductCommand::ReserveStock { sku, order_id, qty } => {
                self.reserve(sku, order_id, *qty)
            }
            ProductCommand::ReleaseReservation { sku, order_id } => self.release(sku, order_id),
            ProductCommand::ConfirmShipment { sku, order_id } => self.ship(sku, order_id),
        }
    }

    /// [`ProductError::code`]: recorded with a refused command, so that a repeat of its id
    /// is answered like the first refusal.
    fn refusal_code(error: &ProductError) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(error.code())
    }

    fn apply(&mut self, event: &ProductEvent) {
        match event {
            ProductEvent::ProductRegistered { sku, name } => {
                self.sku.clone_from(sku);
                self.name.clone_from(name);
            }
            ProductEvent::StockReceived { qty } => self.on_hand = self.on_hand.saturating_add(*qty),
            ProductEvent::StockReserved { order_id, qty } => {
                self.reservations.insert(order_id.clone(), *qty);
            }
            ProductEvent::ReservationReleased { order_id, .. } => {
                self.reservations.remove(order_id);
            }
            ProductEvent::ShipmentConfirmed { order_id, qty } => {
                self.reservations.remove(order_id);
                self.on_hand = self.on_hand.saturating_sub(*qty);
                self.shipped.insert(order_id.clone());
            }
        }
    }
}
