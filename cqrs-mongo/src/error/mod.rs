//! Errors: this crate's own ([`SetupError`]), and (in `classify`) the mapping of driver
//! errors to typed [`StoreError`]s.

mod classify;

use cqrs_core::StoreError;

pub(crate) use classify::*;

/// Errors of the MongoDB store's own API (connecting, migrating).
/// [`EventStore`](cqrs_core::EventStore) methods return [`StoreError`], transactional
/// projection runners [`RunnerError`](cqrs_core::RunnerError).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The server is a standalone `mongod`: it cannot run multi-document transactions.
    #[error(
        "MongoDB at {address} is a standalone server; cqrs-mongo needs a replica set (a single-node \
         replica set is enough: start mongod with --replSet rs0, run rs.initiate(), and add \
         ?replicaSet=rs0 to the connection string) or a sharded cluster, because appends use \
         multi-document transactions"
    )]
    StandaloneServer {
        /// The server's address as configured.
        address: String,
    },

    /// The configuration is not usable (bad connection string, empty names...).
    #[error("invalid MongoDB store configuration: {0}")]
    Config(String),

    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standalone_error_message_says_what_to_do() {
        let message = SetupError::StandaloneServer {
            address: "localhost:27017".into(),
        }
        .to_string();
        assert!(
            message.contains("standalone")
                && message.contains("replica set")
                && message.contains("rs.initiate()")
        );
    }
}
