//! The Product aggregate's rules, as given/when/then tests.

use cqrs_core::testing::given;
use inventory::domain::*;

fn registered() -> ProductEvent {
    ProductEvent::ProductRegistered {
        sku: "pen".into(),
        name: "Pen".into(),
    }
}

fn received(qty: u64) -> ProductEvent {
    ProductEvent::StockReceived { qty }
}

fn reserved(order_id: &str, qty: u64) -> ProductEvent {
    ProductEvent::StockReserved {
        order_id: order_id.into(),
        qty,
    }
}

fn reserve(order_id: &str, qty: u64) -> ProductCommand {
    ProductCommand::ReserveStock {
        sku: "pen".into(),
        order_id: order_id.into(),
        qty,
    }
}

fn release(order_id: &str) -> ProductCommand {
    ProductCommand::ReleaseReservation {
        sku: "pen".into(),
        order_id: order_id.into(),
    }
}

fn ship(order_id: &str) -> ProductCommand {
    ProductCommand::ConfirmShipment {
        sku: "pen".into(),
        order_id: order_id.into(),
    }
}

#[test]
fn registering_a_product_records_it_and_again_identically_is_idempotent() {
    let register = || ProductCommand::RegisterProduct {
        sku: "pen".into(),
        name: "Pen".into(),
    };
    let state = given::<Product>([])
        .when(register())
        .then_events([registered()]);
    assert!(state.is_registered());
    given::<Product>([registered()])
        .when(register())
        .then_events([]);
}

#[test]
fn registering_a_sku_under_another_name_is_refused() {
    given::<Product>([registered()])
        .when(ProductCommand::RegisterProduct {
            sku: "pen".into(),
            name: "Other".into(),
        })
        .then_error(ProductError::AlreadyRegistered {
            sku: "pen".into(),
            name: "Pen".into(),
        });
}

#[test]
fn invalid_skus_and_names_are_refused() {
    for (sku, name, field) in [
        ("", "Pen", "sku"),
        ("a b", "Pen", "sku"),
        ("pen", "  ", "name"),
    ] {
        given::<Product>([])
            .when(ProductCommand::RegisterProduct {
                sku: sku.into(),
                name: name.into(),
            })
            .then_error_matches(
                field,
                |e| matches!(e, ProductError::Invalid { field: f, .. } if *f == field),
            );
    }
}

#[test]
fn stock_is_received_only_for_registered_products_and_in_range() {
    given::<Product>([])
        .when(ProductCommand::ReceiveStock {
            sku: "pen".into(),
            qty: 5,
        })
        .then_error(ProductError::NotRegistered("pen".into()));
    for qty in [0, MAX_RECEIPT + 1] {
        given::<Product>([registered()])
            .when(ProductCommand::ReceiveStock {
                sku: "pen".into(),
                qty,
            })
            .then_error(ProductError::InvalidQuantity {
                sku: "pen".into(),
                qty,
                max: MAX_RECEIPT,
            });
    }
    let state = given::<Product>([registered()])
        .when(ProductCommand::ReceiveStock {
            sku: "pen".into(),
            qty: 7,
        })
        .then_events([received(7)]);
    assert_eq!((state.on_hand, state.available()), (7, 7));
}

#[test]
fn stock_on_hand_never_exceeds_its_limit() {
    let history: Vec<_> = std::iter::once(registered())
        .chain((0..MAX_ON_HAND / MAX_RECEIPT).map(|_| received(MAX_RECEIPT)))
        .collect();
    given::<Product>(history)
        .when(ProductCommand::ReceiveStock {
            sku: "pen".into(),
            qty: 1,
        })
        .then_error(ProductError::TooMuchStock {
            sku: "pen".into(),
            on_hand: MAX_ON_HAND,
            qty: 1,
        });
}

#[test]
fn reserving_within_available_stock_holds_the_units() {
    let state = given::<Product>([registered(), received(5)])
        .when(reserve("o1", 3))
        .then_events([reserved("o1", 3)]);
    assert_eq!(
        (state.on_hand, state.reserved(), state.available()),
        (5, 3, 2)
    );
}

#[test]
fn reserving_more_than_available_is_refused_so_available_never_goes_negative() {
    given::<Product>([registered(), received(5), reserved("o1", 3)])
        .when(reserve("o2", 3))
        .then_error(ProductError::InsufficientStock {
            sku: "pen".into(),
            order_id: "o2".into(),
            requested: 3,
            available: 2,
        });
}

#[test]
fn reserving_for_the_same_order_again_is_idempotent() {
    let state = given::<Product>([registered(), received(5), reserved("o1", 5)])
        .when(reserve("o1", 5))
        .then_events([]);
    assert_eq!(state.reserved(), 5);
}

#[test]
fn reserving_another_quantity_for_the_same_order_is_refused() {
    given::<Product>([registered(), received(5), reserved("o1", 2)])
        .when(reserve("o1", 3))
        .then_error(ProductError::ReservationMismatch {
            sku: "pen".into(),
            order_id: "o1".into(),
            held: 2,
            requested: 3,
        });
}

#[test]
fn reserving_an_unregistered_product_or_zero_units_is_refused() {
    given::<Product>([])
        .when(reserve("o1", 1))
        .then_error(ProductError::NotRegistered("pen".into()));
    given::<Product>([registered(), received(5)])
        .when(reserve("o1", 0))
        .then_error_matches("invalid quantity", |e| {
            matches!(e, ProductError::InvalidQuantity { qty: 0, .. })
        });
}

#[test]
fn releasing_a_reservation_makes_its_units_available_again() {
    let state = given::<Product>([registered(), received(5), reserved("o1", 4)])
        .when(release("o1"))
        .then_events([ProductEvent::ReservationReleased {
            order_id: "o1".into(),
            qty: 4,
        }]);
    assert_eq!((state.reserved(), state.available()), (0, 5));
}

#[test]
fn releasing_an_unknown_reservation_is_a_no_op_not_an_error() {
    given::<Product>([registered(), received(5)])
        .when(release("never-reserved"))
        .then_events([]);
}

#[test]
fn releasing_on_a_product_that_does_not_exist_is_refused_as_not_registered() {
    given::<Product>([])
        .when(release("o1"))
        .then_error(ProductError::NotRegistered("pen".into()));
}

#[test]
fn confirming_a_shipment_removes_the_units_from_stock_and_is_idempotent() {
    let shipped = ProductEvent::ShipmentConfirmed {
        order_id: "o1".into(),
        qty: 2,
    };
    let state = given::<Product>([registered(), received(5), reserved("o1", 2)])
        .when(ship("o1"))
        .then_events([shipped.clone()]);
    assert_eq!(
        (state.on_hand, state.reserved(), state.available()),
        (3, 0, 3)
    );
    given::<Product>([registered(), received(5), reserved("o1", 2), shipped])
        .when(ship("o1"))
        .then_events([]);
}

#[test]
fn shipping_without_a_reservation_is_refused() {
    given::<Product>([registered(), received(5)])
        .when(ship("o1"))
        .then_error(ProductError::NoReservation {
            sku: "pen".into(),
            order_id: "o1".into(),
        });
}
