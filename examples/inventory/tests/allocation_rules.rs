//! The OrderAllocation aggregate's rules: a decision is recorded once.

use cqrs_core::testing::given;
use inventory::domain::*;

fn lines() -> Vec<AllocatedLine> {
    vec![AllocatedLine {
        sku: "pen".into(),
        qty: 2,
    }]
}

fn shortage() -> Shortage {
    Shortage {
        sku: "pen".into(),
        requested: 2,
        available: 1,
        detail: "only 1 available".into(),
    }
}

fn confirm() -> AllocationCommand {
    AllocationCommand::Confirm {
        order_id: "o1".into(),
        lines: lines(),
    }
}

fn reject() -> AllocationCommand {
    AllocationCommand::Reject {
        order_id: "o1".into(),
        reason: "out_of_stock".into(),
        shortage: shortage(),
    }
}

fn confirmed() -> AllocationEvent {
    AllocationEvent::OrderConfirmed {
        order_id: "o1".into(),
        lines: lines(),
    }
}

fn rejected() -> AllocationEvent {
    AllocationEvent::OrderRejected {
        order_id: "o1".into(),
        reason: "out_of_stock".into(),
        shortage: shortage(),
    }
}

#[test]
fn a_pending_order_is_confirmed_or_rejected_once() {
    let state = given::<OrderAllocation>([])
        .when(confirm())
        .then_events([confirmed()]);
    assert_eq!(state.status, AllocationStatus::Confirmed);
    let state = given::<OrderAllocation>([])
        .when(reject())
        .then_events([rejected()]);
    assert_eq!(state.status, AllocationStatus::Rejected);
    assert_eq!(state.shortage, Some(shortage()));
}

#[test]
fn the_same_decision_again_is_a_no_op() {
    given::<OrderAllocation>([confirmed()])
        .when(confirm())
        .then_events([]);
    given::<OrderAllocation>([rejected()])
        .when(reject())
        .then_events([]);
}

#[test]
fn a_different_decision_is_refused() {
    given::<OrderAllocation>([rejected()])
        .when(confirm())
        .then_error(AllocationError::AlreadyDecided {
            order_id: "o1".into(),
            status: AllocationStatus::Rejected,
            action: "confirm",
        });
    given::<OrderAllocation>([confirmed()])
        .when(reject())
        .then_error(AllocationError::AlreadyDecided {
            order_id: "o1".into(),
            status: AllocationStatus::Confirmed,
            action: "reject",
        });
}

#[test]
fn only_confirmed_orders_are_released_or_shipped() {
    let release = || AllocationCommand::Release {
        order_id: "o1".into(),
        reason: "customer_request".into(),
    };
    let ship = || AllocationCommand::MarkShipped {
        order_id: "o1".into(),
    };
    given::<OrderAllocation>([confirmed()])
        .when(release())
        .then_events([AllocationEvent::AllocationReleased {
            order_id: "o1".into(),
            reason: "customer_request".into(),
        }]);
    given::<OrderAllocation>([rejected()])
        .when(release())
        .then_events([]);
    given::<OrderAllocation>([confirmed()])
        .when(ship())
        .then_events([AllocationEvent::AllocationShipped {
            order_id: "o1".into(),
        }]);
    given::<OrderAllocation>([rejected()])
        .when(ship())
        .then_error(AllocationError::NotConfirmed {
            order_id: "o1".into(),
            status: AllocationStatus::Rejected,
        });
}
