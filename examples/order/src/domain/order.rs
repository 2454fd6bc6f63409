//! The `Order` aggregate: its state, rules and evolution.

use cqrs_core::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::OrderCommand;
use super::events::{OrderEvent, OrderLine};
use super::limits::{check_place, check_reason, FieldError};
use super::money::Cents;

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
    /// A field breaks a limit of [`limits`](super::limits) (line count, quantity, unit
    /// price, a text's length or characters); the error names the field, e.g.
    /// `items[2].unit_price`.
    #[error("invalid order: {0}")]
    Invalid(#[from] FieldError),
    /// The order's total does not fit in `u64` minor units (only an order recorded before
    /// the limits existed can get here; nothing is recorded).
    #[error("order {0}: its total overflows")]
    TotalOverflow(String),
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

impl OrderError {
    /// Every refusal code, as [`code`](Self::code) gives them.
    pub const CODES: [&'static str; 6] = [
        "invalid_order",
        "total_overflow",
        "order_exists",
        "not_found",
        "already_paid",
        "invalid_status",
    ];

    /// The refusal's stable, machine-readable code (also its
    /// [`Aggregate::refusal_code`]): `invalid_order`, `total_overflow`, `order_exists`,
    /// `not_found`, `already_paid` or `invalid_status`.
    pub fn code(&self) -> &'static str {
        match self {
            OrderError::Invalid(_) => "invalid_order",
            OrderError::TotalOverflow(_) => "total_overflow",
            OrderError::AlreadyPlaced(_) => "order_exists",
            OrderError::NotFound(_) => "not_found",
            OrderError::AlreadyPaid(_) => "already_paid",
            OrderError::InvalidStatus { .. } => "invalid_status",
        }
    }
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
    /// True once the inventory confirmed it has reserved the order's stock
    /// ([`OrderCommand::ConfirmOrder`]).
    #[serde(default)]
    pub confirmed: bool,
    /// Why it was cancelled (e.g. `out_of_stock`), once it is.
    #[serde(default)]
    pub cancel_reason: Option<String>,
}

impl Order {
    /// Sum of unit price times quantity over all lines; `None` if it overflows `u64` (only
    /// possible for an order recorded before the limits existed).
    pub fn total(&self) -> Option<Cents> {
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
        check_place(order_id, customer_id, items)?;
        Ok(vec![OrderEvent::OrderPlaced {
            order_id: order_id.to_owned(),
            customer_id: customer_id.to_owned(),
            lines: items.to_vec(),
        }])
    }

    fn pay(&self, order_id: &str) -> Result<Vec<OrderEvent>, OrderError> {
        match self.status {
            OrderStatus::New => Err(OrderError::NotFound(order_id.to_owned())),
            OrderStatus::Placed => {
                let amount = self
                    .total()
                    .ok_or_else(|| OrderError::TotalOverflow(order_id.to_owned()))?;
                Ok(vec![OrderEvent::OrderPaid { amount }])
            }
            OrderStatus::Paid | OrderStatus::Shipped => {
                Err(OrderError::AlreadyPaid(order_id.to_owned()))
            }
            OrderStatus::Cancelled => Err(self.refuse("pay")),
        }
    }

    fn cancel(&self, order_id: &str, reason: &str) -> Result<Vec<OrderEvent>, OrderError> {
        check_reason(reason)?;
        match self.status {
            OrderStatus::New => Err(OrderError::NotFound(order_id.to_owned())),
            OrderStatus::Placed | OrderStatus::Paid => Ok(vec![OrderEvent::OrderCancelled {
                reason: reason.to_owned(),
            }]),
            OrderStatus::Shipped | OrderStatus::Cancelled => Err(self.refuse("cancel")),
        }
    }

    /// Confirming twice is idempotent (no event); a cancelled order cannot be confirmed.
    fn confirm(&self, order_id: &str) -> Result<Vec<OrderEvent>, OrderError> {
        match self.status {
            OrderStatus::New => Err(OrderError::NotFound(order_id.to_owned())),
            OrderStatus::Cancelled => Err(self.refuse("confirm")),
            _ if self.confirmed => Ok(Vec::new()),
            OrderStatus::Placed | OrderStatus::Paid | OrderStatus::Shipped => {
                Ok(vec![OrderEvent::OrderConfirmed])
            }
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

/// Sum of unit price times quantity, checked: `None` if it overflows `u64`.
///
/// ```
/// use order::domain::{line_total, total_of, Cents, OrderLine};
/// let line = |unit_price, quantity| OrderLine {
///     sku: "pen".into(), label: "Pen".into(), unit_price: Cents(unit_price), quantity,
/// };
/// assert_eq!(total_of(&[line(150, 2), line(5000, 1)]), Some(Cents(5300)));
/// assert_eq!(line_total(&line(u64::MAX, 4)), None);
/// assert_eq!(total_of(&[line(u64::MAX / 2, 1), line(u64::MAX / 2, 2)]), None);
/// ```
pub fn total_of(lines: &[OrderLine]) -> Option<Cents> {
    lines.iter().try_fold(Cents(0), |sum, line| {
        sum.0.checked_add(line_total(line)?.0).map(Cents)
    })
}

/// Unit price times quantity, checked: `None` if it overflows `u64`.
pub fn line_total(line: &OrderLine) -> Option<Cents> {
    line.unit_price
        .0
        .checked_mul(u64::from(line.quantity))
        .map(Cents)
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
            OrderCommand::ConfirmOrder { order_id } => self.confirm(order_id),
        }
    }

    /// The codes the HTTP error bodies carry (`"code"`), recorded with a refused command
    /// so that a repeat of its id is answered like the first refusal.
    fn refusal_code(error: &OrderError) -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed(error.code())
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
            OrderEvent::OrderCancelled { reason } => {
                self.status = OrderStatus::Cancelled;
                self.cancel_reason = Some(reason.clone());
            }
            OrderEvent::OrderShipped => self.status = OrderStatus::Shipped,
            OrderEvent::OrderConfirmed => self.confirmed = true,
        }
    }
}
