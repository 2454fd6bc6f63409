//! Snapshots: one document per stream, only ever replaced by a newer one.

use bson::Document;
use cqrs_core::{Snapshot, StoreError};
use mongodb::Collection;

use crate::codec::{decode_snapshot, encode_snapshot, u64_to_i64};
use crate::error::{classify, corrupt, store_error, ErrorClass, ErrorFacts};
use crate::queries;

pub(crate) async fn load(
    snapshots: &Collection<Document>,
    stream_id: &str,
) -> Result<Option<Snapshot>, StoreError> {
    let found = snapshots
        .find_one(queries::by_id(stream_id))
        .await
        .map_err(|e| store_error("load_snapshot", e))?;
    found
        .map(|d| decode_snapshot(&d).map_err(corrupt))
        .transpose()
}

/// Upserts the snapshot unless a newer one is stored: the filter matches only an older (or
/// equal) snapshot, so with a newer one the upsert tries to insert a second document with
/// the same `_id` and the server refuses it with a duplicate key, which means "keep it".
pub(crate) async fn save(
    snapshots: &Collection<Document>,
    snapshot: &Snapshot,
) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidInput {
        stream: snapshot.stream_id.clone(),
        reason,
    };
    let version = u64_to_i64(snapshot.version).ok_or_else(|| {
        invalid(format!(
            "snapshot version {} is too large",
            snapshot.version
        ))
    })?;
    let fields = encode_snapshot(snapshot).map_err(|e| invalid(format!("snapshot state: {e}")))?;
    let result = snapshots
        .update_one(
            queries::snapshot_not_newer_than(&snapshot.stream_id, version),
            bson::doc! { "$set": fields },
        )
        .upsert(true)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if classify(&ErrorFacts::of(&e)) == ErrorClass::DuplicateKey => {
            tracing::debug!(stream = %snapshot.stream_id, version, "a newer snapshot is stored; keeping it");
            Ok(())
        }
        Err(e) => Err(store_error("save_snapshot", e)),
    }
}
