//! Every filter, sort, update and index the store sends, as pure functions.
//!
//! Keeping them here lets the unit tests pin down exactly what goes to the server, and lets
//! a reader see the whole data access of the store in one page.

use bson::{doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use uuid::Uuid;

use crate::codec::{fields, uuid_to_bson};

/// Name of the unique index on `(stream_id, stream_version)`.
pub const STREAM_VERSION_INDEX: &str = "stream_version_unique";
/// Name of the unique index on `event_id`.
pub const EVENT_ID_INDEX: &str = "event_id_unique";
/// `_id` of the document holding the last allocated position.
pub const POSITION_COUNTER_ID: &str = "global_position";
/// Field of the counter document holding the last allocated position.
pub const COUNTER_VALUE: &str = "last_position";
/// Field of a checkpoint document holding the last processed position.
pub const CHECKPOINT_POSITION: &str = "position";

/// The indexes of the events collection (the global position is the `_id`, unique by
/// construction): one stream version is written once; one event id is written once.
pub fn event_indexes() -> Vec<IndexModel> {
    vec![
        IndexModel::builder()
            .keys(doc! { fields::STREAM_ID: 1, fields::STREAM_VERSION: 1 })
            .options(
                IndexOptions::builder()
                    .name(STREAM_VERSION_INDEX.to_owned())
                    .unique(true)
                    .build(),
            )
            .build(),
        IndexModel::builder()
            .keys(doc! { fields::EVENT_ID: 1 })
            .options(
                IndexOptions::builder()
                    .name(EVENT_ID_INDEX.to_owned())
                    .unique(true)
                    .build(),
            )
            .build(),
    ]
}

/// Stored events carrying any of `ids`: the events of a batch already stored (idempotency
/// check), or of a repeated command (`read_events_by_id`).
pub fn events_with_ids(ids: &[Uuid]) -> Document {
    let ids: Vec<Bson> = ids.iter().map(|id| uuid_to_bson(*id)).collect();
    doc! { fields::EVENT_ID: { "$in": ids } }
}

/// A stream's events; with [`newest_first`] and limit 1, its current version.
pub fn stream(stream_id: &str) -> Document {
    doc! { fields::STREAM_ID: stream_id }
}

/// Sort: highest stream version first.
pub fn newest_first() -> Document {
    doc! { fields::STREAM_VERSION: -1 }
}

/// Projection: only the stream version.
pub fn version_only() -> Document {
    doc! { fields::STREAM_VERSION: 1, fields::POSITION: 0 }
}

/// A stream's events from `from_version` on (sorted with [`by_version`]).
pub fn stream_from(stream_id: &str, from_version: i64) -> Document {
    doc! { fields::STREAM_ID: stream_id, fields::STREAM_VERSION: { "$gte": from_version } }
}

/// Sort: stream version ascending (served by the unique stream index).
pub fn by_version() -> Document {
    doc! { fields::STREAM_VERSION: 1 }
}

/// The global log from `from_position` on (sorted with [`by_position`]).
pub fn log_from(from_position: i64) -> Document {
    doc! { fields::POSITION: { "$gte": from_position } }
}

/// Sort: global position ascending (the `_id` index).
pub fn by_position() -> Document {
    doc! { fields::POSITION: 1 }
}

/// Sort: global position descending, for the head.
pub fn last_position_first() -> Document {
    doc! { fields::POSITION: -1 }
}

/// Projection: only the position.
pub fn position_only() -> Document {
    doc! { fields::POSITION: 1 }
}

/// The position counter document.
pub fn position_counter() -> Document {
    doc! { "_id": POSITION_COUNTER_ID }
}

/// Allocates `count` positions: the updated counter holds the last one.
pub fn allocate_positions(count: i64) -> Document {
    doc! { "$inc": { COUNTER_VALUE: count } }
}

/// Creates the counter, or raises it to the log's head (never lowers it).
pub fn seed_counter(head: i64) -> Document {
    doc! { "$max": { COUNTER_VALUE: head } }
}

/// The snapshot of a stream, matched only if the stored one is not newer than `version`.
/// Used with upsert: when a newer snapshot exists, the upsert's insert hits the `_id`
/// index (duplicate key), which the store reads as "keep the newer one".
pub fn snapshot_not_newer_than(stream_id: &str, version: i64) -> Document {
    doc! { "_id": stream_id, "version": { "$lte": version } }
}

/// A document by its `_id` (snapshots, checkpoints).
pub fn by_id(id: &str) -> Document {
    doc! { "_id": id }
}

/// The refusal recorded for a command id (the `_id` of the refusals collection).
pub fn refusal_of(command_id: Uuid) -> Document {
    doc! { "_id": uuid_to_bson(command_id) }
}

/// Sets a checkpoint.
pub fn set_checkpoint(position: i64) -> Document {
    doc! { "$set": { CHECKPOINT_POSITION: position } }
}

/// The change stream pipeline feeding wake-ups: inserts only, without the full document.
/// (`_id`, `operationType` and `ns` must stay for the driver to resume.)
pub fn change_stream_pipeline() -> Vec<Document> {
    vec![
        doc! { "$match": { "operationType": "insert" } },
        doc! { "$project": { "fullDocument": 0 } },
    ]
}

/// What kind of deployment a `hello` reply describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deployment {
    /// A replica set member (transactions supported).
    ReplicaSet {
        /// The set's name.
        name: String,
    },
    /// A `mongos` router (transactions supported).
    Sharded,
    /// A standalone `mongod` (no transactions).
    Standalone,
}

