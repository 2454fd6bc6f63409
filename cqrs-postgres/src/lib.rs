//! # cqrs-postgres
//!
//! A PostgreSQL [`EventStore`](cqrs_core::EventStore) for cqrs-rs, built on sqlx:
//!
//! - optimistic concurrency checked and the whole batch inserted in **one statement**;
//! - a **gap-free global log** for catch-up readers without serializing writers;
//! - **LISTEN/NOTIFY** wake-ups with a fallback poll;
//! - snapshots and checkpoints tables, and the refusals of commands by command id
//!   (idempotent commands, `cqrs_core::store::commands`);
//! - appends inside your own **transaction** ([`PgEventStore::begin`]) for inline
//!   projections, and [`TransactionalProjection`]s whose read model and checkpoint commit
//!   together (exactly-once effect), run and rebuilt by the [`TransactionalRunner`] (see
//!   the [`TransactionalStore`] implementation of [`PgEventStore`]);
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
//! ## Transactional projections
//! A read model in the store's database, written in the transaction that advances its
//! checkpoint: after any crash, each committed event has been applied exactly once. It
//! implements [`TransactionalProjection<PgConnection>`](TransactionalProjection) (`reset`
//! clears it for a rebuild) and runs on a [`TransactionalRunner`], the same runner as for
//! every store (see [`cqrs_core::projection::transactional`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use async_trait::async_trait;
//! use cqrs_core::RecordedEvent;
//! use cqrs_postgres::sqlx::{self, PgConnection};
//! use cqrs_postgres::{PgEventStore, TransactionalProjection, TransactionalRunner};
//!
//! struct EventsPerStream;
//!
//! #[async_trait]
//! impl TransactionalProjection<PgConnection> for EventsPerStream {
//!     type Error = sqlx::Error;
//!     fn name(&self) -> &str { "events-per-stream" }
//!     async fn apply(&mut self, event: &RecordedEvent, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
//!         sqlx::query(
//!             "INSERT INTO events_per_stream (stream_id, events) VALUES ($1, 1)
//!              ON CONFLICT (stream_id) DO UPDATE SET events = events_per_stream.events + 1",
//!         )
//!         .bind(&*event.stream_id)
//!         .execute(connection)
//!         .await?;
//!         Ok(())
//!     }
//!     async fn reset(&mut self, connection: &mut PgConnection) -> Result<(), sqlx::Error> {
//!         sqlx::query("DELETE FROM events_per_stream").execute(connection).await?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn doc(store: PgEventStore) -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(store);
//! // Once, to rebuild the view from the whole log:
//! TransactionalRunner::new(store.clone(), EventsPerStream).rebuild().await?;
//! let running = TransactionalRunner::new(store, EventsPerStream).spawn();
//! // ... on shutdown, the projection comes back:
//! let _projection = running.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! ## Several replicas
//! Spawn the runner with a lease in every replica: one works, the others stand by and take
//! over within `ttl + retry_every` when it dies. The lease lives in the schema's `leases`
//! table (expiry by the database clock); each batch checks it in its transaction before
//! the commit (`FOR SHARE` on the lease row), so an instance that lost it cannot commit.
//! See [`cqrs_core::projection`](cqrs_core::projection#several-replicas).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use cqrs_core::lease::LeaseConfig;
//! # use cqrs_postgres::{PgEventStore, TransactionalProjection, TransactionalRunner};
//! # fn doc<P: TransactionalProjection<cqrs_postgres::sqlx::PgConnection>>(store: PgEventStore, projection: P) {
//! let running = TransactionalRunner::new(Arc::new(store), projection)
//!     .with_lease(LeaseConfig::default()) // ttl 5 s, renewed and retried every 1.7 s
//!     .spawn();
//! // running.progress().role: Leader in one replica, Standby in the others.
//! # }
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
pub use migrate::lock_schema_migrations;
pub use projection::{TransactionalProjection, TransactionalRunner, TransactionalStore};
pub use schema::{InvalidSchemaName, SchemaName};
pub use store::{PgEventStore, PgTransaction};

/// Re-exported so users name the same sqlx version in their projections.
pub use sqlx;
