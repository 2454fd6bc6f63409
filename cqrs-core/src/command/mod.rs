//! The command pipeline: [`Repository`] with its context, retry policy and errors.

mod cache;
mod context;
mod error;
mod repository;
mod retry;

pub use context::CommandContext;
pub use error::{CommandError, LoadError};
pub use repository::{Committed, LoadedAggregate, Repository};
pub use retry::RetryPolicy;