/// Reads the deployment kind from a `hello` reply.
pub fn deployment_of(hello: &Document) -> Deployment {
    if let Ok(name) = hello.get_str("setName") {
        Deployment::ReplicaSet {
            name: name.to_owned(),
        }
    } else if hello.get_str("msg") == Ok("isdbgrid") {
        Deployment::Sharded
    } else {
        Deployment::Standalone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_unique_stream_version_and_event_id_indexes() {
        let indexes = event_indexes();
        assert_eq!(indexes.len(), 2);
        assert_eq!(
            indexes[0].keys,
            doc! { "stream_id": 1, "stream_version": 1 }
        );
        assert_eq!(indexes[1].keys, doc! { "event_id": 1 });
        for (index, name) in indexes.iter().zip([STREAM_VERSION_INDEX, EVENT_ID_INDEX]) {
            let options = index.options.as_ref().expect("options");
            assert_eq!(options.unique, Some(true));
            assert_eq!(options.name.as_deref(), Some(name));
        }
    }

    #[test]
    fn idempotency_lookup_matches_uuid_binaries() {
        let id = Uuid::now_v7();
        let filter = events_with_ids(&[id]);
        assert_eq!(filter, doc! { "event_id": { "$in": [uuid_to_bson(id)] } });
    }

    #[test]
    fn stream_reads_are_by_version() {
        assert_eq!(
            stream_from("Order-1", 3),
            doc! { "stream_id": "Order-1", "stream_version": { "$gte": 3i64 } }
        );
        assert_eq!(by_version(), doc! { "stream_version": 1 });
        assert_eq!(stream("Order-1"), doc! { "stream_id": "Order-1" });
        assert_eq!(newest_first(), doc! { "stream_version": -1 });
    }

    #[test]
    fn log_reads_are_by_position_beyond_i32() {
        let from = i64::from(i32::MAX) + 10;
        assert_eq!(log_from(from), doc! { "_id": { "$gte": 2_147_483_657i64 } });
        assert_eq!(by_position(), doc! { "_id": 1 });
        assert_eq!(last_position_first(), doc! { "_id": -1 });
    }

    #[test]
    fn positions_are_allocated_by_incrementing_one_counter() {
        assert_eq!(position_counter(), doc! { "_id": "global_position" });
        assert_eq!(
            allocate_positions(100),
            doc! { "$inc": { "last_position": 100i64 } }
        );
        assert_eq!(seed_counter(7), doc! { "$max": { "last_position": 7i64 } });
    }

    #[test]
    fn snapshot_upsert_only_replaces_older_snapshots() {
        assert_eq!(
            snapshot_not_newer_than("A-1", 10),
            doc! { "_id": "A-1", "version": { "$lte": 10i64 } }
        );
    }

    #[test]
    fn refusals_are_found_by_the_command_id_binary() {
        let id = Uuid::now_v7();
        assert_eq!(refusal_of(id), doc! { "_id": uuid_to_bson(id) });
    }

    #[test]
    fn checkpoints_are_set_by_name() {
        assert_eq!(by_id("orders"), doc! { "_id": "orders" });
        assert_eq!(set_checkpoint(5), doc! { "$set": { "position": 5i64 } });
    }

    #[test]
    fn change_stream_keeps_the_fields_needed_to_resume() {
        let pipeline = change_stream_pipeline();
        assert_eq!(
            pipeline[0],
            doc! { "$match": { "operationType": "insert" } }
        );
        let projection = pipeline[1].get_document("$project").unwrap();
        for kept in ["_id", "operationType", "ns", "documentKey"] {
            assert!(
                !projection.contains_key(kept),
                "{kept} must not be projected out"
            );
        }
    }

    #[test]
    fn hello_replies_tell_standalone_from_replica_sets() {
        assert_eq!(
            deployment_of(&doc! { "isWritablePrimary": true, "setName": "rs0" }),
            Deployment::ReplicaSet { name: "rs0".into() }
        );
        assert_eq!(
            deployment_of(&doc! { "isWritablePrimary": true, "msg": "isdbgrid" }),
            Deployment::Sharded
        );
        assert_eq!(
            deployment_of(&doc! { "isWritablePrimary": true }),
            Deployment::Standalone
        );
    }
}
