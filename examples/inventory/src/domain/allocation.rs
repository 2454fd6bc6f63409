//! The `OrderAllocation` aggregate: the inventory side's decision about one order.
//!
//! The saga records here, once per order id, whether the order's stock was reserved
//! (confirmed) or not (rejected). A redelivered `OrderPlaced` finds the decision and
//! changes nothing, which gives the saga an exactly-once effect on top of at-least-once
//! delivery.

use cqrs_core::Aggregate;
use serde::Serialize;

use super::allocation_messages::{AllocatedLine, AllocationCommand, AllocationEvent, Shortage};

/// Where an order's allocation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStatus {
    /// The saga has not decided yet.
    #[default]
    Pending,
    /// Every line is reserved.
    Confirmed,
    /// A line could not be reserved; the order was cancelled with `out_of_stock`.
    Rejected,
    /// Confirmed, then the order was cancelled and the stock released.
    Released,
    /// Confirmed, then shipped.
    Shipped,
}

/// Why an allocation command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    /// The order was decided differently before.
    #[error("order `{order_id}` is already {status:?}: cannot {action}")]
    AlreadyDecided {
        /// The order.
        order_id: String,
        /// Its status.
        status: AllocationStatus,
        /// What was attempted.
        action: &'static str,
    },
    /// Only a confirmed order can ship.
    #[error("order `{order_id}` is {status:?}, not confirmed: cannot ship")]
    NotConfirmed {
        /// The order.
        order_id: String,
        /// Its status.
        status: AllocationStatus,
    },
}

/// An order's allocation, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrderAllocation {
    /// Status.
    pub status: AllocationStatus,
    /// Reserved lines (when confirmed).
    pub lines: Vec<AllocatedLine>,
    /// The failing line (when rejected).
    pub shortage: Option<Shortage>,
    /// The rejection or cancellation reason.
    pub reason: Option<String>,
}

impl OrderAllocation {
    fn refuse(&self, order_id: &str, action: &'static str) -> AllocationError {
        AllocationError::AlreadyDecided {
            order_id: order_id.to_owned(),
            status: self.status,
            action,
        }
    }

    fn decide(&self, command: &AllocationCommand) -> Result<Vec<AllocationEvent>, AllocationError> {
        use AllocationStatus as S;
        match (command, self.status) {
            (AllocationCommand::Confirm { order_id, lines }, S::Pending) => {
                Ok(vec![AllocationEvent::OrderConfirmed {
                    order_id: order_id.clone(),
                    lines: lines.clone(),
                }])
            }
            (AllocationCommand::Confirm { .. }, S::Confirmed) => Ok(Vec::new()),
            (AllocationCommand::Confirm { order_id, .. }, _) => {
                Err(self.refuse(order_id, "confirm"))
            }

            (
                AllocationCommand::Reject {
                    order_id,
                    reason,
                    shortage,
                },
                S::Pending,
            ) => Ok(vec![AllocationEvent::OrderRejected {
                order_id: order_id.clone(),
                reason: reason.clone(),
                shortage: shortage.clone(),
            }]),
            (AllocationCommand::Reject { .. }, S::Rejected) => Ok(Vec::new()),
            (AllocationCommand::Reject { order_id, .. }, _) => Err(self.refuse(order_id, "reject")),

            (AllocationCommand::Release { order_id, reason }, S::Confirmed) => {
                Ok(vec![AllocationEvent::AllocationReleased {
                    order_id: order_id.clone(),
                    reason: reason.clone(),
                }])
            }
            (AllocationCommand::Release { order_id, .. }, S::Shipped) => {
                Err(self.refuse(order_id, "release"))
            }
            // Nothing reserved (pending, rejected) or released before: nothing to do.
            (AllocationCommand::Release { .. }, _) => Ok(Vec::new()),

            (AllocationCommand::MarkShipped { order_id }, S::Confirmed) => {
                Ok(vec![AllocationEvent::AllocationShipped {
                    order_id: order_id.clone(),
                }])
            }
            (AllocationCommand::MarkShipped { .. }, S::Shipped) => Ok(Vec::new()),
            (AllocationCommand::MarkShipped { order_id }, status) => {
                Err(AllocationError::NotConfirmed {
                    order_id: order_id.clone(),
                    status,
                })
            }
        }
    }
}

impl Aggregate for OrderAllocation {
    const TYPE: &'static str = "Allocation";
    type Command = AllocationCommand;
    type Event = AllocationEvent;
    type Error = AllocationError;
    type Services = ();

    async fn handle(
        &self,
        command: &AllocationCommand,
        _: &(),
    ) -> Result<Vec<AllocationEvent>, AllocationError> {
        self.decide(command)
    }

    fn apply(&mut self, event: &AllocationEvent) {
        match event {
            AllocationEvent::OrderConfirmed { lines, .. } => {
                self.status = AllocationStatus::Confirmed;
                self.lines.clone_from(lines);
            }
            AllocationEvent::OrderRejected {
                reason, shortage, ..
            } => {
                self.status = AllocationStatus::Rejected;
                self.reason = Some(reason.clone());
                self.shortage = Some(shortage.clone());
            }
            AllocationEvent::AllocationReleased { reason, .. } => {
                self.status = AllocationStatus::Released;
                self.reason = Some(reason.clone());
            }
            AllocationEvent::AllocationShipped { .. } => self.status = AllocationStatus::Shipped,
        }
    }
}
