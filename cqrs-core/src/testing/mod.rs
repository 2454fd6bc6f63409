//! Test support for store adapters and service-backed tests (feature `testing`).
//!
//! [`run_store_contract`] is the one entry point every [`EventStore`](crate::EventStore)
//! implementation calls from its tests with a factory of fresh, empty stores:
//!
//! ```no_run
//! # async fn doc() {
//! use cqrs_core::InMemoryEventStore;
//! cqrs_core::testing::run_store_contract(|| async { InMemoryEventStore::new() }).await;
//! # }
//! ```
//!
//! It needs a multi-threaded tokio runtime (`#[tokio::test(flavor = "multi_thread")]`):
//! some cases run concurrent writers and readers.

pub mod contract;
mod services;

pub use contract::run_store_contract;
pub use services::{on_ci, skip_or_fail};
