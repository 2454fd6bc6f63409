//! Sharded projections: one projection split into N shards by stream, so that N replicas
//! share its work instead of one working and the others standing by.
//!
//! # What a shard is
//! Shard `i` of `n` applies the events of the streams whose id hashes to `i`
//! ([`shard_of`]: FNV-1a, fixed forever) and passes over the rest. Each shard has its own
//! checkpoint and its own lease, both named [`Shard::name`]
//! (`{projection}.shard-{i}-of-{n}`), so each moves on its own and fails over on its own.
//! Every shard reads the whole log (the store cannot filter it by hash): sharding splits
//! the work of applying events (the read model's writes), not the reading.
//!
//! # Who runs which shard
//! Spawn the same [`ShardedRunner`] in every replica. Each instance registers under a
//! lease of its own (`{projection}.shards-of-{n}.members/{holder}`), and every
//! `renew_every` it reads the live registrations ([`LeaseStore::live_leases`]) and
//! computes the assignment every instance computes from the same list: shard `s` goes to
//! member `s % members` (members sorted by holder id). It runs the shards assigned to it,
//! each under the shard's lease, and hands over (finishes its batch, releases the lease)
//! the ones no longer assigned to it. The leases keep it safe while instances disagree:
//! a shard's lease has one holder at a time, and a deposed holder cannot commit
//! (transactional runner, exactly once:
//! [`TransactionalRunner::with_lease`](crate::TransactionalRunner::with_lease)) or store its
//! checkpoint (core runner, at least once: a holder paused past its `ttl` may still apply
//! the batch it had in flight, as without shards).
//!
//! - **An instance joins**: within one `renew_every` the others see it; each hands a shard
//!   over at its next batch or idle wake-up (at most `min(idle_poll, renew_every)`), and the
//!   newcomer takes it at its next try (`retry_every`): about one `ttl` in all with the
//!   defaults.
//! - **An instance leaves** gracefully ([`RunningShards::shutdown`]): it deregisters first
//!   and releases its shards; the others take them at their next turn.
//! - **An instance dies**: its registration and its shards' leases expire after `ttl`;
//!   the others take its shards within about `ttl + renew_every + retry_every`.
//! - **A shard runner stops for good** (a permanent failure of the projection): the
//!   instance leaves (its membership worker ends with the reason, see
//!   [`RunningShards::membership`]), so the others take all its shards; they meet the same
//!   event, and stop the same way if it fails for them too.
//! - **More instances than shards**: the extra ones run nothing and stand by.
//!
//! # Ordering
//! What remains is **per-stream order**: a stream's events are applied by one shard, in
//! log order, also across a handover (the next holder resumes from the shard's
//! checkpoint). Across streams of different shards there is no order: shard 0 may have
//! applied position 900 while shard 1 is at 400. A read model that joins streams (a total
//! over all orders, say) sees each shard's streams at their own point; its position as a
//! whole is the lowest of its shards' checkpoints.
//!
//! # Rebuild and resharding
//! [`ShardedRunner::rebuild`] rebuilds the whole projection across its shards
//! (transactional: one transaction under every shard's checkpoint lock). The shard count
//! is part of every shard's name: a projection started with another count has other
//! checkpoints, all at 0, and replays the whole log. **Changing the count (or moving an
//! unsharded projection to shards) is therefore a rebuild**, and not a rolling one: stop
//! every instance running the old count (their leases and checkpoints have other names,
//! so nothing fences them), run [`rebuild`](ShardedRunner::rebuild) with the new count,
//! then start the new instances. Otherwise the read model sees events twice.
//!
//! On MongoDB, a rebuild does not wait for running shards: its transaction conflicts with
//! their commits and fails (transiently); stop the instances first there, or retry it.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::{sync::Arc, time::Duration};
//! use async_trait::async_trait;
//! use cqrs_core::projection::shard::ShardedRunner;
//! use cqrs_core::*;
//!
//! /// Counts events per shard (a durable read model would write to a database).
//! struct Counter(u64);
//! #[async_trait]
//! impl Projection for Counter {
//!     type Error = std::convert::Infallible;
//!     fn name(&self) -> &str { "counter" }
//!     fn persistence(&self) -> Persistence { Persistence::Durable }
//!     async fn apply(&mut self, _: &RecordedEvent) -> Result<(), Self::Error> { self.0 += 1; Ok(()) }
//! }
//!
//! let store = Arc::new(InMemoryEventStore::new());
//! for n in 0..20 {
//!     let e = NewEvent::raw("Pinged", 1, JsonPayload::parse("{}").unwrap());
//!     store.append(&format!("Ping-{n}"), ExpectedVersion::Any, vec![e], &Metadata::default()).await.unwrap();
//! }
//! let running = ShardedRunner::projection(store.clone(), store.clone(), 4, |_shard| Counter(0)).spawn();
//! for shard in running.shards() {
//!     shard.wait_until_caught_up(Duration::from_secs(5)).await.unwrap();
//! }
//! assert_eq!(running.led(), vec![0, 1, 2, 3]); // the only instance runs every shard
//! let counters = running.shutdown().await.unwrap();
//! assert_eq!(counters.iter().map(|c| c.0).sum::<u64>(), 20); // each event applied once
//! # });
//! ```
//!
//! [`LeaseStore::live_leases`]: crate::lease::LeaseStore::live_leases

mod members;
mod runner;
mod running;
mod sharded;

pub use members::ShardMembership;
pub use runner::ShardedRunner;
pub use running::RunningShards;
pub use sharded::{shard_of, Shard, Sharded};
