//! The real binary stops on SIGTERM (what orchestrators send), gracefully and in time,
//! with exit code 0.

use std::time::{Duration, Instant};

use service_kit::testing::process::{
    free_address, get, sigterm, spawn_embedded, wait_exit, wait_for,
};

#[test]
fn serve_stops_on_sigterm_with_exit_code_0() {
    let address = free_address();
    let mut child = spawn_embedded(
        env!("CARGO_BIN_EXE_order"),
        address,
        &["--shutdown-deadline", "5"],
    );
    let ready = wait_for(address, "/health/ready", 200, Duration::from_secs(20));
    assert!(ready.contains("price-tier-projection"), "{ready}");
    assert_eq!(get(address, "/health/live").map(|(s, _)| s), Some(200));

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
fn serve_exits_non_zero_when_the_graceful_stop_passes_its_deadline() {
    use std::io::Write;
    let address = free_address();
    let mut child = spawn_embedded(
        env!("CARGO_BIN_EXE_order"),
        address,
        &["--shutdown-deadline", "1"],
    );
    wait_for(address, "/health/ready", 200, Duration::from_secs(20));
    // A request in flight that does not finish: its body never arrives whole.
    let mut slow = std::net::TcpStream::connect(address).expect("connect");
    write!(
        slow,
        "POST /orders HTTP/1.1\r\nHost: {address}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"order_id\""
    )
    .expect("send the start of a request");
    std::thread::sleep(Duration::from_millis(100));

    let signalled = Instant::now();
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert_ne!(status.code(), Some(0), "{status:?}");
    assert!(
        status.code().is_some(),
        "it exits, not killed by the signal: {status:?}"
    );
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "it waited for the deadline"
    );
    drop(slow);
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
            "order services-mode SIGTERM",
            format!("PostgreSQL or Kafka ({broker}) unreachable"),
        );
        return;
    }
    let run = format!("{:x}", uuid::Uuid::now_v7().simple());
    let (events, views) = (
        format!("order_sig_events_{run}"),
        format!("order_sig_views_{run}"),
    );
    let address = free_address();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_order"))
        .args([
            "serve",
            "--listen",
            &address.to_string(),
            "--shutdown-deadline",
            "10",
        ])
        .env("DATABASE_URL", &database_url)
        .env("KAFKA_BROKERS", &brokers)
        .env_remove("MONGODB_URL")
        .env("ORDER_EVENT_SCHEMA", &events)
        .env("ORDER_VIEW_SCHEMA", &views)
        .env("ORDER_GROUP_ID", format!("order-sig-{run}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn the binary");
    wait_for(address, "/health/ready", 200, Duration::from_secs(30));

    let signalled = Instant::now();
    sigterm(&child);
    let status = wait_exit(&mut child, Duration::from_secs(12));
    assert_eq!(status.code(), Some(0), "{status:?}");
    eprintln!(
        "services mode stopped {:?} after SIGTERM",
        signalled.elapsed()
    );

    let cleanup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    cleanup.block_on(async {
        let pool = sqlx::PgPool::connect(&database_url)
            .await
            .expect("cleanup connection");
        for schema in [&events, &views] {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&pool)
                .await
                .expect("drop test schema");
        }
    });
}
