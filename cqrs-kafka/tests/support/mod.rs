//! Shared by the integration tests: the broker, topics, seeding the store, reading topics.
#![allow(dead_code, unused_imports)] // each test binary uses a different part

pub mod batches;
pub mod broker;
pub mod postgres;
pub mod publish;
pub mod read;
pub mod seed;
pub mod totals;

pub use broker::{broker, create_topics, unique};
pub use read::{copies_by_event_id, read_topics, Received};
pub use seed::append_events;
