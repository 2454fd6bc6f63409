//! The store contract suite: every guarantee of [`EventStore`], checked against a real
//! implementation. Each case gets a fresh store from the factory and panics with the case
//! name and what differed.

mod commands;
mod concurrency;
mod idempotency;
mod leases;
mod loading;
mod ordering;
mod payloads;
mod refusals;
mod state;
mod versions;

use std::future::Future;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{
    AppendResult, Event, EventStore, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StoreError,
};

/// Runs every contract case against stores made by `factory`, each case on a fresh store.
///
/// # Panics
/// On the first violated guarantee, naming the case and the difference.
pub async fn run_store_contract<S, F, Fut>(factory: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! cases {
        ($($case:path),* $(,)?) => {
            $(
                let started = Instant::now();
                let store = std::sync::Arc::new(factory().await);
                $case(&store).await;
                tracing::info!(case = stringify!($case), elapsed = ?started.elapsed(), "store contract case passed");
            )*
        };
    }
    cases!(
        versions::no_stream_accepts_only_a_new_stream,
        versions::exact_checks_the_current_version,
        versions::stream_exists_refuses_a_missing_stream,
        versions::any_always_appends,
        versions::conflict_writes_nothing,
        versions::empty_append_checks_version_and_writes_nothing,
        idempotency::retried_batch_returns_the_original_result,
        idempotency::reused_event_id_is_refused_and_nothing_written,
        idempotency::duplicate_id_inside_a_batch_is_refused,
        idempotency::failing_batch_is_atomic,
        ordering::read_stream_returns_versions_in_order,
        ordering::read_all_pages_the_global_log_in_order,
        ordering::envelope_round_trips,
        loading::load_stream_visits_what_read_stream_returns,
        loading::load_stream_stops_when_the_visitor_breaks,
        payloads::large_payload_round_trips,
        payloads::hostile_and_unicode_stream_ids_are_plain_data,
        payloads::oversized_and_invalid_input_is_refused,
        payloads::upcasters_apply_to_stored_events,
        state::snapshots_keep_the_latest_version_per_stream,
        state::checkpoints_are_per_name_and_can_move_back,
        state::subscribers_are_woken_by_appends,
        concurrency::concurrent_writers_on_one_stream_never_share_a_version,
        concurrency::catch_up_reader_never_skips_with_concurrent_writers,
        refusals::read_events_by_id_finds_stored_events_in_any_stream,
        refusals::the_first_recorded_refusal_of_a_command_id_wins,
        refusals::concurrent_refusals_of_one_command_id_record_one,
        commands::a_repeated_command_id_returns_the_first_outcome_and_appends_once,
        commands::a_repeated_refused_command_id_reports_the_recorded_refusal,
        commands::a_repeat_after_a_restart_sees_the_outcome,
        commands::concurrent_executions_of_one_command_id_append_once,
        commands::a_command_id_reused_for_another_aggregate_is_refused,
    );
}

/// Runs every lease contract case ([`LeaseStore`](crate::lease::LeaseStore)) against stores
/// made by `factory`, each case on a fresh store. Cases wait for short leases to expire,
/// so the suite takes a few seconds.
///
/// # Panics
/// On the first violated guarantee, naming the case and the difference.
pub async fn run_lease_contract<S, F, Fut>(factory: F)
where
    S: EventStore + crate::lease::LeaseStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! cases {
        ($($case:path),* $(,)?) => {
            $(
                let store = std::sync::Arc::new(factory().await);
                $case(&store).await;
                tracing::info!(case = stringify!($case), "lease contract case passed");
            )*
        };
    }
    cases!(
        leases::one_holder_at_a_time_and_reacquiring_keeps_the_token,
        leases::renewing_extends_the_lease_by_its_ttl,
        leases::an_expired_lease_passes_on_with_a_greater_token_and_fences_the_old,
        leases::a_released_lease_is_free_at_once,
        leases::fenced_checkpoints_never_move_backwards,
        leases::concurrent_acquires_elect_one_holder,
        leases::live_leases_lists_the_valid_leases_of_a_prefix,
    );
}

/// The event type the contract appends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub(crate) enum ContractEvent {
    Happened { n: u64, text: String },
}

impl Event for ContractEvent {
    const EVENT_TYPES: &'static [&'static str] = &["Happened"];
    fn event_type(&self) -> &'static str {
        "Happened"
    }
}

pub(crate) fn event(n: u64) -> NewEvent {
    NewEvent::from_event(&ContractEvent::Happened {
        n,
        text: format!("event {n}"),
    })
    .expect("contract events serialize")
}

pub(crate) fn events(range: std::ops::Range<u64>) -> Vec<NewEvent> {
    range.map(event).collect()
}

pub(crate) fn unique_stream(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Appends `batch` without metadata, for cases that check a refusal.
pub(crate) async fn try_append<S: EventStore>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    batch: Vec<NewEvent>,
) -> Result<AppendResult, StoreError> {
    store
        .append(stream, expected, batch, &Metadata::default())
        .await
}

pub(crate) async fn append_ok<S: EventStore>(
    store: &S,
    stream: &str,
    expected: ExpectedVersion,
    batch: Vec<NewEvent>,
) -> AppendResult {
    match try_append(store, stream, expected, batch).await {
        Ok(result) => result,
        Err(error) => panic!("append to `{stream}` with {expected} should succeed: {error}"),
    }
}

pub(crate) async fn whole_log<S: EventStore>(store: &S) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    let mut from = 1;
    loop {
        let page = store.read_all(from, 1000).await.expect("read_all");
        let Some(last) = page.last() else { return all };
        from = last.position + 1;
        all.extend(page);
    }
}

/// The position of the last event an append committed (0 for none).
pub(crate) fn last_position(result: &AppendResult) -> u64 {
    result.events.last().map_or(0, |e| e.position)
}

/// The whole log once it shows every event up to `position`, which the caller committed.
///
/// A gap-safe reader may hold back committed events while another transaction anywhere on
/// the same server is still open (e.g. a parallel test); that is a delay, not a gap, so
/// the contract waits for its own commits to become visible before it compares logs.
pub(crate) async fn settled_log<S: EventStore>(store: &S, position: u64) -> Vec<RecordedEvent> {
    let started = std::time::Instant::now();
    loop {
        let log = whole_log(store).await;
        if log.last().map_or(0, |e| e.position) >= position {
            return log;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "committed position {position} never became visible to read_all"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

pub(crate) fn n_of(event: &RecordedEvent) -> u64 {
    match event.payload.deserialize::<ContractEvent>() {
        Ok(ContractEvent::Happened { n, .. }) => n,
        Err(e) => panic!("stored payload {:?} does not decode: {e}", event.payload),
    }
}
