//! The real binary stops on SIGTERM (what orchestrators send), gracefully and in time,
//! with exit code 0.

use std::time::{Duration, Instant};

use service_kit::testing::process::{
    assert_stops_on_sigterm, free_address, get, sigterm, spawn_embedded, spawn_services, wait_exit,
    wait_for,
};
use service_kit::testing::services::Services;

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
    assert_stops_on_sigterm(&mut child, address, Duration::from_secs(5));
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
    let Some(services) = Services::reachable_or_skip("order services-mode SIGTERM") else {
        return;
    };
    let run = format!("{:x}", uuid::Uuid::now_v7().simple());
    let (events, views) = (
        format!("order_sig_events_{run}"),
        format!("order_sig_views_{run}"),
    );
    let address = free_address();
    let mut child = spawn_services(
        env!("CARGO_BIN_EXE_order"),
        address,
        &services,
        &[
            ("ORDER_EVENT_SCHEMA", &events),
            ("ORDER_VIEW_SCHEMA", &views),
            ("ORDER_GROUP_ID", &format!("order-sig-{run}")),
            // Its own topics: a new group on the shared `Order` topic would replay every
            // earlier run's events before it is ready.
            ("TOPIC_PREFIX", &format!("sig{run}.")),
        ],
        &["--shutdown-deadline", "10"],
    );
    wait_for(address, "/health/ready", 200, Duration::from_secs(30));
    let took = assert_stops_on_sigterm(&mut child, address, Duration::from_secs(12));
    eprintln!("services mode stopped {took:?} after SIGTERM");
    services.drop_schemas_blocking(&[&events, &views]);
}
