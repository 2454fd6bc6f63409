//! The scripted demo: places orders, cancels one, prints each customer's items by tier.

use std::fmt::Write;

use cqrs_core::Event;

use crate::domain::{Cents, OrderCommand, OrderLine};
use crate::OrderSystem;

fn line(sku: &str, label: &str, cents: u64, quantity: u32) -> OrderLine {
    OrderLine {
        sku: sku.into(),
        label: label.into(),
        unit_price: Cents(cents),
        quantity,
    }
}

fn place(order_id: &str, customer_id: &str, items: Vec<OrderLine>) -> OrderCommand {
    OrderCommand::PlaceOrder {
        order_id: order_id.into(),
        customer_id: customer_id.into(),
        items,
    }
}

/// The demo's commands, in order.
pub fn script() -> Vec<OrderCommand> {
    vec![
        place(
            "o-1",
            "alice",
            vec![
                line("pen", "Ballpoint pen", 150, 2),
                line("notebook", "A5 notebook", 500, 1),
                line("book", "Rust book", 1299, 1),
            ],
        ),
        place(
            "o-2",
            "alice",
            vec![
                line("pen", "Ballpoint pen", 150, 3),
                line("lamp", "Desk lamp", 5000, 1),
                line("headphones", "Headphones", 5001, 1),
            ],
        ),
        place(
            "o-3",
            "bob",
            vec![
                line("monitor", "27\" monitor", 19900, 1),
                line("cable", "USB-C cable", 499, 2),
                line("mug", "Mug", 800, 4),
            ],
        ),
        place(
            "o-4",
            "bob",
            vec![
                line("chair", "Office chair", 8900, 1),
                line("mug", "Mug", 800, 2),
            ],
        ),
        OrderCommand::PayOrder {
            order_id: "o-1".into(),
        },
        OrderCommand::ShipOrder {
            order_id: "o-1".into(),
        },
        OrderCommand::CancelOrder {
            order_id: "o-4".into(),
            reason: "customer request".into(),
        },
        // Refused: a cancelled order cannot be paid.
        OrderCommand::PayOrder {
            order_id: "o-4".into(),
        },
    ]
}

/// Runs the script on `system` and returns the printed report.
pub async fn run(system: &OrderSystem) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let mut out = String::new();
    for command in script() {
        match system.execute(command.clone()).await {
            Ok(committed) => {
                let types: Vec<_> = committed.events.iter().map(Event::event_type).collect();
                writeln!(
                    out,
                    "ok       {:<40} -> {}",
                    describe(&command),
                    types.join(", ")
                )?;
            }
            Err(error) if error.is_rejection() => {
                writeln!(out, "refused  {:<40} -> {error}", describe(&command))?
            }
            Err(error) => return Err(error.into()),
        }
    }
    system.settle().await?;
    writeln!(out)?;
    for customer in system.tiers.customers() {
        writeln!(out, "{customer}")?;
        for group in system.tiers.items(&customer, None) {
            writeln!(out, "  {}", group.tier.as_str())?;
            if group.items.is_empty() {
                writeln!(out, "    (none)")?;
            }
            for item in group.items {
                writeln!(
                    out,
                    "    {:<12} {:<16} {:>8} x {}",
                    item.sku,
                    item.label,
                    item.unit_price.to_string(),
                    item.quantity
                )?;
            }
        }
    }
    Ok(out)
}

fn describe(command: &OrderCommand) -> String {
    match command {
        OrderCommand::PlaceOrder {
            order_id,
            customer_id,
            items,
        } => {
            format!("place {order_id} for {customer_id} ({} lines)", items.len())
        }
        OrderCommand::PayOrder { order_id } => format!("pay {order_id}"),
        OrderCommand::CancelOrder { order_id, reason } => format!("cancel {order_id} ({reason})"),
        OrderCommand::ShipOrder { order_id } => format!("ship {order_id}"),
        OrderCommand::ConfirmOrder { order_id } => format!("confirm {order_id}"),
    }
}
