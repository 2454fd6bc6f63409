//! Leases in MongoDB ([`LeaseStore`] for [`MongoEventStore`]): one document per lease in the
//! `leases` collection, `{ _id: name, holder, token, expires_at }`, with expiry by the
//! server's clock (`$$NOW`), so replicas' clocks do not matter.
//!
//! - **acquire** is one `findOneAndUpdate` with upsert whose filter matches only a lease
//!   that is the caller's or expired; a lease held by another makes the upsert collide with
//!   the existing `_id` (duplicate key), which reads as "held". The token grows whenever the
//!   lease changes hands or is taken again after it expired.
//! - **renew** and **release** update the document only under the caller's holder and token.
//! - **fenced checkpoint writes** run in a transaction that first writes the lease document
//!   (matching holder and token): a takeover committed before makes it match nothing
//!   (deposed); one racing it is a write conflict, and the transaction is retried.

use std::time::Duration;

use async_trait::async_trait;
use bson::{doc, Document};
use cqrs_core::lease::{FencedWrite, Lease, LeaseStore, LiveLease};
use cqrs_core::StoreError;
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;

use crate::codec::{get_str, get_u64, u64_to_i64};
use crate::error::{classify, store_error, ErrorClass, ErrorFacts};
use crate::queries;
use crate::store::{
    encode_checkpoint, run_transaction, BodyError, MongoEventStore, Outcome, TransactionBody,
};

fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

/// The filter that matches lease `lease` only while it is held under its token.
pub(crate) fn current(lease: &Lease) -> Result<Document, StoreError> {
    let token = u64_to_i64(lease.token)
        .ok_or_else(|| StoreError::Corrupt(format!("lease token {} out of range", lease.token)))?;
    Ok(doc! { "_id": &*lease.name, "holder": &*lease.holder, "token": token })
}

#[async_trait]
impl LeaseStore for MongoEventStore {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let filter = doc! {
            "_id": name,
            "$expr": { "$or": [
                { "$eq": ["$holder", holder] },
                { "$lte": ["$expires_at", "$$NOW"] },
            ] },
        };
        let still_mine = doc! { "$and": [
            { "$eq": ["$holder", holder] },
            { "$gt": ["$expires_at", "$$NOW"] },
        ] };
        let update = vec![doc! { "$set": {
            "token": { "$cond": [still_mine, "$token", { "$add": [{ "$ifNull": ["$token", 0_i64] }, 1_i64] }] },
            "holder": holder,
            "expires_at": { "$add": ["$$NOW", ttl_millis(ttl)] },
        } }];
        let result = self
            .collections()
            .leases
            .find_one_and_update(filter, update)
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        let document = match result {
            Ok(Some(document)) => document,
            Ok(None) => return Ok(None),
            Err(error) if classify(&ErrorFacts::of(&error)) == ErrorClass::DuplicateKey => {
                return Ok(None)
            }
            Err(error) => return Err(store_error("acquire_lease", error)),
        };
        let token = get_u64(&document, "token")
            .map_err(|e| StoreError::Corrupt(format!("lease `{name}`: {e}")))?;
        Ok(Some(Lease {
            name: name.into(),
            holder: holder.into(),
            token,
            ttl,
        }))
    }

    async fn renew(&self, lease: &Lease) -> Result<bool, StoreError> {
        let update =
            vec![doc! { "$set": { "expires_at": { "$add": ["$$NOW", ttl_millis(lease.ttl)] } } }];
        let result = self
            .collections()
            .leases
            .update_one(current(lease)?, update)
            .await
            .map_err(|e| store_error("renew_lease", e))?;
        Ok(result.matched_count == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let update = vec![doc! { "$set": { "expires_at": "$$NOW" } }];
        self.collections()
            .leases
            .update_one(current(lease)?, update)
            .await
            .map_err(|e| store_error("release_lease", e))?;
        Ok(())
    }

    async fn live_leases(&self, prefix: &str) -> Result<Vec<LiveLease>, StoreError> {
        use futures::TryStreamExt;
        let filter = doc! {
            "_id": { "$regex": format!("^{}", regex_literal(prefix)) },
            "$expr": { "$gt": ["$expires_at", "$$NOW"] },
        };
        let documents: Vec<Document> = self
            .collections()
            .leases
            .find(filter)
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| store_error("live_leases", e))?
            .try_collect()
            .await
            .map_err(|e| store_error("live_leases", e))?;
        documents.iter().map(live_lease).collect()
    }

    async fn save_checkpoint_fenced(
        &self,
        checkpoint: &str,
        position: u64,
        lease: &Lease,
    ) -> Result<FencedWrite, StoreError> {
        let position = encode_checkpoint(checkpoint, position)?;
        let mut body = FencedCheckpoint {
            store: self,
            lease: current(lease)?,
            checkpoint,
            position,
        };
        match run_transaction(
            self.client(),
            self.config().transaction_timeout,
            "save_checkpoint",
            &mut body,
        )
        .await
        {
            Ok(written) => Ok(written),
            Err(BodyError::Store(error)) => Err(error),
            Err(BodyError::Driver(error)) => Err(store_error("save_checkpoint", error)),
        }
    }
}

/// Writes lease document `current` (the filter of [`current`]) in `session`'s transaction:
/// `false` when it matches nothing (another holder took the lease); a takeover racing it
/// is a write conflict with this transaction.
pub(crate) async fn fence(
    leases: &mongodb::Collection<Document>,
    current: Document,
    session: &mut ClientSession,
) -> Result<bool, mongodb::error::Error> {
    let fenced = leases
        .update_one(current, doc! { "$inc": { "fenced_writes": 1_i64 } })
        .session(session)
        .await?;
    Ok(fenced.matched_count == 1)
}

/// `text` as a regular expression that matches exactly it.
fn regex_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn live_lease(document: &Document) -> Result<LiveLease, StoreError> {
    let corrupt = |e: String| StoreError::Corrupt(format!("lease document {document}: {e}"));
    Ok(LiveLease {
        name: get_str(document, "_id").map_err(corrupt)?.into(),
        holder: get_str(document, "holder").map_err(corrupt)?.into(),
        token: get_u64(document, "token").map_err(corrupt)?,
    })
}

struct FencedCheckpoint<'a> {
    store: &'a MongoEventStore,
    lease: Document,
    checkpoint: &'a str,
    position: i64,
}

#[async_trait]
impl TransactionBody for FencedCheckpoint<'_> {
    type Output = FencedWrite;

    async fn run(
        &mut self,
        session: &mut ClientSession,
    ) -> Result<Outcome<FencedWrite>, BodyError> {
        let collections = self.store.collections();
        if !fence(&collections.leases, self.lease.clone(), session).await? {
            return Ok(Outcome::Abort(FencedWrite::Deposed));
        }
        collections
            .checkpoints
            .update_one(
                queries::by_id(self.checkpoint),
                doc! { "$max": { queries::CHECKPOINT_POSITION: self.position } },
            )
            .upsert(true)
            .session(&mut *session)
            .await?;
        Ok(Outcome::Commit(FencedWrite::Written))
    }
}

#[cfg(test)]
mod tests {
    use super::regex_literal;

    #[test]
    fn a_prefix_is_matched_as_plain_text() {
        assert_eq!(
            regex_literal("orders.shard-[1]/*"),
            "orders\\.shard-\\[1\\]/\\*"
        );
        assert_eq!(regex_literal("a\\b"), "a\\\\b");
    }
}
