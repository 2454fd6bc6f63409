//! Running the order and inventory services as two OS processes in services mode, each
//! with its own event store (the inventory in a database of its own), for the tests that
//! make them cooperate over Kafka.
//!
//! Both services produce one message per record batch here (`KAFKA_PROPERTIES=
//! batch.num.messages=1`): tansu 0.6.0 cannot fetch from an offset inside a record batch,
//! so a restarted inventory would skip the rest of the batch it resumes in (see
//! cqrs-kafka's README); Apache Kafka needs no such setting.
//!
//! The order binary is found next to the inventory binary: `cargo test --workspace` builds
//! both (`cargo build -p order` first when running such a test alone).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;

use cqrs_postgres::sqlx::{self, Connection};
use serde_json::Value;
use service_kit::testing::process::{get, spawn_services};
use service_kit::testing::services::Services;

/// The tansu workaround of the module docs.
const ONE_MESSAGE_PER_BATCH: &str = "batch.num.messages=1";

/// Kills the process when the test ends, also on a failed assertion.
pub struct Process(Child);

impl Process {
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn order_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_inventory")).with_file_name("order");
    assert!(
        path.exists(),
        "{} is not built: run `cargo build -p order` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

pub struct Run {
    pub id: String,
    pub services: Services,
    pub inventory_database_url: String,
    /// More environment for both services (e.g. `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub extra_env: Vec<(String, String)>,
}

impl Run {
    fn env(&self, own: &[(&str, &str)]) -> Vec<(String, String)> {
        own.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(self.extra_env.iter().cloned())
            .collect()
    }

    pub fn prefix(&self) -> String {
        format!("two{}.", self.id)
    }

    pub fn order_service(&self, address: SocketAddr) -> Process {
        Process(spawn_services(
            order_binary().to_str().expect("utf-8 path"),
            address,
            &self.services,
            &self
                .env(&[
                    (
                        "ORDER_EVENT_SCHEMA",
                        &format!("two{}_order_events", self.id),
                    ),
                    ("ORDER_VIEW_SCHEMA", &format!("two{}_order_views", self.id)),
                    ("TOPIC_PREFIX", &self.prefix()),
                    ("KAFKA_PROPERTIES", ONE_MESSAGE_PER_BATCH),
                    ("RUST_LOG", &log_level()),
                ])
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            &["--shutdown-deadline", "10"],
        ))
    }

    /// The inventory, always the same static group member (as a StatefulSet's pod is), so
    /// that its restart takes back the partitions of the killed process at once (tansu
    /// never expires a dead member; see cqrs-kafka's README).
    pub fn inventory_service(&self, address: SocketAddr) -> Process {
        Process(spawn_services(
            env!("CARGO_BIN_EXE_inventory"),
            address,
            &self.services,
            &self
                .env(&[
                    ("INVENTORY_DATABASE_URL", &self.inventory_database_url),
                    ("INVENTORY_GROUP_INSTANCE_ID", "inventory-0"),
                    ("TOPIC_PREFIX", &self.prefix()),
                    ("KAFKA_PROPERTIES", ONE_MESSAGE_PER_BATCH),
                    ("RUST_LOG", &log_level()),
                ])
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            &["--shutdown-deadline", "10"],
        ))
    }
}

/// The services' log filter: `TWO_SERVICES_LOG`, or warnings only.
pub fn log_level() -> String {
    std::env::var("TWO_SERVICES_LOG").unwrap_or_else(|_| "warn".into())
}

/// A database of its own for the inventory, dropped at the end.
pub struct OwnDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl OwnDatabase {
    pub async fn create(admin_url: &str, name: String) -> Self {
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("create the inventory's database");
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("DATABASE_URL {admin_url} names no database"),
        };
        Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        }
    }
}

impl Drop for OwnDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(async {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut admin)
                        .await;
                    }
                })
        });
        let _ = dropped.join();
    }
}

pub fn expect_status(reply: Option<(u16, String)>, wanted: &[u16], what: &str) -> Value {
    match reply {
        Some((status, body)) if wanted.contains(&status) => {
            serde_json::from_str(&body).unwrap_or(Value::Null)
        }
        other => panic!("{what}: expected {wanted:?}, got {other:?}"),
    }
}

/// The order as the order service reports it, once it is decided (confirmed or cancelled).
pub fn decided(order_service: SocketAddr, order_id: &str) -> Option<Value> {
    let (200, body) = get(order_service, &format!("/orders/{order_id}"))? else {
        return None;
    };
    let order: Value = serde_json::from_str(&body).ok()?;
    (order["confirmed"] == true || order["status"] == "cancelled").then_some(order)
}
