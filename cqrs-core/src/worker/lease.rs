//! [`LeaseHolder`]: what a worker loop calls before each unit of work, so that it works only
//! while it holds its lease and stands by otherwise.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::sleep_or_stop;
use crate::error::StoreError;
use crate::lease::{Lease, LeaseConfig, LeaseStore};

/// Whether a worker holds its lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeaseRole {
    /// It holds the lease and works.
    Leader,
    /// Another instance holds the lease (or none could be taken yet): it waits.
    #[default]
    Standby,
}

impl std::fmt::Display for LeaseRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LeaseRole::Leader => "leader",
            LeaseRole::Standby => "standby",
        })
    }
}

/// Takes, renews and gives up one named lease on behalf of a worker loop.
///
/// Call [`hold`](Self::hold) before each batch: it returns at once with the lease while it
/// is held (renewing it when due), and otherwise stands by, trying again every
/// [`LeaseConfig::retry_every`](crate::lease::LeaseConfig::retry_every), until the lease is taken or a stop is requested. When a
/// fenced write says [`Deposed`](crate::lease::FencedWrite::Deposed), call
/// [`lost`](Self::lost): the next `hold` stands by again.
///
/// A renewal that fails (the database unreachable) keeps the lease only until its `ttl`
/// since the last successful renewal has passed; after that the holder assumes it is lost,
/// since another instance may have taken it.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use cqrs_core::lease::LeaseConfig;
/// use cqrs_core::worker::{LeaseHolder, LeaseRole};
/// use cqrs_core::InMemoryEventStore;
///
/// let store = Arc::new(InMemoryEventStore::new());
/// let (_stop_tx, mut stop) = tokio::sync::watch::channel(false);
/// let mut holder = LeaseHolder::new(store, "relay", "replica-a", LeaseConfig::default());
/// let lease = holder.hold(&mut stop).await.unwrap().expect("not stopped");
/// assert_eq!(lease.token, 1);
/// assert_eq!(holder.role(), LeaseRole::Leader);
/// # });
/// ```
pub struct LeaseHolder {
    store: Arc<dyn LeaseStore>,
    name: Arc<str>,
    holder: Arc<str>,
    config: LeaseConfig,
    lease: Option<Lease>,
    /// When the lease was last taken or renewed.
    confirmed_at: Instant,
}

impl std::fmt::Debug for LeaseHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseHolder")
            .field("name", &self.name)
            .field("holder", &self.holder)
            .field("lease", &self.lease)
            .finish()
    }
}

impl LeaseHolder {
    /// A holder of lease `name` for `holder` (see [`holder_id`](crate::lease::holder_id)).
    pub fn new(
        store: Arc<dyn LeaseStore>,
        name: impl Into<Arc<str>>,
        holder: impl Into<Arc<str>>,
        config: LeaseConfig,
    ) -> Self {
        Self {
            store,
            name: name.into(),
            holder: holder.into(),
            config: config.usable(),
            lease: None,
            confirmed_at: Instant::now(),
        }
    }

    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configuration in use ([`LeaseConfig::usable`] of the one given).
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// Where the lease is kept: fenced writes under it go there too.
    pub fn store(&self) -> &Arc<dyn LeaseStore> {
        &self.store
    }

    /// Leader while a lease is held, else standby.
    pub fn role(&self) -> LeaseRole {
        if self.lease.is_some() {
            LeaseRole::Leader
        } else {
            LeaseRole::Standby
        }
    }

    /// While the lease is held: how long until its next renewal is due (at least 10 ms,
    /// so that a loop retrying a failed renewal does not spin). A loop that waits between
    /// [`keep`](Self::keep)s waits at most this long, so the lease is renewed on time
    /// however the waits fall. `None` while no lease is held.
    pub fn renewal_due_in(&self) -> Option<Duration> {
        self.lease.as_ref().map(|_| {
            self.config
                .renew_every
                .saturating_sub(self.confirmed_at.elapsed())
                .max(Duration::from_millis(10))
        })
    }

