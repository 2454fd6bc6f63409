//! The Order aggregate's rules, as given/when/then tests.

use cqrs_core::testing::given;
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
    assert_eq!(state.total(), Some(Cents(500 + 5000 * 1000)));
}

fn invalid(field: &str, reason: &str) -> OrderError {
    OrderError::Invalid(FieldError::new(field, reason))
}

#[test]
fn line_count_quantity_and_price_are_validated() {
    given::<Order>([])
        .when(place(vec![]))
        .then_error(invalid("items", "must have 1 to 100 lines, got 0"));
    given::<Order>([])
        .when(place(vec![line("a", 1, 1); 101]))
        .then_error(invalid("items", "must have 1 to 100 lines, got 101"));
    given::<Order>([])
        .when(place(vec![line("a", 1, 1); 100]))
        .then_events([placed(vec![line("a", 1, 1); 100])]);
    given::<Order>([])
        .when(place(vec![line("a", 1, 1), line("b", 1, 0)]))
        .then_error(invalid("items[1].quantity", "must be 1 to 1000, got 0"));
    given::<Order>([])
        .when(place(vec![line("a", 1, 1001)]))
        .then_error(invalid("items[0].quantity", "must be 1 to 1000, got 1001"));
    given::<Order>([])
        .when(place(vec![line("a", 0, 1)]))
        .then_error(invalid(
            "items[0].unit_price",
            "must be 1 to 100000000 minor units, got 0",
        ));
    given::<Order>([])
        .when(place(vec![line(" ", 10, 1)]))
        .then_error(invalid(
            "items[0].sku",
            "must not be empty or only whitespace",
        ));
}

#[test]
fn an_overflowing_price_is_refused_naming_the_line_before_anything_is_recorded() {
    let refused =
        given::<Order>([]).when(place(vec![line("a", 10, 1), line("b", i64::MAX as u64, 4)]));
    refused.then_error(invalid(
        "items[1].unit_price",
        "must be 1 to 100000000 minor units, got 9223372036854775807",
    ));
    given::<Order>([])
        .when(place(vec![
            line("a", MAX_UNIT_PRICE, MAX_QUANTITY);
            MAX_LINES
        ]))
        .then_events([placed(vec![
            line("a", MAX_UNIT_PRICE, MAX_QUANTITY);
            MAX_LINES
        ])]);
}

#[test]
fn nul_and_control_characters_and_overlong_texts_are_refused_naming_the_field() {
    let with = |sku: &str, label: &str| OrderLine {
        sku: sku.into(),
        label: label.into(),
        unit_price: Cents(100),
        quantity: 1,
    };
    let field_of = |command: OrderCommand| {
        let order = Order::default();
        let error = futures_block_on(cqrs_core::Aggregate::handle(&order, &command, &()));
        match error {
            Err(OrderError::Invalid(field)) => field.field,
            other => panic!("expected a refusal naming a field, got {other:?}"),
        }
    };
    assert_eq!(field_of(place(vec![with("a\0b", "Pen")])), "items[0].sku");
    assert_eq!(
        field_of(place(vec![with("pen", "Pen\u{1b}[31m")])),
        "items[0].label"
    );
    assert_eq!(
        field_of(place(vec![with("pen", &"x".repeat(1_040_000))])),
        "items[0].label"
    );
    assert_eq!(
        field_of(place(vec![with(&"s".repeat(65), "Pen")])),
        "items[0].sku"
    );
    let bad_customer = OrderCommand::PlaceOrder {
        order_id: "o1".into(),
        customer_id: "c\n1".into(),
        items: vec![with("pen", "Pen")],
    };
    assert_eq!(field_of(bad_customer), "customer_id");
    given::<Order>([placed(vec![line("a", 500, 1)])])
        .when(OrderCommand::CancelOrder {
            order_id: "o1".into(),
            reason: "changed\0mind".into(),
        })
        .then_error(invalid(
            "reason",
            "must not contain control characters (NUL, newline, tab, ...)",
        ));
}

#[test]
fn paying_an_order_whose_total_overflows_is_refused_not_wrapped() {
    // An order recorded before the limits existed (or by another producer).
    let huge = vec![line("a", u64::MAX / 2, 3)];
    given::<Order>([placed(huge)])
        .when(pay())
        .then_error(OrderError::TotalOverflow("o1".into()));
    assert_eq!(total_of(&[line("a", u64::MAX, 2)]), None);
}

fn futures_block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
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
