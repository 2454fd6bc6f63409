//! Tests that need an external service (PostgreSQL, Kafka, MongoDB): skip with one visible
//! line when it is missing, fail when running under CI.

use std::collections::HashSet;
use std::fmt::Display;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

static REPORTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// True when the `CI` environment variable is `true` (or `1`): missing services are then
/// failures, not skips.
pub fn on_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true") | Ok("1"))
}

/// Reports that the tests of `group` cannot reach a service.
///
/// Under CI ([`on_ci`]) this panics with `reason`. Otherwise it writes
/// `SKIPPED {group}: {reason}` once per group and process straight to stderr (not through
/// the test harness's captured output, so it is visible in a normal `cargo test` run), and
/// the caller returns early.
///
/// ```no_run
/// # async fn doc() {
/// let Ok(pool) = connect().await else {
///     cqrs_core::testing::skip_or_fail("cqrs-postgres", "PostgreSQL unreachable at 127.0.0.1:5432");
///     return;
/// };
/// # }
/// # async fn connect() -> Result<(), ()> { Ok(()) }
/// ```
///
/// # Panics
/// When running under CI.
#[track_caller]
pub fn skip_or_fail(group: &str, reason: impl Display) {
    if on_ci() {
        panic!("{group}: required service unavailable under CI: {reason}");
    }
    let mut reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    if reported
        .get_or_insert_with(HashSet::new)
        .insert(group.to_owned())
    {
        let line = format!("SKIPPED {group}: {reason}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}
