//! Leases kept in process memory, for the in-memory store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;

use super::InMemoryEventStore;
use crate::error::StoreError;
use crate::lease::{FencedWrite, Lease, LeaseStore, LiveLease};

#[derive(Debug)]
struct Held {
    holder: Arc<str>,
    token: u64,
    expires_at: Instant,
}

/// The leases of one in-memory store, by name. Expiry follows tokio's clock, so tests can
/// pause time.
#[derive(Debug, Default)]
pub(crate) struct InMemoryLeases {
    held: Mutex<HashMap<Arc<str>, Held>>,
}

impl InMemoryLeases {
    pub(crate) fn acquire(&self, name: &str, holder: &str, ttl: Duration) -> Option<Lease> {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let token = match held.get(name) {
            Some(h) if &*h.holder == holder && h.expires_at > now => h.token,
            Some(h) if h.expires_at > now => return None,
            Some(h) => h.token + 1,
            None => 1,
        };
        let (name, holder): (Arc<str>, Arc<str>) = (Arc::from(name), Arc::from(holder));
        held.insert(
            name.clone(),
            Held {
                holder: holder.clone(),
                token,
                expires_at: now + ttl,
            },
        );
        Some(Lease {
            name,
            holder,
            token,
            ttl,
        })
    }

    pub(crate) fn renew(&self, lease: &Lease) -> bool {
        let now = Instant::now();
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match held.get_mut(&lease.name) {
            Some(h) if h.token == lease.token && h.holder == lease.holder => {
                h.expires_at = now + lease.ttl;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn release(&self, lease: &Lease) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = held.get_mut(&lease.name) {
            if h.token == lease.token && h.holder == lease.holder {
                // Expired now; the token stays, so the next holder's is greater.
                h.expires_at = Instant::now();
            }
        }
    }

    pub(crate) fn live(&self, prefix: &str) -> Vec<LiveLease> {
        let now = Instant::now();
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut live: Vec<LiveLease> = held
            .iter()
            .filter(|(name, h)| name.starts_with(prefix) && h.expires_at > now)
            .map(|(name, h)| LiveLease {
                name: name.clone(),
                holder: h.holder.clone(),
                token: h.token,
            })
            .collect();
        live.sort_by(|a, b| a.name.cmp(&b.name));
        live
    }

    /// True when `lease` is the current one (its token is the latest issued). Runs `write`
    /// under the lease table's lock, so no takeover happens in between.
    pub(crate) fn while_current<T>(&self, lease: &Lease, write: impl FnOnce() -> T) -> Option<T> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match held.get(&lease.name) {
            Some(h) if h.token == lease.token && h.holder == lease.holder => Some(write()),
            _ => None,
        }
    }
}

#[async_trait]
impl LeaseStore for InMemoryEventStore {
    async fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        Ok(self.leases.acquire(name, holder, ttl))
    }

    async fn renew(&self, lease: &Lease) -> Result<bool, StoreError> {
        Ok(self.leases.renew(lease))
    }

    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        self.leases.release(lease);
        Ok(())
    }

    async fn live_leases(&self, prefix: &str) -> Result<Vec<LiveLease>, StoreError> {
        Ok(self.leases.live(prefix))
    }

    async fn save_checkpoint_fenced(
        &self,
        checkpoint: &str,
        position: u64,
        lease: &Lease,
    ) -> Result<FencedWrite, StoreError> {
        Ok(self
            .leases
            .while_current(lease, || self.advance_checkpoint(checkpoint, position))
            .map_or(FencedWrite::Deposed, |()| FencedWrite::Written))
    }
}
