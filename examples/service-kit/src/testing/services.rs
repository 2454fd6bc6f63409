//! The services a services-mode test needs (PostgreSQL, a Kafka broker): where they are,
//! whether they answer, and leaving nothing behind in the shared database.
//!
//! Without them a test prints one `SKIPPED` line and passes, unless `CI=true`
//! ([`skip_or_fail`]).
//!
//! ```no_run
//! use service_kit::testing::services::Services;
//!
//! # async fn test() {
//! let Some(services) = Services::reachable_or_skip("order services-mode e2e") else { return };
//! // ... start the service on services.database_url and services.kafka_brokers ...
//! services.drop_schemas(&["order_e2e_events_1", "order_e2e_views_1"]).await;
//! # }
//! ```

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use cqrs_core::testing::skip_or_fail;
use sqlx::postgres::{PgPool, PgPoolOptions};

/// PostgreSQL's URL when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The Kafka brokers when `KAFKA_BROKERS` is not set.
pub const DEFAULT_KAFKA_BROKERS: &str = "127.0.0.1:19092";

/// How long each reachability check and connection attempt waits.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where PostgreSQL and the Kafka brokers are.
#[derive(Debug, Clone)]
pub struct Services {
    /// PostgreSQL (`DATABASE_URL`).
    pub database_url: String,
    /// Kafka bootstrap servers (`KAFKA_BROKERS`).
    pub kafka_brokers: String,
}

impl Services {
    /// `DATABASE_URL` and `KAFKA_BROKERS`, or [`DEFAULT_DATABASE_URL`] and
    /// [`DEFAULT_KAFKA_BROKERS`].
    pub fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        Self {
            database_url: var("DATABASE_URL", DEFAULT_DATABASE_URL),
            kafka_brokers: var("KAFKA_BROKERS", DEFAULT_KAFKA_BROKERS),
        }
    }

    /// The services from the environment when PostgreSQL and the first broker accept a
    /// connection; otherwise `None`, after [`skip_or_fail`] reported `test` as skipped
    /// (under `CI=true` it panics instead).
    pub fn reachable_or_skip(test: &str) -> Option<Self> {
        let services = Self::from_env();
        match services.unreachable() {
            None => Some(services),
            Some(reason) => {
                skip_or_fail(test, reason);
                None
            }
        }
    }

    /// Why a service cannot be reached, if one cannot.
    fn unreachable(&self) -> Option<String> {
        let Some(postgres) = postgres_address(&self.database_url) else {
            return Some(format!("no host in DATABASE_URL `{}`", self.database_url));
        };
        let broker = self.kafka_brokers.split(',').next().unwrap_or_default();
        for (service, address) in [("PostgreSQL", postgres.as_str()), ("Kafka", broker)] {
            if let Err(error) = accepts(address) {
                return Some(format!("{service} unreachable at {address}: {error}"));
            }
        }
        None
    }

    /// Drops `schemas` and everything in them, if they exist.
    pub async fn drop_schemas(&self, schemas: &[&str]) {
        let pool = PgPool::connect(&self.database_url)
            .await
            .expect("cleanup connection");
        for schema in schemas {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&pool)
                .await
                .expect("drop test schema");
        }
        pool.close().await;
    }

    /// [`drop_schemas`](Self::drop_schemas) for a test that runs outside a Tokio runtime.
    pub fn drop_schemas_blocking(&self, schemas: &[&str]) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(self.drop_schemas(schemas));
    }
}

/// A small pool on `DATABASE_URL` (or [`DEFAULT_DATABASE_URL`]) for a test of a PostgreSQL
/// read model; `None` after [`skip_or_fail`] reported `test` as skipped when PostgreSQL
/// cannot be reached.
pub async fn postgres_or_skip(test: &str) -> Option<PgPool> {
    let url = Services::from_env().database_url;
    match PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect(&url)
        .await
    {
        Ok(pool) => Some(pool),
        Err(error) => {
            skip_or_fail(test, format!("PostgreSQL unreachable at {url}: {error}"));
            None
        }
    }
}

/// A key PostgreSQL refuses to index (SQLSTATE 54000): 10,240 characters of incompressible
/// text, over the b-tree limit of about 2,700 bytes even after compression (a repeated
/// letter would compress under it). The same key every call.
pub fn key_over_btree_limit() -> String {
    let mut rng = super::fuzz::Rng::new(0x5eed);
    (0..640)
        .map(|_| format!("{:016x}", rng.next_u64()))
        .collect()
}

/// `host:port` of a `postgres://user:password@host:port/database?options` URL (port 5432
/// when it names none).
fn postgres_address(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() {
        return None;
    }
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.ends_with(']'));
    Some(if has_port {
        host.to_owned()
    } else {
        format!("{host}:5432")
    })
}

/// Whether something accepts a TCP connection at `address` (`host:port`).
fn accepts(address: &str) -> std::io::Result<()> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for socket in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&socket, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(error) => last = error,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_address_is_the_urls_host_and_port() {
        for (url, address) in [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                Some("127.0.0.1:5432"),
            ),
            (
                "postgres://u:p@db.internal:6543/app?sslmode=require",
                Some("db.internal:6543"),
            ),
            ("postgresql://localhost/test", Some("localhost:5432")),
            ("postgres://u@[::1]/test", Some("[::1]:5432")),
            ("postgres://u@[::1]:6000", Some("[::1]:6000")),
            ("postgres:///test", None),
            ("not a url", None),
        ] {
            assert_eq!(postgres_address(url).as_deref(), address, "{url}");
        }
    }
}
