//! # cqrs-mongo
//!
//! A MongoDB [`EventStore`](cqrs_core::EventStore) for cqrs-rs, on the official `mongodb`
//! driver: one document per event, appends in multi-document transactions, a dense global
//! position that catch-up readers can follow without ever skipping an event, snapshots,
//! checkpoints, and transactional projections whose read-model writes commit with their
//! checkpoint ([`TransactionalProjection<MongoTransaction>`](TransactionalProjection), run
//! and rebuilt by the [`TransactionalRunner`] every store shares).
//!
//! ## Quickstart
//! ```no_run
//! use std::sync::Arc;
//! use cqrs_core::{EventStore, ExpectedVersion, JsonPayload, Metadata, NewEvent};
//! use cqrs_mongo::{MongoEventStore, MongoEventStoreConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // A replica set is required (a single-node one is enough).
//! let store = MongoEventStore::connect("mongodb://127.0.0.1:27017/?replicaSet=rs0", MongoEventStoreConfig::new("shop")).await?;
//! store.migrate().await?; // collections, unique indexes, position counter; idempotent
//! let store = Arc::new(store);
//!
//! let event = NewEvent::raw("OrderPlaced", 1, JsonPayload::parse(r#"{"total_cents":1250}"#)?);
//! let result = store.append("Order-1", ExpectedVersion::NoStream, vec![event], &Metadata::default()).await?;
//! assert_eq!(result.current_version, 1);
//! let log = store.read_all(1, 100).await?;
//! # Ok(()) }
//! ```
//!
//! ## Guarantees and how they are kept
//! - **Optimistic concurrency, atomic batches**: the expected-version check, the position
//!   allocation and the inserts run in one transaction (snapshot reads, majority commit).
//!   A mismatch is the typed [`Conflict`](cqrs_core::Conflict) with the actual version.
//! - **Idempotency**: event ids have a unique index; a retried batch returns the original
//!   events with `deduplicated: true`, any other reuse is `DuplicateEventId`.
//! - **Gap-free global log**: positions come from `$inc` on one counter document inside the
//!   append transaction. Concurrent appends conflict on it and retry, so positions become
//!   visible strictly in commit order (see `store/append.rs` for the mechanism and its
//!   cost: appends serialize on that document).
//! - **Durability of what readers see**: reads use majority read concern and commits wait
//!   for a majority, so no reader ever sees an event that a failover rolls back.
//! - **Wake-ups**: a change stream on the events collection (resumed after errors) plus a
//!   periodic head poll feed [`subscribe`](cqrs_core::EventStore::subscribe).
//!
//! ## Requirements
//! MongoDB 5.0 or later (payload keys may contain `.` or start with `$`) running as a
//! replica set or sharded cluster. A standalone server is refused with
//! [`SetupError::StandaloneServer`].
//!
//! ## Document layout
//! The event and snapshot documents, and every filter, update and index the store sends,
//! are described in the crate's README (and in `src/codec` and `src/queries.rs`); they are
//! internals, not API.
#![warn(missing_docs)]

mod codec;
mod config;
mod error;
mod lease;
mod projection;
mod queries;
mod store;

pub use config::MongoEventStoreConfig;
pub use error::SetupError;
pub use projection::{
    MongoTransaction, TransactionalProjection, TransactionalRunner, TransactionalStore,
};
pub use store::MongoEventStore;
