//! # cqrs-postgres
//!
//! A PostgreSQL [`EventStore`](cqrs_core::EventStore) for cqrs-rs, built on sqlx:
//!
//! - optimistic concurrency checked and the whole batch inserted in **one statement**;
//! - a **gap-free global log** for catch-up readers without serializing writers;
//! - **LISTEN/NOTIFY** wake-ups with a fallback poll;
//! - snapshots and checkpoints tables;
//! - appends inside your own **transaction** ([`PgEventStore::begin`]) for inline
//!   projections, and [`TransactionalProjection`]s whose read model and checkpoint commit
//!   together (exactly-once effect);
//! - a configurable schema, so several stores share one database, with versioned
//!   migrations applied by [`PgEventStore::migrate`].
//!
//! ## Quickstart
//! ```no_run
//! use std::sync::Arc;
//! use cqrs_core::{EventStore, Repository};
//! use cqrs_postgres::{PgEventStore, PgEventStoreConfig, SchemaName};
//!
//! # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
//! let config = PgEventStoreConfig::new(SchemaName::new("orders")?).max_connections(16);
//! let store = PgEventStore::connect("postgres://postgres@127.0.0.1:5432/test", config).await?;
//! store.migrate().await?;
//! let store = Arc::new(store);
//! assert_eq!(store.head_position().await?, 0);
//! // let orders = Repository::<Order, _>::new(store.clone()).with_cache(10_000);
//! # Ok(()) }
//! ```
//!
//! See the crate README for the SQL schema and the proof of the gap-free mechanism.
#![warn(missing_docs)]

mod config;
mod error;
mod lease;
mod migrate;
mod position;
mod projection;
mod schema;
mod store;

pub use config::{CoalescingConfig, PgEventStoreConfig, PoolConfig, TcpKeepalive, WakeupConfig};
pub use error::{classify, classify_error, sqlstate_blames_input, sqlstate_kind, SetupError};
pub use projection::{
    RunningTransactionalProjection, TransactionalProjection, TransactionalRunner,
};
pub use schema::{InvalidSchemaName, SchemaName};
pub use store::{PgEventStore, PgTransaction};

/// Re-exported so users name the same sqlx version in their projections.
pub use sqlx;
