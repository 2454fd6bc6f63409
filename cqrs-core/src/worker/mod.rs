//! One lifecycle for every background worker of this workspace (projection runners, the
//! relay, the Kafka consumers): a [`Worker`] handle with its progress, its
//! [`WorkerState`], waits, a graceful shutdown with an optional deadline, and abort.
//!
//! A worker is spawned with [`Worker::spawn`]: its task gets a [`WorkerContext`] to publish
//! progress and to learn that a shutdown was requested, and returns `Ok(output)` when it
//! stopped as asked or `Err(error)` when it stopped for good on its own. Whatever happens
//! (an error, a panic, an abort), [`Worker::state`] says so, so a service can report a
//! stopped worker instead of serving on silently.
//!
//! A worker that feeds a read model from the global log exposes how far it got as a
//! [`ProcessedPosition`] ([`Worker::processed_position`]), which a query waits on to
//! answer with the client's own writes in (read-your-writes, see [`processed`]).

mod context;
mod errors;
mod handle;
mod lease;
pub mod processed;
mod state;
mod wait;

pub use context::{sleep_or_stop, stop_requested, WorkerContext};
pub use errors::{CatchUpError, ShutdownError, WaitError};
pub use handle::{LogProgress, Worker};
pub use lease::{LeaseHolder, LeaseRole};
pub use processed::{NotCaughtUp, ProcessedPosition};
pub use state::{WorkerState, WorkerStateReporter, WorkerStateWatch};
