//! # order: online ordering with a price-tier read model
//!
//! The `Order` aggregate ([`domain`]) and the "ordered items by tier" read model
//! ([`views`]), wired on the embedded in-memory store by [`OrderSystem`]. The example's
//! README (`examples/order/README.md`) states its rules, its API and how to run it.
#![warn(missing_docs)]

pub mod demo;
pub mod domain;
mod embedded;
pub mod http;
pub mod services;
pub mod views;

pub use embedded::OrderSystem;
pub use services::{OrderServices, ServicesConfig};
