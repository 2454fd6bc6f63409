//! The lease a spawned projection runner works under
//! ([`ProjectionRunner::with_lease`](super::ProjectionRunner::with_lease),
//! [`TransactionalRunner::with_lease`](super::TransactionalRunner::with_lease)): taken
//! before each batch, kept while it works, given up when the runner stops; the role it
//! implies is published in [`ProjectionProgress::role`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::attempts::Attempts;
use super::{ProjectionProgress, RunnerError};
use crate::command::RetryPolicy;
use crate::lease::{holder_id, Lease, LeaseConfig, LeaseStore};
use crate::worker::{sleep_or_stop, stop_requested, LeaseHolder, LeaseRole, WorkerContext};

/// A runner's lease as configured, before the runner starts.
pub(super) struct LeaseSetup {
    pub store: Arc<dyn LeaseStore>,
    pub config: LeaseConfig,
    /// `None`: [`holder_id`] of this process.
    pub holder: Option<Arc<str>>,
    /// A shard's runner: whether this instance is assigned the shard now (see
    /// [`super::shard`]). It takes the lease only while assigned, and gives it up when the
    /// assignment moves to another instance.
    pub assigned: Option<watch::Receiver<bool>>,
}

impl LeaseSetup {
    /// The lease named `name` (the projection's name), ready for the runner's loop.
    pub fn start(self, name: &str) -> RunnerLease {
        let holder = self.holder.unwrap_or_else(|| holder_id().into());
        RunnerLease {
            holder: LeaseHolder::new(self.store, name, holder, self.config),
            assigned: self.assigned,
        }
    }
}

/// A runner's lease as its builder collects it: where and how (`with_lease`) and who
/// (`with_lease_holder`), given in either order.
#[derive(Default)]
pub(super) struct LeaseChoice {
    setup: Option<LeaseSetup>,
    holder: Option<Arc<str>>,
}

impl LeaseChoice {
    /// The lease is kept by `store` under `config`.
    pub fn keep_in(&mut self, store: Arc<dyn LeaseStore>, config: LeaseConfig) {
        self.setup = Some(LeaseSetup {
            store,
            config,
            holder: None,
            assigned: None,
        });
    }

    /// The lease is taken as `holder`.
    pub fn hold_as(&mut self, holder: Arc<str>) {
        self.holder = Some(holder);
    }

    /// The lease is `setup` (a shard's, with its assignment).
    pub fn set(&mut self, setup: LeaseSetup) {
        self.setup = Some(setup);
    }

    /// Whether the runner works under a lease.
    pub fn is_some(&self) -> bool {
        self.setup.is_some()
    }

    /// The lease to start, with its holder.
    pub fn take(&mut self) -> Option<LeaseSetup> {
        let mut setup = self.setup.take()?;
        if setup.holder.is_none() {
            setup.holder = self.holder.take();
        }
        Some(setup)
    }
}

/// What [`RunnerLease::hold`] found.
pub(super) enum Held {
    /// The lease is held; `taken` when it was just taken (the runner stood by before, and
    /// another instance may have moved the checkpoint meanwhile).
    Lease { lease: Lease, taken: bool },
    /// A shutdown was requested while standing by.
    Stopped,
}

/// A running runner's lease: a [`LeaseHolder`] that also publishes the role.
pub(super) struct RunnerLease {
    holder: LeaseHolder,
    assigned: Option<watch::Receiver<bool>>,
}

