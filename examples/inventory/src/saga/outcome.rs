//! What the saga did with one event.

use serde::Serialize;

use crate::domain::{AllocationStatus, Shortage};

/// What the saga did with one event (for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SagaOutcome {
    /// Every line was reserved; the order is confirmed.
    Confirmed {
        /// The order.
        order_id: String,
    },
    /// A line could not be reserved; the order was cancelled with `out_of_stock`.
    Rejected {
        /// The order.
        order_id: String,
        /// The line that failed.
        shortage: Shortage,
    },
    /// The order was decided before (a redelivery): nothing new happened.
    AlreadyDecided {
        /// The order.
        order_id: String,
        /// Its recorded status.
        status: AllocationStatus,
    },
    /// A confirmed order was cancelled; its reservations were released.
    Released {
        /// The order.
        order_id: String,
    },
    /// A confirmed order shipped; its units left the stock.
    Shipped {
        /// The order.
        order_id: String,
    },
    /// The event needs nothing from the inventory.
    Ignored,
}

impl SagaOutcome {
    /// The order was decided before, with `status`.
    pub(crate) fn already(order_id: &str, status: AllocationStatus) -> Self {
        SagaOutcome::AlreadyDecided {
            order_id: order_id.to_owned(),
            status,
        }
    }

    /// The outcome's name, as serialized (`confirmed`, `rejected`, ...): the `outcome` of
    /// the saga's span.
    pub fn label(&self) -> &'static str {
        match self {
            SagaOutcome::Confirmed { .. } => "confirmed",
            SagaOutcome::Rejected { .. } => "rejected",
            SagaOutcome::AlreadyDecided { .. } => "already_decided",
            SagaOutcome::Released { .. } => "released",
            SagaOutcome::Shipped { .. } => "shipped",
            SagaOutcome::Ignored => "ignored",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_is_the_serialized_tag() {
        for outcome in [
            SagaOutcome::Confirmed {
                order_id: "o".into(),
            },
            SagaOutcome::already("o", AllocationStatus::Confirmed),
            SagaOutcome::Released {
                order_id: "o".into(),
            },
            SagaOutcome::Shipped {
                order_id: "o".into(),
            },
            SagaOutcome::Ignored,
        ] {
            let json = serde_json::to_value(&outcome).unwrap();
            assert_eq!(json["outcome"], outcome.label(), "{json}");
        }
    }
}
