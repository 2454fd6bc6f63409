//! The relay's lease: with one ([`EventRelay::with_lease`](super::EventRelay::with_lease)),
//! only the instance holding lease `checkpoint_name` publishes, the others stand by; without
//! one, the relay always works (one instance per name, as before).
//!
//! The relay's rules, in the order the relay meets them:
//! 1. [`stand_by`](RelayLease::stand_by) until the lease is taken (then the relay loads the
//!    stored checkpoint and resumes after it);
//! 2. [`keep`](RelayLease::keep) before each batch and after each wait (every wait of a
//!    leased relay ends when the next renewal is due, so an idle relay renews too): the
//!    lease is renewed when due, and a renewal that finds another holder ends the session;
//! 3. checkpoints are [`save`](RelayLease::save)d with the lease's fencing token, and a
//!    refused write ([`FencedWrite::Deposed`]) ends the session at once;
//! 4. [`release`](RelayLease::release) on a graceful stop, so a standby takes over at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use cqrs_core::lease::{FencedWrite, LeaseConfig, LeaseStore};
use cqrs_core::worker::{sleep_or_stop, LeaseHolder, LeaseRole};
use cqrs_core::{EventStore, StoreError};

use super::session::SessionEnd;

/// A lease for a relay: where it is kept and how it is used.
pub(crate) struct LeaseSettings {
    pub(crate) store: Arc<dyn LeaseStore>,
    pub(crate) config: LeaseConfig,
    /// `None`: [`holder_id`](cqrs_core::lease::holder_id) of this process.
    pub(crate) holder: Option<String>,
}

/// Whether the relay may go on publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// The lease is held (or the relay has none): go on.
    Yes,
    /// The lease was lost (another instance holds it now): stop publishing at once.
    Lost,
}

/// The relay's lease, or none.
pub(crate) struct RelayLease {
    holder: Option<LeaseHolder>,
}

impl RelayLease {
    /// The lease `name` per `settings`, or none.
    pub(crate) fn new(name: &str, settings: Option<&LeaseSettings>) -> Self {
        Self {
            holder: settings.map(|s| {
                let holder = s.holder.clone().unwrap_or_else(cqrs_core::lease::holder_id);
                LeaseHolder::new(s.store.clone(), name, holder, s.config)
            }),
        }
    }

    /// Leader while the lease is held (always, without a lease), else standby.
    pub(crate) fn role(&self) -> LeaseRole {
        self.holder.as_ref().map_or(LeaseRole::Leader, |h| h.role())
    }

    /// How long the relay may wait before its next [`keep`](Self::keep): until the
    /// lease's next renewal is due; `None` without a lease (or while it is not held).
    pub(crate) fn renewal_due_in(&self) -> Option<Duration> {
        self.holder.as_ref().and_then(LeaseHolder::renewal_due_in)
    }

    /// Stands by until the lease is held: `Ok(false)` when `stop` came first. A store error
    /// is returned for the caller to retry.
    pub(crate) async fn stand_by(
        &mut self,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, StoreError> {
        match &mut self.holder {
            None => Ok(!*stop.borrow()),
            Some(holder) => Ok(holder.hold(stop).await?.is_some()),
        }
    }

    /// Renews the lease when due. A failed renewal keeps it until its ttl has passed since
    /// the last good one (the store may be briefly unreachable); after that, or when
    /// another instance holds it, it is [`Held::Lost`].
    pub(crate) async fn keep(&mut self) -> Held {
        let Some(holder) = &mut self.holder else {
            return Held::Yes;
        };
        if holder.current().is_none() {
            return Held::Lost;
        }
        let outcome = holder.keep().await.map(|lease| lease.is_some());
        match outcome {
            Ok(true) => Held::Yes,
            Ok(false) => Held::Lost,
            Err(error) if holder.current().is_some() => {
                tracing::warn!(lease = %holder.name(), %error, "cannot renew the relay's lease; still within its ttl, publishing on");
                Held::Yes
            }
            Err(_) => Held::Lost,
        }
    }

    /// Sleeps `delay` (a retry backoff), renewing the lease meanwhile; `Err` when a stop
    /// or the loss of the lease came first.
    pub(crate) async fn sleep(
        &mut self,
        delay: Duration,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), SessionEnd> {
        let mut left = delay;
        loop {
            let step = self.renewal_due_in().map_or(left, |due| due.min(left));
            if sleep_or_stop(step, stop).await {
                return Err(SessionEnd::Stopped);
            }
            if self.keep().await == Held::Lost {
                return Err(SessionEnd::LeaseLost);
            }
            left = left.saturating_sub(step);
            if left.is_zero() {
                return Ok(());
            }
        }
    }

    /// Stores `position` as checkpoint `name`: fenced by the lease when the relay has one
    /// (nothing is written once the lease is lost), plainly otherwise.
    pub(crate) async fn save<S: EventStore + ?Sized>(
        &mut self,
        store: &S,
        name: &str,
        position: u64,
    ) -> Result<Held, StoreError> {
        let Some(holder) = &mut self.holder else {
            store.save_checkpoint(name, position).await?;
            return Ok(Held::Yes);
        };
        let Some(lease) = holder.current() else {
            return Ok(Held::Lost);
        };
        let written = holder
            .store()
            .save_checkpoint_fenced(name, position, lease)
            .await?;
        match written {
            FencedWrite::Written => Ok(Held::Yes),
            FencedWrite::Deposed => {
                tracing::warn!(relay = %name, position, "checkpoint refused: another instance took the relay's lease");
                holder.lost();
                Ok(Held::Lost)
            }
        }
    }

    /// Gives the lease up (a graceful stop), so a standby takes over without waiting.
    pub(crate) async fn release(&mut self) {
        if let Some(holder) = &mut self.holder {
            holder.release().await;
        }
    }
}
