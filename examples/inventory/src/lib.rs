//! # inventory: stock that never goes negative, reacting to orders
//!
//! - [`domain`]: the `Product` aggregate (stream per sku: on hand, reservations per order)
//!   and the `OrderAllocation` aggregate (the saga's decision per order, recorded once).
//! - [`saga`]: the fulfilment process manager reacting to the order example's
//!   `OrderPlaced`, `OrderCancelled` and `OrderShipped` events.
//! - [`views`]: stock level per sku and the low-stock list.
//! - [`Inventory`]: commands and queries over any event store; [`InventorySystem`]: the
//!   embedded wiring (in-memory store, in-process delivery); [`InventoryServices`]: the
//!   services wiring (PostgreSQL, Kafka); [`http`]: the axum API.
//!
//! The example's README (`examples/inventory/README.md`) states its rules, its API and how
//! to run it.
#![warn(missing_docs)]

mod app;
pub mod demo;
pub mod domain;
mod embedded;
mod hosted_orders;
pub mod http;
pub mod saga;
pub mod services;
pub mod views;

pub use app::Inventory;
pub use embedded::InventorySystem;
pub use hosted_orders::{HostedOrders, OrderReport};
pub use services::{InventoryServices, ServicesConfig};
