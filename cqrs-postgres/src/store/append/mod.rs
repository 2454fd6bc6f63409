//! The append path: how an append to PostgreSQL checks the expected version, writes its
//! batch and answers. Every way of appending follows it: [`PgEventStore::append`]
//! (directly, or queued to the coalescer, whose fallback is the direct path) and
//! [`PgTransaction::append`].
//!
//! # Steps
//! 1. **Validate** ([`Batch::prepare`], `batch.rs`): cqrs-core's
//!    [`validate_append`](cqrs_core::store::validate_append) (limits, NUL characters, an id
//!    twice within the batch), then what the columns cannot hold (a schema version beyond
//!    `integer`). A refused batch never reaches the server.
//! 2. **Encode** ([`Batch`]): the events as parallel arrays, the metadata as JSON text, and
//!    the [`ExpectedVersion`](cqrs_core::ExpectedVersion) as the range of current versions
//!    it accepts ([`Batch::accepted_versions`], the only encoding of it).
//! 3. **Run `append.sql`** ([`Batch::run`]): one statement reads the stream's current
//!    version, checks it against that range (`BETWEEN`) and inserts the whole batch, or
//!    nothing. An empty batch only reads the version (`stream_version.sql`) and checks it.
//! 4. **Decode the outcome** ([`Batch::decode`]): appended (positions, payloads as stored),
//!    or rejected with the actual version; a row this store cannot have written is
//!    `Corrupt`.
//! 5. **Resolve a rejected batch** ([`resolve_rejected`], `resolve.rs`): the batch's ids are
//!    looked up (`find_by_ids.sql`); if some are stored, cqrs-core's
//!    [`resolve_stored_ids`](cqrs_core::store::resolve_stored_ids) decides between a retried
//!    batch (the original, `deduplicated`) and a reused id (`DuplicateEventId`); else it is
//!    a `Conflict` with the actual version.
//! 6. **A lost race** (`after_lost_race`, the one policy for every path): the insert hit a
//!    unique violation on `(stream_id, stream_version)` or `event_id` because a concurrent
//!    writer committed first. The ids are looked up as in step 5, and stored ids decide as
//!    there. Otherwise, when the append asked for no version check (`Any`) or the writer
//!    holding its id rolled back, trying again can succeed; else the stream moved on:
//!    `Conflict`, with the version read again.
//!
//! # The paths
//! - **Direct** ([`append_direct`], `direct.rs`): each attempt runs on a pooled connection
//!   in autocommit, bounded by the call timeout. A lost race that step 6 says can succeed
//!   is retried (up to 64 attempts, with a short backoff); a dead connection is purged and
//!   retried up to `retries` times. A commit is announced to listeners.
//! - **In a transaction** ([`append_in_transaction`], `in_transaction.rs`): the ids are
//!   looked up before step 3, so a retried batch is answered without a unique violation
//!   (which would abort the caller's transaction). A failed statement does abort it, so
//!   nothing is retried: a reused id stays `DuplicateEventId`, anything else step 6 finds
//!   is a `Conflict` (transient: the same batch retried in a new transaction comes back
//!   `deduplicated` if it was stored).
//! - **Coalesced** (`store/coalesce`): one statement, `append_many.sql`, runs steps 3 and 4
//!   for the batches of several callers; a rejected batch goes through step 5, and when the
//!   statement fails as a whole each batch is appended alone on the direct path.
//!
//! [`PgEventStore::append`]: crate::PgEventStore
//! [`PgTransaction::append`]: crate::PgTransaction::append

mod batch;
mod direct;
mod in_transaction;
mod resolve;

pub(crate) use batch::{Batch, Outcome};
pub(crate) use direct::append_direct;
pub(crate) use in_transaction::{append_in_transaction, Aborted};
pub(crate) use resolve::resolve_rejected;
