//! The real binary stops on SIGTERM (what orchestrators send), gracefully and in time,
//! with exit code 0.

mod support;

use std::time::{Duration, Instant};

use support::process::{free_address, get, sigterm, spawn_embedded, wait_exit, wait_for};

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
