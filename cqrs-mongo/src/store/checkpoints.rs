//! Checkpoints: the last processed position of each named consumer.

use bson::Document;
use cqrs_core::StoreError;
use mongodb::error::Error as DriverError;
use mongodb::{ClientSession, Collection};

use crate::codec::{get_u64, u64_to_i64};
use crate::error::{corrupt, store_error};
use crate::queries;

pub(crate) async fn load(
    checkpoints: &Collection<Document>,
    name: &str,
) -> Result<Option<u64>, StoreError> {
    let found = checkpoints
        .find_one(queries::by_id(name))
        .await
        .map_err(|e| store_error("load_checkpoint", e))?;
    found.map(|d| decode(&d, name)).transpose()
}

pub(crate) async fn save(
    checkpoints: &Collection<Document>,
    name: &str,
    position: u64,
) -> Result<(), StoreError> {
    let position = encode(name, position)?;
    checkpoints
        .update_one(queries::by_id(name), queries::set_checkpoint(position))
        .upsert(true)
        .await
        .map_err(|e| store_error("save_checkpoint", e))?;
    Ok(())
}

/// Reads a checkpoint inside the transaction of `session`.
pub(crate) async fn load_in(
    checkpoints: &Collection<Document>,
    name: &str,
    session: &mut ClientSession,
) -> Result<Result<Option<u64>, StoreError>, DriverError> {
    let found = checkpoints
        .find_one(queries::by_id(name))
        .session(session)
        .await?;
    Ok(found.map(|d| decode(&d, name)).transpose())
}

/// Writes a checkpoint inside the transaction of `session`.
pub(crate) async fn save_in(
    checkpoints: &Collection<Document>,
    name: &str,
    position: u64,
    session: &mut ClientSession,
) -> Result<Result<(), StoreError>, DriverError> {
    let position = match encode(name, position) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    checkpoints
        .update_one(queries::by_id(name), queries::set_checkpoint(position))
        .upsert(true)
        .session(session)
        .await?;
    Ok(Ok(()))
}

/// `position` as stored, or the refusal of a position beyond the largest storable one.
pub(crate) fn encode(name: &str, position: u64) -> Result<i64, StoreError> {
    u64_to_i64(position).ok_or_else(|| StoreError::InvalidInput {
        stream: name.to_owned(),
        reason: format!("checkpoint position {position} is beyond the largest storable position"),
    })
}

fn decode(document: &Document, name: &str) -> Result<u64, StoreError> {
    get_u64(document, queries::CHECKPOINT_POSITION)
        .map_err(|e| corrupt(format!("checkpoint `{name}`: {e}")))
}
