//! What every operation of one store shares: the pool, the rendered statements, the
//! configuration, and the wake-up tasks, started on first use (the listener and fallback
//! poll by the first `subscribe`, the announcer by the first commit).
//!
//! The append path, the coalescer's writers and open transactions hold it (in an `Arc`),
//! never the [`PgEventStore`](crate::PgEventStore) itself, so dropping the last store
//! handle stops the coalescer's writers.

use std::sync::{Arc, OnceLock};

use cqrs_core::{PositionNotifier, PositionWatch};
use sqlx::postgres::PgPool;

use super::statements::Statements;
use super::timeout::CallTimeout;
use super::wakeup::{Announcer, WakeupSource, WakeupTasks};
use crate::config::PgEventStoreConfig;
use crate::position::MAX_EVENTS_PER_TRANSACTION;

/// One store's pool, statements, configuration and wake-up tasks.
pub(crate) struct StoreContext {
    pub(crate) pool: PgPool,
    pub(crate) sql: Statements,
    pub(crate) config: PgEventStoreConfig,
    channel: String,
    notifier: PositionNotifier,
    wakeups: OnceLock<WakeupTasks>,
    announcer: OnceLock<Announcer>,
}

impl StoreContext {
    /// The context of a store on `pool`. `config.limits.max_batch_len` is lowered to 2^20,
    /// the most events one transaction can append.
    pub(crate) fn new(pool: PgPool, mut config: PgEventStoreConfig) -> Self {
        let limits = &mut config.limits;
        limits.max_batch_len = limits.max_batch_len.min(MAX_EVENTS_PER_TRANSACTION);
        Self {
            pool,
            sql: Statements::new(&config.schema),
            channel: config.schema.notify_channel(),
            config,
            notifier: PositionNotifier::new(),
            wakeups: OnceLock::new(),
            announcer: OnceLock::new(),
        }
    }

    /// The bound of one call ([`PgEventStoreConfig::call_timeout`]).
    pub(crate) fn call_timeout(&self) -> CallTimeout {
        CallTimeout(self.config.call_timeout)
    }

    /// Announces committed events up to `position` to listeners (other processes and this
    /// one), after commit and coalesced; a no-op when wake-ups are off or outside a runtime.
    pub(crate) fn announce(&self, position: u64) {
        if !self.config.wakeups.listen {
            return;
        }
        if self.announcer.get().is_none() {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            // A concurrent caller may win; the loser's task is aborted when dropped.
            let _ = self.announcer.set(Announcer::start(
                self.pool.clone(),
                self.channel.clone(),
                &runtime,
            ));
        }
        if let Some(announcer) = self.announcer.get() {
            announcer.announce(position);
        }
    }

    /// A watch of the gap-safe head; the first call starts the listener and the fallback
    /// poll (outside a tokio runtime it cannot, and readers fall back to their own
    /// polling).
    pub(crate) fn subscribe(&self) -> PositionWatch {
        if self.wakeups.get().is_none() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let source = WakeupSource {
                        pool: self.pool.clone(),
                        head_sql: Arc::from(self.sql.head_position.as_str()),
                        channel: self.channel.clone(),
                        notifier: self.notifier.clone(),
                    };
                    // A concurrent subscriber may win the race; the loser's tasks are
                    // dropped, which aborts them.
                    let _ = self
                        .wakeups
                        .set(source.spawn(&self.config.wakeups, &runtime));
                }
                Err(_) => tracing::warn!("subscribe() outside a tokio runtime: no wake-ups, readers fall back to their own polling"),
            }
        }
        self.notifier.subscribe()
    }
}
