//! # cqrs-core
//!
//! The foundation of cqrs-rs: the [`Aggregate`], [`Command`], [`Event`], [`EventStore`] and
//! [`Projection`] traits; the command pipeline ([`Repository`]); the in-memory store
//! ([`InMemoryEventStore`]); snapshots, upcasting, metadata; the [`ProjectionRunner`] and,
//! for read models written in the transaction that advances their checkpoint, the
//! [`TransactionalRunner`] the store adapters plug into; a given/when/then
//! [`testing::kit`]; and (feature `testing`) the store contract suite every store adapter
//! runs.
//!
//! Durable projections (and relays) run safely in several replicas under a [`lease`]: one
//! instance works, the others stand by and take over when it dies, and fencing tokens keep
//! a deposed instance from storing a checkpoint or committing a batch (see
//! [`projection`](crate::projection#several-replicas)).
//!
//! ## Quickstart
//! ```
//! use std::sync::Arc;
//! use cqrs_core::{Aggregate, Command, Event, InMemoryEventStore, Repository};
//! use serde::{Deserialize, Serialize};
//!
//! // Stored as `Deposited` / `Withdrawn` with the variant's fields as the payload.
//! #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
//! enum AccountEvent { Deposited { cents: i64 }, Withdrawn { cents: i64 } }
//!
//! enum AccountCommand { Deposit { id: String, cents: i64 }, Withdraw { id: String, cents: i64 } }
//! impl Command for AccountCommand {
//!     fn aggregate_id(&self) -> &str {
//!         match self { Self::Deposit { id, .. } | Self::Withdraw { id, .. } => id }
//!     }
//! }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("insufficient funds: balance {balance}, wanted {wanted}")]
//! struct InsufficientFunds { balance: i64, wanted: i64 }
//!
//! #[derive(Default)]
//! struct Account { balance: i64 }
//! impl Aggregate for Account {
//!     const TYPE: &'static str = "Account";
//!     type Command = AccountCommand;
//!     type Event = AccountEvent;
//!     type Error = InsufficientFunds;
//!     type Services = ();
//!     async fn handle(&self, cmd: &AccountCommand, _: &()) -> Result<Vec<AccountEvent>, InsufficientFunds> {
//!         match *cmd {
//!             AccountCommand::Deposit { cents, .. } => Ok(vec![AccountEvent::Deposited { cents }]),
//!             AccountCommand::Withdraw { cents, .. } if cents > self.balance =>
//!                 Err(InsufficientFunds { balance: self.balance, wanted: cents }),
//!             AccountCommand::Withdraw { cents, .. } => Ok(vec![AccountEvent::Withdrawn { cents }]),
//!         }
//!     }
//!     fn apply(&mut self, event: &AccountEvent) {
//!         match event {
//!             AccountEvent::Deposited { cents } => self.balance += cents,
//!             AccountEvent::Withdrawn { cents } => self.balance -= cents,
//!         }
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let accounts = Repository::<Account, _>::new(Arc::new(InMemoryEventStore::new()));
//! let committed = accounts.execute(AccountCommand::Deposit { id: "a1".into(), cents: 500 }).await.unwrap();
//! assert_eq!(committed.events, vec![AccountEvent::Deposited { cents: 500 }]);
//! let refused = accounts.execute(AccountCommand::Withdraw { id: "a1".into(), cents: 900 }).await;
//! assert!(refused.unwrap_err().is_rejection());
//! assert_eq!(accounts.load("a1").await.unwrap().state.balance, 500);
//! # });
//! ```
#![warn(missing_docs)]

// The derive's generated code names `::cqrs_core`, also inside this crate's own tests.
extern crate self as cqrs_core;

/// What the derive's generated code uses. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
}

mod aggregate;
pub mod command;
mod envelope;
mod error;
mod event;
mod failure;
pub mod lease;
pub mod projection;
mod snapshot;
pub mod store;
pub mod telemetry;
pub mod testing;
mod upcast;
mod version;
pub mod worker;

pub use aggregate::{stream_id, Aggregate, Command};
pub use command::bus::{
    CommandBus, CommandEnvelope, CommandOutcome, CommandReply, CommandRouter, InProcessBus,
    InvalidCommand, SendError,
};
pub use command::{
    CommandContext, CommandError, Committed, LoadError, LoadedAggregate, Repository, RetryPolicy,
};
pub use cqrs_core_derive::Event;
pub use envelope::{stream_category, Metadata, RecordedEvent, StreamEventRef};
pub use error::{BoxError, StoreError};
pub use event::{Event, JsonPayload, NewEvent};
pub use failure::FailureKind;
pub use projection::{
    Persistence, Projection, ProjectionProgress, ProjectionRunner, RunnerConfig, RunnerError,
    RunningProjection, TransactionalProjection, TransactionalRunner, TransactionalStore,
    TypedProjection, TypedProjectionError,
};
pub use snapshot::{Snapshot, SnapshotPolicy};
pub use store::{
    AppendResult, EventStore, InMemoryEventStore, PositionNotifier, PositionWatch, RecordedRefusal,
    StoreLimits, StreamVisitor,
};
pub use upcast::{DecodeError, Upcasters};
pub use version::{Conflict, ExpectedVersion};

/// The quickstart in the repository README, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeQuickstart;
