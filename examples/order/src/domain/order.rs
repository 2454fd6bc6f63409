//! The `Order` aggregate: its state, rules and evolution.

use cqrs_core::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::OrderCommand;
use super::events::{OrderEvent, OrderLine};
use super::money::Cents;

/// Most lines in one order.
pub const MAX_LINES: usize = 100;
/// Most units of one line.
pub const MAX_QUANTITY: u32 = 1000;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Not placed yet.
    #[default]
    New,
    /// Placed, awaiting payment.
    Placed,
    /// Paid, awaiting shipment.
    Paid,
    /// Shipped (final).
    Shipped,
    /// Cancelled (final).
    Cancelled,
}

/// Why an order command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// The order must have 1..=100 lines.
    #[error("an order needs 1 to {MAX_LINES} lines, got {0}")]
    LineCount(usize),
    /// A quantity outside 1..=1000.
    #[error("line {line}: quantity must be 1 to {MAX_QUANTITY}, got {quantity}")]
    Quantity {
        /// 0-based line index.
        line: usize,
        /// The quantity given.
        quantity: u32,
    },
    /// A unit price of zero.
    #[error("line {line}: unit price must be greater than 0")]
    Price {
        /// 0-based line index.
        line: usize,
    },
    /// A sku or label that is empty.
    #[error("line {line}: sku and label must not be empty")]
    EmptyText {
        /// 0-based line index.
        line: usize,
    },
    /// Another order already has this id.
    #[error("order {0} already exists with other contents")]
    AlreadyPlaced(String),
    /// The order does not exist.
    #[error("order {0} does not exist")]
    NotFound(String),
    /// Paying an order that is already paid.
    #[error("order {0} is already paid")]
    AlreadyPaid(String),
    /// The operation is not allowed in the order's status.
    #[error("order {order_id} is {status:?}: cannot {action}")]
    InvalidStatus {
        /// Order id.
        order_id: String,
        /// Its status.
        status: OrderStatus,
        /// What was attempted.
        action: &'static str,
    },
}

/// An order's state, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Order id (empty until placed).
    pub order_id: String,
    /// Customer id.
    pub customer_id: String,
    /// Lines.
    pub lines: Vec<OrderLine>,
    /// Status.
    pub status: OrderStatus,
}

impl Order {
    /// Sum of unit price times quantity over all lines.
    pub fn total(&self) -> Cents {
        total_of(&self.lines)
    }

    fn refuse(&self, action: &'static str) -> OrderError {
        OrderError::InvalidStatus {
            order_id: self.order_id.clone(),
            status: self.status,
            action,
        }
    }

    fn place(
        &self,
        order_id: &str,
        customer_id: &str,
        items: &[OrderLine],
    ) -> Result<Vec<OrderEvent>, OrderError> {
        if self.status != OrderStatus::New {
            return if self.customer_id == customer_id && self.lines == items {
                Ok(Vec::new()) // the same order placed again: idempotent
            } else {
                Err(OrderError::AlreadyPlaced(order_id.to_owned()))
            };
        }
        validate_lines(items)?;
        Ok(vec![OrderEvent::OrderPlaced {
            order_id: order_id.to_owned(),
            customer_id: customer_id.to_owned(),
            lines: items.to_vec(),
        }])
    }

    fn pay(&self, order_id: &str) -> Result<Vec<OrderEvent>, OrderError> {
        match self.status {
            OrderStatus::New => Err(OrderError::NotFound(order_id.to_owned())),
            OrderStatus::Placed => Ok(vec![OrderEvent::OrderPaid {
                amount: self.total(),
            }]),
            OrderStatus::Paid | OrderStatus::Shipped => {
                Err(OrderError::AlreadyPaid(order_id.to_owned()))
            }
            OrderStatus::Cancelled => Err(self.refuse("pay")),
        }
    }

    fn cancel(&self, order_id: &str, reason: &str) -> Result<Vec<OrderEvent>, OrderError> {
        match self.status {
            OrderStatus::New => Err(OrderError::NotFound(order_id.to_owned())),
            OrderStatus::Placed | OrderStatus::Paid => Ok(vec![OrderEvent::OrderCancelled {
                reason: reason.to_owned(),
            }]),
            OrderStatus::Shipped | OrderStatus::Cancelled => Err(self.refuse("cancel")),
        }
    }

    fn ship(&self, order_id: &str) -> Result<Vec<OrderEvent>, OrderError> {
        match self.status {
            OrderStatus::New => Err(OrderError::NotFound(order_id.to_owned())),
            OrderStatus::Paid => Ok(vec![OrderEvent::OrderShipped]),
            OrderStatus::Placed | OrderStatus::Shipped | OrderStatus::Cancelled => {
                Err(self.refuse("ship"))
            }
        }
    }
}

/// Sum of unit price times quantity.
pub fn total_of(lines: &[OrderLine]) -> Cents {
    Cents(
        lines
            .iter()
            .map(|l| l.unit_price.0 * u64::from(l.quantity))
            .sum(),
    )
}

fn validate_lines(items: &[OrderLine]) -> Result<(), OrderError> {
    if items.is_empty() || items.len() > MAX_LINES {
        return Err(OrderError::LineCount(items.len()));
    }
    for (line, item) in items.iter().enumerate() {
        if item.quantity == 0 || item.quantity > MAX_QUANTITY {
            return Err(OrderError::Quantity {
                line,
                quantity: item.quantity,
            });
        }
        if item.unit_price.0 == 0 {
            return Err(OrderError::Price { line });
        }
        if item.sku.trim().is_empty() || item.label.trim().is_empty() {
            return Err(OrderError::EmptyText { line });
        }
    }
    Ok(())
}

impl Aggregate for Order {
    const TYPE: &'static str = "Order";
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    type Services = ();

    async fn handle(&self, command: &OrderCommand, _: &()) -> Result<Vec<OrderEvent>, OrderError> {
        match command {
            OrderCommand::PlaceOrder {
                order_id,
                customer_id,
                items,
            } => self.place(order_id, customer_id, items),
            OrderCommand::PayOrder { order_id } => self.pay(order_id),
            OrderCommand::CancelOrder { order_id, reason } => self.cancel(order_id, reason),
            OrderCommand::ShipOrder { order_id } => self.ship(order_id),
        }
    }

    fn apply(&mut self, event: &OrderEvent) {
        match event {
            OrderEvent::OrderPlaced {
                order_id,
                customer_id,
                lines,
            } => {
                self.order_id.clone_from(order_id);
                self.customer_id.clone_from(customer_id);
                self.lines.clone_from(lines);
                self.status = OrderStatus::Placed;
            }
            OrderEvent::OrderPaid { .. } => self.status = OrderStatus::Paid,
            OrderEvent::OrderCancelled { .. } => self.status = OrderStatus::Cancelled,
            OrderEvent::OrderShipped => self.status = OrderStatus::Shipped,
        }
    }
}
