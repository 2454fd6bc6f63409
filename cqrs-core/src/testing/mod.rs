//! Test support, in one place:
//!
//! - [`kit`]: given/when/then tests of aggregates, without a store ([`given`]), every event
//!   through its stored form;
//! - [`skip_or_fail`]: how a test that needs a service reports its absence;
//! - `contract` (feature `testing`): the store contract suite.
//!
//! With the feature, `run_store_contract` is the one entry point every [`EventStore`](crate::EventStore)
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

#[cfg(feature = "testing")]
pub mod contract;
pub mod kit;
mod scrape;
mod services;

#[cfg(feature = "testing")]
pub use contract::{run_lease_contract, run_store_contract};
pub use kit::{given, given_with_services, through_stored_form, Given, Then};
pub use scrape::scraped;
pub use services::{on_ci, skip_or_fail};
