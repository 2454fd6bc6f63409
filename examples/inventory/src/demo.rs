//! The scripted demo: registers products, receives stock, places orders (some cannot be
//! filled), cancels and ships some, then prints order outcomes and stock levels.

use std::fmt::Write;

use order::domain::{Cents, OrderCommand, OrderLine};

use crate::InventorySystem;

type DemoError = Box<dyn std::error::Error + Send + Sync>;

fn line(sku: &str, label: &str, cents: u64, quantity: u32) -> OrderLine {
    OrderLine {
        sku: sku.into(),
        label: label.into(),
        unit_price: Cents(cents),
        quantity,
    }
}

/// Products of the demo: sku, name, units received.
pub const PRODUCTS: [(&str, &str, u64); 4] = [
    ("pen", "Ballpoint pen", 10),
    ("notebook", "A5 notebook", 3),
    ("lamp", "Desk lamp", 1),
    ("mug", "Mug", 0),
];

/// Orders of the demo: order id, customer, lines.
pub fn orders() -> Vec<(&'static str, &'static str, Vec<OrderLine>)> {
    vec![
        (
            "o-1",
            "alice",
            vec![
                line("pen", "Ballpoint pen", 150, 2),
                line("notebook", "A5 notebook", 500, 1),
            ],
        ),
        (
            "o-2",
            "bob",
            vec![
                line("lamp", "Desk lamp", 5000, 1),
                line("pen", "Ballpoint pen", 150, 1),
            ],
        ),
        // The only lamp is reserved for o-2: out of stock.
        ("o-3", "carol", vec![line("lamp", "Desk lamp", 5000, 1)]),
        // Pens and notebooks are there, mugs are not: nothing is kept, the order is cancelled.
        (
            "o-4",
            "dave",
            vec![
                line("notebook", "A5 notebook", 500, 2),
                line("pen", "Ballpoint pen", 150, 3),
                line("mug", "Mug", 800, 1),
            ],
        ),
        (
            "o-5",
            "alice",
            vec![line("notebook", "A5 notebook", 500, 2)],
        ),
    ]
}

/// Runs the scenario on `system` and returns the printed report.
pub async fn run(system: &InventorySystem, low_stock_threshold: u64) -> Result<String, DemoError> {
    let app = &system.app;
    let order_desk = system.orders();
    let mut out = String::new();
    writeln!(out, "== commands")?;
    for (sku, name, qty) in PRODUCTS {
        app.register_product(sku, name).await?;
        writeln!(out, "ok   register {sku} ({name})")?;
        if qty > 0 {
            app.receive_stock(sku, qty).await?;
            writeln!(out, "ok   receive {qty} x {sku}")?;
        }
    }
    for (order_id, customer, lines) in orders() {
        let count = lines.len();
        order_desk.place_order(order_id, customer, lines).await?;
        writeln!(out, "ok   place {order_id} for {customer} ({count} lines)")?;
    }
    system.settle().await?;

    // Bob cancels: the saga releases his lamp and pen. Alice pays and ships o-1: her units
    // leave the stock on hand.
    order_desk.cancel_order("o-2", "customer_request").await?;
    writeln!(out, "ok   cancel o-2 (customer_request)")?;
    let pay = OrderCommand::PayOrder {
        order_id: "o-1".into(),
    };
    let ship = OrderCommand::ShipOrder {
        order_id: "o-1".into(),
    };
    for (described, command) in [("pay o-1", pay), ("ship o-1", ship)] {
        order_desk.order_command(command).await?;
        writeln!(out, "ok   {described}")?;
    }
    system.settle().await?;

    writeln!(out, "\n== orders")?;
    for (order_id, _, _) in orders() {
        let Some(report) = order_desk.order(order_id).await? else {
            continue;
        };
        let status = match &report.cancel_reason {
            Some(reason) => format!("{:?} ({reason})", report.status),
            None => format!("{:?}", report.status),
        };
        let mut decision = format!("{:?}", report.allocation.status);
        if let Some(shortage) = &report.allocation.shortage {
            write!(
                decision,
                ": {} wanted {}, {} available",
                shortage.sku, shortage.requested, shortage.available
            )?;
        }
        writeln!(
            out,
            "{order_id:<5} {:<6} total {:>6}  order {status:<34} inventory {decision}",
            report.customer_id,
            report
                .total
                .map_or_else(|| "overflow".into(), |t| t.to_string()),
        )?;
    }

    writeln!(out, "\n== stock levels")?;
    writeln!(
        out,
        "{:<10} {:<14} {:>7} {:>8} {:>9}",
        "sku", "name", "on hand", "reserved", "available"
    )?;
    for level in app.stock_levels().await? {
        writeln!(
            out,
            "{:<10} {:<14} {:>7} {:>8} {:>9}",
            level.sku, level.name, level.on_hand, level.reserved, level.available
        )?;
    }
    writeln!(out, "\n== low stock (available < {low_stock_threshold})")?;
    for level in app.low_stock(low_stock_threshold).await? {
        writeln!(out, "{:<10} {:>3} available", level.sku, level.available)?;
    }
    Ok(out)
}