impl RunnerLease {
    /// Before each batch: keeps the lease while it is held (renewing it when due), else
    /// stands by until it can be taken or a stop is requested. Store errors are retried
    /// like the runner's others: transient ones for as long as they last, permanent ones
    /// `retry.max_attempts` times in all.
    pub async fn hold(
        &mut self,
        ctx: &WorkerContext<ProjectionProgress>,
        stop: &mut watch::Receiver<bool>,
        retry: &RetryPolicy,
    ) -> Result<Held, RunnerError> {
        let mut attempts = Attempts::default();
        loop {
            let was_leader = self.holder.role() == LeaseRole::Leader;
            let assigned = self.is_assigned();
            let outcome = match &mut self.assigned {
                _ if was_leader && !assigned => {
                    tracing::info!(
                        lease = self.holder.name(),
                        "shard assigned to another instance: handing it over"
                    );
                    // Standby before the release: never reported as leader once another
                    // instance may hold the lease.
                    publish(ctx, LeaseRole::Standby);
                    self.holder.release().await;
                    continue;
                }
                _ if was_leader => self.holder.keep().await,
                None => self.holder.hold(stop).await,
                Some(assigned) => match wait_for_assignment(assigned, stop).await {
                    Waited::Stopped => return Ok(Held::Stopped),
                    Waited::Assigned => match self.holder.try_take().await {
                        Ok(None) => {
                            // Its previous holder has not handed it over yet.
                            let retry = self.holder.config().retry_every;
                            if sleep_or_stop(retry, stop).await {
                                return Ok(Held::Stopped);
                            }
                            continue;
                        }
                        taken => taken,
                    },
                },
            };
            let error = match outcome {
                Ok(Some(lease)) => {
                    let lease = lease.clone();
                    publish(ctx, LeaseRole::Leader);
                    return Ok(Held::Lease {
                        lease,
                        taken: !was_leader,
                    });
                }
                // Lost at renewal: publish it, then stand by on the next turn.
                Ok(None) if was_leader => {
                    publish(ctx, LeaseRole::Standby);
                    continue;
                }
                Ok(None) => return Ok(Held::Stopped),
                Err(error) => error,
            };
            publish(ctx, self.holder.role());
            let Some(attempt) = attempts.failed(error.kind(), retry) else {
                return Err(RunnerError::Store {
                    projection: self.holder.name().to_owned(),
                    source: error,
                });
            };
            tracing::warn!(projection = self.holder.name(), %error, attempt, "lease store failed, retrying");
            if sleep_or_stop(retry.backoff(attempt), stop).await {
                return Ok(Held::Stopped);
            }
        }
    }

    fn is_assigned(&self) -> bool {
        self.assigned
            .as_ref()
            .map_or(true, |assigned| *assigned.borrow())
    }

    /// The store that keeps the lease (and fences the checkpoint).
    pub fn store(&self) -> &Arc<dyn LeaseStore> {
        self.holder.store()
    }

    /// A fenced write was refused: another instance holds the lease now. The runner
    /// stands by from its next batch on.
    pub fn deposed(&mut self, ctx: &WorkerContext<ProjectionProgress>) {
        self.holder.lost();
        publish(ctx, LeaseRole::Standby);
    }

    /// Gives the lease up as the runner stops, so a standby takes over at once.
    pub async fn release(&mut self, ctx: &WorkerContext<ProjectionProgress>) {
        publish(ctx, LeaseRole::Standby);
        self.holder.release().await;
    }

    /// How long an idle leader may wait for new events: its idle poll, but never past its
    /// next renewal.
    pub fn idle_wait(&self, idle_poll: Duration) -> Duration {
        idle_poll.min(self.holder.config().renew_every)
    }
}

enum Waited {
    Assigned,
    Stopped,
}

/// Waits until this instance is assigned the shard, or a stop. An assignment that can no
/// longer change (the shard set stopped assigning) counts as a stop.
async fn wait_for_assignment(
    assigned: &mut watch::Receiver<bool>,
    stop: &mut watch::Receiver<bool>,
) -> Waited {
    if *stop.borrow() {
        return Waited::Stopped;
    }
    tokio::select! {
        result = assigned.wait_for(|assigned| *assigned) => match result {
            Ok(_) => Waited::Assigned,
            Err(_) => Waited::Stopped,
        },
        () = stop_requested(stop) => Waited::Stopped,
    }
}

/// Publishes `role` when it changed.
fn publish(ctx: &WorkerContext<ProjectionProgress>, role: LeaseRole) {
    let mut changed = false;
    ctx.report_if(|progress| {
        changed = std::mem::replace(&mut progress.role, role) != role;
        changed
    });
    if changed {
        ctx.report_role(role);
        if role == LeaseRole::Standby {
            super::gauges::forget(ctx.name());
        }
    }
}

/// The role a runner starts in: leader without a lease, standby until it takes one.
pub(super) fn initial_role(lease: &Option<RunnerLease>) -> LeaseRole {
    if lease.is_some() {
        LeaseRole::Standby
    } else {
        LeaseRole::Leader
    }
}

/// The idle wait of a runner that may hold a lease.
pub(super) fn idle_wait(lease: &Option<RunnerLease>, idle_poll: Duration) -> Duration {
    lease
        .as_ref()
        .map_or(idle_poll, |lease| lease.idle_wait(idle_poll))
}
