//! The store's SQL, rendered once per store for its schema.
//!
//! The `.sql` files beside this module, and those beside the code that runs them
//! (`append/`, `coalesce/`), hold the statements with `{schema}` placeholders and a comment
//! on the guarantee each gives. Rendering once keeps the strings stable, so sqlx's
//! per-connection prepared statement cache hits on every call.

use crate::schema::SchemaName;

/// Every statement the store runs, for one schema.
#[derive(Debug)]
pub(crate) struct Statements {
    pub append: String,
    pub append_many: String,
    pub stream_version: String,
    pub find_by_ids: String,
    pub read_stream: String,
    pub load_stream: String,
    pub read_all: String,
    pub head_position: String,
    pub load_snapshot: String,
    pub save_snapshot: String,
    pub load_checkpoint: String,
    pub save_checkpoint: String,
    pub record_refusal: String,
    pub load_refusal: String,
    pub lock_checkpoint: String,
    pub acquire_lease: String,
    pub renew_lease: String,
    pub release_lease: String,
    pub live_leases: String,
    pub fenced_checkpoint: String,
    pub fence_lease: String,
}

impl Statements {
    pub(crate) fn new(schema: &SchemaName) -> Self {
        Self {
            append: schema.render(include_str!("append/append.sql")),
            append_many: schema.render(include_str!("coalesce/append_many.sql")),
            stream_version: schema.render(include_str!("append/stream_version.sql")),
            find_by_ids: schema.render(include_str!("append/find_by_ids.sql")),
            read_stream: schema.render(include_str!("read_stream.sql")),
            load_stream: schema.render(include_str!("load_stream.sql")),
            read_all: schema.render(include_str!("read_all.sql")),
            head_position: schema.render(include_str!("head_position.sql")),
            load_snapshot: schema.render(include_str!("load_snapshot.sql")),
            save_snapshot: schema.render(include_str!("save_snapshot.sql")),
            load_checkpoint: schema.render(include_str!("load_checkpoint.sql")),
            save_checkpoint: schema.render(include_str!("save_checkpoint.sql")),
            record_refusal: schema.render(include_str!("record_refusal.sql")),
            load_refusal: schema.render(include_str!("load_refusal.sql")),
            lock_checkpoint: schema.render(include_str!("../projection/lock_checkpoint.sql")),
            acquire_lease: schema.render(include_str!("../lease/acquire.sql")),
            renew_lease: schema.render(include_str!("../lease/renew.sql")),
            release_lease: schema.render(include_str!("../lease/release.sql")),
            live_leases: schema.render(include_str!("../lease/live.sql")),
            fenced_checkpoint: schema.render(include_str!("../lease/fenced_checkpoint.sql")),
            fence_lease: schema.render(include_str!("../projection/fence.sql")),
        }
    }
}
