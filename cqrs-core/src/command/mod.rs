//! The command pipeline: [`Repository`] with its context, retry policy and errors.

pub mod bus;
mod cache;
mod context;
mod error;
mod load;
mod outcome;
mod repeats;
mod repository;
mod retry;

pub use context::CommandContext;
pub use error::{CommandError, LoadError};
pub use outcome::{Committed, LoadedAggregate};
pub use repository::Repository;
pub use retry::RetryPolicy;
