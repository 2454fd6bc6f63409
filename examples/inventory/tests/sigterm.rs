//! The real binary stops on SIGTERM (what orchestrators send), gracefully and in time,
//! with exit code 0.

mod support;

use std::time::{Duration, Instant};

use support::process::{free_address, get, sigterm, spawn_embedded, wait_exit, wait_for};

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
