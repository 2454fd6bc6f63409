//! The Order aggregate's rules, as given/when/then tests.

use cqrs_core::test_kit::given;
use order::domain::*;

fn line(sku: &str, cents: u64, quantity: u32) -> OrderLine {
    OrderLine {
        sku: sku.into(),
        label: format!("{sku} label"),
        unit_price: Cents(cents),
        quantity,
    }
}

fn placed(lines: Vec<OrderLine>) -> OrderEvent {
    OrderEvent::OrderPlaced {
        order_id: "o1".into(),
        customer_id: "c1".into(),
        lines,
    }
}

fn place(lines: Vec<OrderLine>) -> OrderCommand {
    OrderCommand::PlaceOrder {
        order_id: "o1".into(),
        customer_id: "c1".into(),
        items: lines,
    }
}

fn pay() -> OrderCommand {
    OrderCommand::PayOrder {
        order_id: "o1".into(),
    }
}

fn cancel() -> OrderCommand {
    OrderCommand::CancelOrder {
        order_id: "o1".into(),
        reason: "out_of_stock".into(),
    }
}

fn ship() -> OrderCommand {
    OrderCommand::ShipOrder {
        order_id: "o1".into(),
    }
}

#[test]
fn placing_a_valid_order_records_it() {
    let lines = vec![line("a", 500, 1), line("b", 5000, 1000)];
    let state = given::<Order>([])
        .when(place(lines.clone()))
        .then_events([placed(lines)]);
    assert_eq!(state.status, OrderStatus::Placed);
    assert_eq!(state.total(), Cents(500 + 5000 * 1000));
}

#[test]
fn line_count_quantity_and_price_are_validated() {
    given::<Order>([])
        .when(place(vec![]))
        .then_error(OrderError::LineCount(0));
    given::<Order>([])
        .when(place(vec![line("a", 1, 1); 101]))
        .then_error(OrderError::LineCount(101));
    given::<Order>([])
        .when(place(vec![line("a", 1, 1); 100]))
        .then_events([placed(vec![line("a", 1, 1); 100])]);
    given::<Order>([])
        .when(place(vec![line("a", 1, 1), line("b", 1, 0)]))
        .then_error(OrderError::Quantity {
            line: 1,
            quantity: 0,
        });
    given::<Order>([])
        .when(place(vec![line("a", 1, 1001)]))
        .then_error(OrderError::Quantity {
            line: 0,
            quantity: 1001,
        });
    given::<Order>([])
        .when(place(vec![line("a", 0, 1)]))
        .then_error(OrderError::Price { line: 0 });
    given::<Order>([])
        .when(place(vec![line(" ", 10, 1)]))
        .then_error(OrderError::EmptyText { line: 0 });
}

#[test]
fn placing_the_same_order_again_is_idempotent_and_a_different_one_refused() {
    let lines = vec![line("a", 500, 1)];
    given::<Order>([placed(lines.clone())])
        .when(place(lines))
        .then_events([]);
    given::<Order>([placed(vec![line("a", 500, 1)])])
        .when(place(vec![line("a", 500, 2)]))
        .then_error(OrderError::AlreadyPlaced("o1".into()));
}

#[test]
fn paying_records_the_total_once() {
    let lines = vec![line("a", 250, 4)];
    given::<Order>([placed(lines.clone())])
        .when(pay())
        .then_events([OrderEvent::OrderPaid {
            amount: Cents(1000),
        }]);
    given::<Order>([
        placed(lines),
        OrderEvent::OrderPaid {
            amount: Cents(1000),
        },
    ])
    .when(pay())
    .then_error(OrderError::AlreadyPaid("o1".into()));
    given::<Order>([])
        .when(pay())
        .then_error(OrderError::NotFound("o1".into()));
}

#[test]
fn a_cancelled_order_cannot_be_paid_or_shipped() {
    let history = || {
        [
            placed(vec![line("a", 1, 1)]),
            OrderEvent::OrderCancelled { reason: "x".into() },
        ]
    };
    for command in [pay(), ship(), cancel()] {
        given::<Order>(history()).when(command).then_error_matches(
            "InvalidStatus(Cancelled)",
            |e| {
                matches!(
                    e,
                    OrderError::InvalidStatus {
                        status: OrderStatus::Cancelled,
                        ..
                    }
                )
            },
        );
    }
}

#[test]
fn a_shipped_order_cannot_be_cancelled_and_only_paid_orders_ship() {
    let paid = || {
        [
            placed(vec![line("a", 1, 1)]),
            OrderEvent::OrderPaid { amount: Cents(1) },
        ]
    };
    given::<Order>(paid())
        .when(ship())
        .then_events([OrderEvent::OrderShipped]);
    let shipped = [
        placed(vec![line("a", 1, 1)]),
        OrderEvent::OrderPaid { amount: Cents(1) },
        OrderEvent::OrderShipped,
    ];
    given::<Order>(shipped)
        .when(cancel())
        .then_error_matches("InvalidStatus(Shipped)", |e| {
            matches!(
                e,
                OrderError::InvalidStatus {
                    status: OrderStatus::Shipped,
                    ..
                }
            )
        });
    given::<Order>([placed(vec![line("a", 1, 1)])])
        .when(ship())
        .then_error_matches("InvalidStatus(Placed)", |e| {
            matches!(
                e,
                OrderError::InvalidStatus {
                    status: OrderStatus::Placed,
                    ..
                }
            )
        });
    given::<Order>(paid())
        .when(cancel())
        .then_events([OrderEvent::OrderCancelled {
            reason: "out_of_stock".into(),
        }]);
}
