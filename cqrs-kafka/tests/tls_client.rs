//! Clients for a managed Kafka (TLS + SASL/SCRAM) can be created: rdkafka is built with
//! OpenSSL. Without the `ssl` feature librdkafka refuses `security.protocol=SASL_SSL`
//! ("OpenSSL not available at build time"). Needs no broker: librdkafka checks the
//! settings and loads the CA file when the client is created.

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::worker::WorkerState;
use cqrs_core::InMemoryEventStore;
use cqrs_kafka::{EventRelay, KafkaConfig};
use rdkafka::producer::FutureProducer;

/// A self-signed CA certificate (PEM) written by `openssl`, in a fresh directory.
fn self_signed_ca() -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("cqrs-kafka-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (key, cert) = (dir.join("ca.key"), dir.join("ca.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=cqrs-kafka test CA"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl (the openssl command line tool is needed by this test)");
    assert!(status.success(), "openssl req failed");
    cert
}

/// SASL_SSL with SCRAM-SHA-512, as Confluent Cloud, MSK or Aiven want it.
fn managed_kafka(ca: &std::path::Path) -> KafkaConfig {
    // Nothing listens there: only client creation is tested.
    KafkaConfig::new("127.0.0.1:1")
        .set("security.protocol", "SASL_SSL")
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", "orders-service")
        .set("sasl.password", "secret")
        .set("ssl.ca.location", ca.to_string_lossy())
        .set("ssl.endpoint.identification.algorithm", "https")
}

#[test]
fn a_sasl_ssl_client_with_a_real_ca_file_is_created() {
    let ca = self_signed_ca();
    let created: Result<FutureProducer, _> = managed_kafka(&ca).client_config().create();
    if let Err(error) = &created {
        panic!("a SASL_SSL/SCRAM client must be creatable: {error}");
    }
    // The CA file is really read: one that is not a certificate is refused.
    let garbage = ca.with_file_name("garbage.pem");
    std::fs::write(&garbage, "not a certificate").expect("write");
    let refused: Result<FutureProducer, _> = managed_kafka(&garbage).client_config().create();
    assert!(
        refused.is_err(),
        "an invalid CA file is refused at creation"
    );
    let _ = std::fs::remove_dir_all(ca.parent().expect("dir"));
}

#[tokio::test]
async fn a_relay_configured_for_sasl_ssl_starts() {
    let ca = self_signed_ca();
    let relay = EventRelay::new(Arc::new(InMemoryEventStore::new()), managed_kafka(&ca)).spawn();
    // A producer that cannot be created stops the relay at once (RelayError::Producer).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(relay.state().current(), WorkerState::Running);
    relay.abort();
    let _ = std::fs::remove_dir_all(ca.parent().expect("dir"));
}