    /// The lease, while held.
    pub fn current(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// Returns the lease once held: at once while it is (renewed when due), else after
    /// standing by until it can be taken. `Ok(None)` when `stop` turned true first. A
    /// store error while standing by is returned; the caller retries it like any other.
    pub async fn hold(
        &mut self,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<&Lease>, StoreError> {
        let mut waiting_logged = false;
        loop {
            if self.lease.is_none() && *stop.borrow() {
                return Ok(None);
            }
            if self.try_take().await?.is_some() {
                return Ok(self.lease.as_ref());
            }
            if !waiting_logged {
                tracing::info!(lease = %self.name, holder = %self.holder, "lease held by another instance: standing by");
                waiting_logged = true;
            }
            if sleep_or_stop(self.config.retry_every, stop).await {
                return Ok(None);
            }
        }
    }

    /// One try: the lease while it is held (renewed when due), else one attempt to take
    /// it, without standing by. `Ok(None)` while another instance holds it. For a loop
    /// that decides itself when to try again (a shard waits for its assignment too).
    pub async fn try_take(&mut self) -> Result<Option<&Lease>, StoreError> {
        if self.lease.is_some() {
            self.renew_if_due().await?;
            if self.lease.is_some() {
                return Ok(self.lease.as_ref());
            }
        }
        // The store counts the expiry from when it ran the call, so this side counts
        // from before it: the holder never believes in a lease the store let lapse.
        let asked_at = Instant::now();
        match self
            .store
            .acquire(&self.name, &self.holder, self.config.ttl)
            .await?
        {
            Some(lease) => {
                tracing::info!(lease = %self.name, holder = %self.holder, token = lease.token, "lease taken: working");
                self.confirmed_at = asked_at;
                self.lease = Some(lease);
                Ok(self.lease.as_ref())
            }
            None => Ok(None),
        }
    }

    /// While the lease is held: renews it when due and returns it, without ever standing
    /// by. `Ok(None)` when it is not held (never taken, or lost at this renewal): then
    /// [`hold`](Self::hold) stands by. For a loop that must publish the loss of its lease
    /// before it waits.
    pub async fn keep(&mut self) -> Result<Option<&Lease>, StoreError> {
        self.renew_if_due().await?;
        Ok(self.lease.as_ref())
    }

    async fn renew_if_due(&mut self) -> Result<(), StoreError> {
        let Some(lease) = &self.lease else {
            return Ok(());
        };
        if self.confirmed_at.elapsed() < self.config.renew_every {
            return Ok(());
        }
        let asked_at = Instant::now();
        match self.store.renew(lease).await {
            Ok(true) => {
                self.confirmed_at = asked_at;
                Ok(())
            }
            Ok(false) => {
                self.lost();
                Ok(())
            }
            Err(error) if self.confirmed_at.elapsed() >= self.config.ttl => {
                tracing::warn!(lease = %self.name, %error, "lease could not be renewed within its ttl: assuming it lost");
                self.lost();
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// The lease is gone (a fenced write was refused, or a renewal found another holder):
    /// stop working; the next [`hold`](Self::hold) stands by.
    pub fn lost(&mut self) {
        if let Some(lease) = self.lease.take() {
            tracing::warn!(lease = %self.name, holder = %self.holder, token = lease.token, "lease lost to another instance: standing by");
        }
    }

    /// Gives the lease up (on a graceful stop), so a standby takes over at once.
    pub async fn release(&mut self) {
        if let Some(lease) = self.lease.take() {
            match self.store.release(&lease).await {
                Ok(()) => {
                    tracing::info!(lease = %self.name, holder = %self.holder, "lease released")
                }
                Err(error) => {
                    tracing::warn!(lease = %self.name, %error, "cannot release the lease; it expires after its ttl")
                }
            }
        }
    }

    /// The time a standby waits at most after the holder died: the lease's `ttl` plus one
    /// retry interval.
    pub fn failover_bound(&self) -> Duration {
        self.config.ttl + self.config.retry_every
    }
}
