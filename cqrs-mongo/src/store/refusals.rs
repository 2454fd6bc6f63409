//! Refusals of commands: one document per command id (`_id`), so the first refusal stored
//! for a command id is the only one (`cqrs_core::store::commands`).
//!
//! Recording a refusal, step by step:
//! 1. Insert its document. Stored: ours is the recorded refusal.
//! 2. A duplicate key on `_id`: another execution recorded first. Read its document and
//!    return it.
//! 3. Not found: the other insert is in the primary's index but not yet majority-committed
//!    (reads use majority read concern), or it was rolled back by a failover. Wait a little
//!    and start again from 1, until the store's `transaction_timeout`.

use std::time::{Duration, Instant};

use bson::Document;
use cqrs_core::{RecordedRefusal, StoreError};
use mongodb::Collection;
use uuid::Uuid;

use crate::codec::{decode_refusal, encode_refusal};
use crate::error::{classify, corrupt, store_error, ErrorClass, ErrorFacts};
use crate::queries;

/// The first pause before inserting again (step 3), doubled up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// Records `refusal` unless a refusal of its command id is stored, and returns the stored
/// one; waits at most `patience` for a racing refusal to become readable.
pub(crate) async fn record(
    refusals: &Collection<Document>,
    refusal: &RecordedRefusal,
    patience: Duration,
) -> Result<RecordedRefusal, StoreError> {
    let document = encode_refusal(refusal).ok_or_else(|| StoreError::InvalidInput {
        stream: refusal.stream_id.clone(),
        reason: format!(
            "stream version {} of the refusal of command {} is beyond the largest storable version",
            refusal.stream_version, refusal.command_id
        ),
    })?;
    // What a later load returns (recorded_at to the millisecond).
    let ours = decode_refusal(&document).map_err(corrupt)?;
    let deadline = Instant::now() + patience;
    let mut pause = FIRST_PAUSE;
    loop {
        match refusals.insert_one(&document).await {
            Ok(_) => return Ok(ours),
            Err(e) if classify(&ErrorFacts::of(&e)) == ErrorClass::DuplicateKey => {}
            Err(e) => return Err(store_error("record_refusal", e)),
        }
        if let Some(recorded) = find(refusals, refusal.command_id, "record_refusal").await? {
            return Ok(recorded);
        }
        if Instant::now() >= deadline {
            return Err(StoreError::Timeout {
                operation: "record_refusal",
            });
        }
        tracing::debug!(command_id = %refusal.command_id, "a racing refusal is not readable yet; recording again");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// The refusal recorded for `command_id`, if any.
pub(crate) async fn load(
    refusals: &Collection<Document>,
    command_id: Uuid,
) -> Result<Option<RecordedRefusal>, StoreError> {
    find(refusals, command_id, "load_refusal").await
}

async fn find(
    refusals: &Collection<Document>,
    command_id: Uuid,
    operation: &'static str,
) -> Result<Option<RecordedRefusal>, StoreError> {
    let found = refusals
        .find_one(queries::refusal_of(command_id))
        .await
        .map_err(|e| store_error(operation, e))?;
    found
        .map(|d| decode_refusal(&d).map_err(corrupt))
        .transpose()
}
