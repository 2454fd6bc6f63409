//! The real binary stops on SIGTERM (what orchestrators send), gracefully and in time,
//! with exit code 0.

mod support;

use std::time::Duration;

use service_kit::testing::process::{
    assert_stops_on_sigterm, free_address, spawn_embedded, spawn_services, wait_for,
};
use service_kit::testing::services::Services;

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
    assert_stops_on_sigterm(&mut child, address, Duration::from_secs(5));
}

#[test]
fn services_mode_stops_on_sigterm_with_exit_code_0() {
    let Some(services) = Services::reachable_or_skip("inventory services-mode SIGTERM") else {
        return;
    };
    let run = format!("{:x}", uuid::Uuid::now_v7().simple());
    let (events, views) = (
        format!("inv_sig_events_{run}"),
        format!("inv_sig_views_{run}"),
    );
    let address = free_address();
    let mut child = spawn_services(
        env!("CARGO_BIN_EXE_inventory"),
        address,
        &services,
        &[
            ("INVENTORY_EVENT_SCHEMA", &events),
            ("INVENTORY_VIEW_SCHEMA", &views),
            ("TOPIC_PREFIX", &format!("sig{run}.")),
        ],
        &["--shutdown-deadline", "10"],
    );
    wait_for(address, "/health/ready", 200, Duration::from_secs(30));
    assert_stops_on_sigterm(&mut child, address, Duration::from_secs(12));
    services.drop_schemas_blocking(&[&events, &views]);
}
