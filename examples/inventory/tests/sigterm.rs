//! The real binary stops on SIGTERM (what orchestrators send), gracefully and in time,
//! with exit code 0.

mod support;

use std::time::{Duration, Instant};

use service_kit::testing::process::{
    free_address, get, sigterm, spawn_embedded, wait_exit, wait_for,
};

#[test]
fn serve_stops_on_sigterm_with_exit_code_0() {
    let address = free_address();
    let mut child = spawn_embedded(
        env!("CARGO_BIN_EXE_inventory"),
        address,
        &["--shutdown-deadline", "5"],
    );
    let ready = wait_for(address, "/health/ready", 200, Duration::from_secs(20));
    assert!(
        ready.contains("fulfilment-saga") && ready.contains("stock-levels"),
        "{ready}"
    );

    let signalled = Instant::now();
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(5));
    assert!(
        get(address, "/health/live").is_none(),
        "nothing listens after the stop"
    );
}

#[test]
fn services_mode_stops_on_sigterm_with_exit_code_0() {
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    let reachable = |address: &str| {
        address
            .parse::<std::net::SocketAddr>()
            .ok()
            .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
            .is_some()
    };
    let broker = brokers.split(',').next().unwrap_or(&brokers).to_owned();
    if !reachable("127.0.0.1:5432") || !reachable(&broker) {
        cqrs_core::testing::skip_or_fail(
            "inventory services-mode SIGTERM",
            format!("PostgreSQL or Kafka ({broker}) unreachable"),
        );
        return;
    }
    let run = format!("{:x}", uuid::Uuid::now_v7().simple());
    let (events, views) = (
        format!("inv_sig_events_{run}"),
        format!("inv_sig_views_{run}"),
    );
    let address = free_address();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inventory"))
        .args([
            "serve",
            "--listen",
            &address.to_string(),
            "--shutdown-deadline",
            "10",
        ])
        .env("DATABASE_URL", &database_url)
        .env("KAFKA_BROKERS", &brokers)
        .env("INVENTORY_EVENT_SCHEMA", &events)
        .env("INVENTORY_VIEW_SCHEMA", &views)
        .env("INVENTORY_TOPIC_PREFIX", format!("sig{run}."))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn the binary");
    wait_for(address, "/health/ready", 200, Duration::from_secs(30));

    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(12));
    assert_eq!(status.code(), Some(0), "{status:?}");

    let cleanup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    cleanup.block_on(async {
        let pool = cqrs_postgres::sqlx::PgPool::connect(&database_url)
            .await
            .expect("cleanup connection");
        for schema in [&events, &views] {
            cqrs_postgres::sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&pool)
                .await
                .expect("drop test schema");
        }
    });
}
