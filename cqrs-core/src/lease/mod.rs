//! Leases: one instance of a named worker works at a time; the others stand by and take
//! over when it dies.
//!
//! A [`Lease`] is an exclusive, expiring right to run the worker called `name`, held by one
//! `holder` (a process, see [`holder_id`]). The store keeps it, and its clock decides
//! expiry, so replicas' clocks do not matter. Every time the lease changes hands (or is
//! taken again after it expired) its **fencing token** grows. Writes that must come from the
//! current holder only (a checkpoint, a read model's commit) are made conditional on the
//! token ([`LeaseStore::save_checkpoint_fenced`]): a holder that was paused past its expiry
//! and wakes up after another instance took over is [`FencedWrite::Deposed`] and can move
//! nothing, neither backwards nor forwards.
//!
//! A worker loop uses its lease through [`LeaseHolder`](crate::worker::LeaseHolder). The
//! in-memory store's leases live in the process ([`InMemoryEventStore`](crate::InMemoryEventStore));
//! the PostgreSQL and MongoDB stores keep them in their database, so replicas in different
//! processes share them.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use cqrs_core::lease::{FencedWrite, LeaseStore};
//! use cqrs_core::InMemoryEventStore;
//!
//! let store = InMemoryEventStore::new();
//! let ttl = Duration::from_secs(5);
//! let a = store.acquire("relay", "replica-a", ttl).await.unwrap().expect("free");
//! // Another replica stands by while the lease is valid.
//! assert!(store.acquire("relay", "replica-b", ttl).await.unwrap().is_none());
//! assert_eq!(store.save_checkpoint_fenced("relay", 10, &a).await.unwrap(), FencedWrite::Written);
//! store.release(&a).await.unwrap();
//! let b = store.acquire("relay", "replica-b", ttl).await.unwrap().expect("released");
//! assert!(b.token > a.token);
//! // The old holder is fenced out.
//! assert_eq!(store.save_checkpoint_fenced("relay", 99, &a).await.unwrap(), FencedWrite::Deposed);
//! # });
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreError;

/// A held lease: who holds which name, under which fencing token, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The worker's name (the lease key).
    pub name: Arc<str>,
    /// Who holds it.
    pub holder: Arc<str>,
    /// Grows every time the lease changes hands or is taken again after expiring; writes
    /// fenced by the lease are refused under an older token.
    pub token: u64,
    /// How long the lease stays valid after each acquire or renew, by the store's clock.
    pub ttl: Duration,
}

/// A valid lease as [`LeaseStore::live_leases`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLease {
    /// The lease's name.
    pub name: Arc<str>,
    /// Who holds it.
    pub holder: Arc<str>,
    /// Its fencing token.
    pub token: u64,
}

/// What a fenced write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FencedWrite {
    /// The lease is current: the write landed (a checkpoint never moves backwards: a lower
    /// position leaves the stored one as it is).
    Written,
    /// Another holder took the lease since (a higher token): nothing was written, and the
    /// caller must stop working at once.
    Deposed,
}

/// Stores leases with fencing tokens. Implemented by every event store of this workspace.
///
/// # Guarantees (checked by the lease contract in `testing::contract` for every store)
/// - At most one holder has a valid lease of a name at any time.
/// - A lease not renewed within its `ttl` can be taken by another holder; the new token is
///   greater than every token issued for that name before.
/// - Acquiring a lease one already holds renews it and keeps its token.
/// - A fenced write under a token older than the current one is refused and changes nothing.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes lease `name` for `holder`, valid for `ttl`, when it is free, expired or already
    /// `holder`'s (then it is renewed). `None` while another holder's lease is valid.
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError>;

    /// Extends `lease` by its `ttl`. `false` when it is no longer held under its token (it
    /// expired and someone else took it): stop working.
    async fn renew(&self, lease: &Lease) -> Result<bool, StoreError>;

    /// Gives `lease` up, so a standby takes over without waiting for the expiry. Nothing
    /// happens if it is no longer held.
    async fn release(&self, lease: &Lease) -> Result<(), StoreError>;

    /// The leases whose names start with `prefix` that are valid now (by the store's
    /// clock), ordered by name. Sharded projections find their live members with it
    /// ([`ShardedRunner`](crate::projection::shard::ShardedRunner)).
    async fn live_leases(&self, prefix: &str) -> Result<Vec<LiveLease>, StoreError>;

    /// Stores `position` as the checkpoint `checkpoint` if `lease` is still current. The
    /// checkpoint never moves backwards: a position below the stored one leaves it as is
    /// (and is still [`FencedWrite::Written`]); only a rebuild resets it.
    async fn save_checkpoint_fenced(
        &self,
        checkpoint: &str,
        position: u64,
        lease: &Lease,
    ) -> Result<FencedWrite, StoreError>;
}

/// A holder id for this process: host name, process id and a random suffix, so that two
/// runs of one binary on one host (a restart) are different holders.
pub fn holder_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

/// How a worker uses its lease.
///
/// [`LeaseHolder`](crate::worker::LeaseHolder) uses it as [`usable`](Self::usable) makes it:
///
/// ```
/// use std::time::Duration;
/// use cqrs_core::lease::LeaseConfig;
///
/// let odd = LeaseConfig { ttl: Duration::ZERO, renew_every: Duration::from_secs(9), retry_every: Duration::ZERO };
/// let used = odd.usable();
/// assert!(used.renew_every < used.ttl && used.retry_every >= Duration::from_millis(10));
/// let spinning = LeaseConfig { renew_every: Duration::ZERO, ..LeaseConfig::default() }.usable();
/// assert!(spinning.renew_every >= Duration::from_millis(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseConfig {
    /// How long the lease stays valid without a renewal: the longest a dead holder keeps
    /// the others waiting. Default 5 s.
    pub ttl: Duration,
    /// How often the holder renews it (well below `ttl`). Default a third of `ttl`.
    pub renew_every: Duration,
    /// How often a standby tries to take it. Default a third of `ttl`.
    pub retry_every: Duration,
}

impl LeaseConfig {
    /// A lease of `ttl`, renewed and retried every third of it.
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            ttl,
            renew_every: ttl / 3,
            retry_every: ttl / 3,
        }
    }
}

impl LeaseConfig {
    /// This configuration made safe to run: `ttl` at least 20 ms, `renew_every` below
    /// `ttl` (at most half of it, at least 10 ms), `retry_every` at least 10 ms (neither
    /// a holder nor a standby ever spins).
    pub fn usable(self) -> Self {
        let floor = Duration::from_millis(10);
        let ttl = self.ttl.max(2 * floor);
        Self {
            ttl,
            renew_every: self.renew_every.min(ttl / 2).max(floor),
            retry_every: self.retry_every.max(floor),
        }
    }
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self::with_ttl(Duration::from_secs(5))
    }
}
