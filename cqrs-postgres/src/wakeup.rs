//! Wake-ups for readers: LISTEN/NOTIFY plus a fallback poll, feeding a [`PositionNotifier`].
//!
//! Appends send `pg_notify(channel, position)` in their own transaction, so a notification
//! arrives only after the commit. The notified position is not announced as is: an older
//! transaction may still hold the gap-safe bound below it, and announcing it would make
//! readers re-read in a loop until that transaction ends. Instead the listener re-reads the
//! gap-safe head (one cheap query per burst of notifications) and announces that. A
//! periodic poll of the head covers lost notifications (connection drops) and transactions
//! outside this store that held the bound back.
//!
//! The tasks stop when the store that started them is dropped ([`WakeupTasks`] aborts them).

use std::sync::Arc;
use std::time::Duration;

use cqrs_core::PositionNotifier;
use sqlx::postgres::{PgListener, PgPool};
use tokio::task::JoinHandle;

use crate::config::WakeupConfig;
use crate::store::head_position;

/// Delay before reconnecting a listener that failed.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// The background tasks of one store; aborted when dropped.
#[derive(Debug)]
pub(crate) struct WakeupTasks {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for WakeupTasks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What the tasks need; they never hold the store itself, so dropping it stops them.
#[derive(Clone)]
pub(crate) struct WakeupSource {
    pub pool: PgPool,
    pub head_sql: Arc<str>,
    pub channel: String,
    pub notifier: PositionNotifier,
}

impl WakeupSource {
    /// Starts the listener and the fallback poll on `runtime`.
    pub(crate) fn spawn(
        self,
        config: &WakeupConfig,
        runtime: &tokio::runtime::Handle,
    ) -> WakeupTasks {
        let mut tasks = Vec::new();
        if config.listen {
            tasks.push(runtime.spawn(self.clone().listen()));
        }
        if let Some(every) = config.fallback_poll {
            tasks.push(runtime.spawn(self.poll(every)));
        }
        WakeupTasks { tasks }
    }

    /// Re-reads the gap-safe head and announces it.
    async fn refresh(&self) {
        match head_position(&self.pool, &self.head_sql).await {
            Ok(head) => self.notifier.notify(head),
            Err(error) => tracing::debug!(%error, "wake-up: cannot read the head position"),
        }
    }

    async fn poll(self, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.refresh().await;
        }
    }

    /// LISTENs on the channel, reconnecting after failures, forever (until aborted).
    async fn listen(self) {
        loop {
            match self.listen_once().await {
                Ok(()) => {}
                Err(error) => {
                    tracing::warn!(channel = %self.channel, %error, "wake-up listener failed; reconnecting")
                }
            }
            // Notifications may have been lost: let readers re-check.
            self.notifier.wake_all();
            tokio::time::sleep(RECONNECT_DELAY).await;
        }
    }

    /// One listener connection, until it fails.
    async fn listen_once(&self) -> Result<(), sqlx::Error> {
        // A dedicated connection, outside the store's pool so it never takes a slot.
        let connector = PgPool::connect_lazy_with(self.pool.connect_options().as_ref().clone());
        let mut listener = PgListener::connect_with(&connector).await?;
        listener.ignore_pool_close_event(true);
        listener.listen(&self.channel).await?;
        tracing::debug!(channel = %self.channel, "wake-up listener connected");
        // Anything committed before LISTEN took effect.
        self.refresh().await;
        loop {
            match listener.try_recv().await? {
                Some(notification) => {
                    let parse = |n: &sqlx::postgres::PgNotification| {
                        n.payload().parse::<u64>().unwrap_or(u64::MAX)
                    };
                    let mut announced = parse(&notification);
                    while let Some(more) = listener.next_buffered() {
                        announced = announced.max(parse(&more));
                    }
                    // Already visible: nothing new to announce.
                    if announced > self.notifier.subscribe().head() {
                        self.refresh().await;
                    }
                }
                None => {
                    // Reconnected (sqlx re-issues LISTEN); notifications in between are lost.
                    tracing::debug!(channel = %self.channel, "wake-up listener reconnected");
                    self.notifier.wake_all();
                    self.refresh().await;
                }
            }
        }
    }
}
