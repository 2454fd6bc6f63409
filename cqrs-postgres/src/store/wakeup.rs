//! Wake-ups for readers: LISTEN/NOTIFY plus a fallback poll, feeding a [`PositionNotifier`].
//!
//! After an append commits, the store's [`Announcer`] sends `pg_notify(channel, position)`
//! from a background task, coalescing bursts into one notification. It is not sent inside
//! the append's transaction on purpose: a transaction that notifies holds PostgreSQL's
//! global notification lock through its commit, which serializes all writers. The price is
//! that a process that dies between its commit and the announcement wakes nobody; the
//! fallback poll then finds the events within its interval.
//!
//! The notified position is not passed on to readers as is: an older
//! transaction may still hold the gap-safe bound below it, and announcing it would make
//! readers re-read in a loop until that transaction ends. Instead the listener re-reads the
//! gap-safe head (one cheap query per burst of notifications) and announces that. A
//! periodic poll of the head covers lost notifications (connection drops) and transactions
//! outside this store that held the bound back.
//!
//! When a notified position is not visible yet (a transaction that started earlier, here
//! or anywhere on the server, still holds the bound below it), a chaser task re-reads the
//! head with a doubling delay (1 ms, 2 ms, ... up to [`CHASE_MAX_DELAY`]) until the position
//! shows, so readers wake a few milliseconds after the holding transaction ends rather than
//! at the next fallback poll. It stops chasing once the position is visible; a bound held
//! longer than the chase is left to the fallback poll.
//!
//! The tasks stop when the store that started them is dropped ([`WakeupTasks`] and
//! [`Announcer`] abort them).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cqrs_core::PositionNotifier;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::read::head_position;
use crate::config::WakeupConfig;

/// Delay before reconnecting a listener that failed.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// First and longest delay between two head reads while a notified position is held back.
const CHASE_FIRST_DELAY: Duration = Duration::from_millis(1);
const CHASE_MAX_DELAY: Duration = Duration::from_millis(128);
/// How long one chase lasts at most before it is left to the fallback poll.
const CHASE_LIMIT: Duration = Duration::from_secs(2);

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
            let chase = Arc::new(Chase::default());
            tasks.push(runtime.spawn(self.clone().listen(chase.clone())));
            tasks.push(runtime.spawn(self.clone().chase(chase)));
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

    /// Re-reads the head, with a doubling delay, while a notified position is not visible.
    async fn chase(self, chase: Arc<Chase>) {
        loop {
            chase.wake.notified().await;
            let started = tokio::time::Instant::now();
            let mut delay = CHASE_FIRST_DELAY;
            while self.notifier.subscribe().head() < chase.target.load(Ordering::Acquire)
                && started.elapsed() < CHASE_LIMIT
            {
                tokio::time::sleep(delay).await;
                self.refresh().await;
                delay = (delay * 2).min(CHASE_MAX_DELAY);
            }
        }
    }

    /// LISTENs on the channel, reconnecting after failures, forever (until aborted).
    async fn listen(self, chase: Arc<Chase>) {
        loop {
            match self.listen_once(&chase).await {
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
    async fn listen_once(&self, chase: &Chase) -> Result<(), sqlx::Error> {
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
                    // A payload that is not a position (someone else notifying on the
                    // channel) still triggers a refresh, but is never chased.
                    let parse = |n: &sqlx::postgres::PgNotification| n.payload().parse::<u64>();
                    let mut announced = parse(&notification).ok();
                    let mut foreign = announced.is_none();
                    while let Some(more) = listener.next_buffered() {
                        let position = parse(&more).ok();
                        foreign |= position.is_none();
                        announced = announced.max(position);
                    }
                    let head = self.notifier.subscribe().head();
                    // Already visible: nothing new to announce.
                    if foreign || announced > Some(head) {
                        self.refresh().await;
                    }
                    if let Some(position) = announced {
                        if position > self.notifier.subscribe().head() {
                            chase.follow(position);
                        }
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

/// A committed position the listener saw announced but could not read yet.
#[derive(Default)]
struct Chase {
    target: AtomicU64,
    wake: Notify,
}

impl Chase {
    /// Asks the chaser to re-read the head until `position` is visible.
    fn follow(&self, position: u64) {
        self.target.fetch_max(position, Ordering::AcqRel);
        self.wake.notify_one();
    }
}

/// Sends one `pg_notify` per burst of committed appends, from a background task.
#[derive(Debug)]
pub(crate) struct Announcer {
    highest: Arc<AtomicU64>,
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for Announcer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Announcer {
    /// Starts the announcing task on `runtime`.
    pub(crate) fn start(pool: PgPool, channel: String, runtime: &tokio::runtime::Handle) -> Self {
        let highest = Arc::new(AtomicU64::new(0));
        let wake = Arc::new(Notify::new());
        let task = runtime.spawn(announce_loop(pool, channel, highest.clone(), wake.clone()));
        Self {
            highest,
            wake,
            task,
        }
    }

    /// Records that events up to `position` committed; never waits.
    pub(crate) fn announce(&self, position: u64) {
        self.highest.fetch_max(position, Ordering::AcqRel);
        self.wake.notify_one();
    }
}

/// Pause after each announcement, so a busy store sends at most a few hundred per second.
const ANNOUNCE_PACING: Duration = Duration::from_millis(2);

async fn announce_loop(pool: PgPool, channel: String, highest: Arc<AtomicU64>, wake: Arc<Notify>) {
    // A dedicated connection: announcing never waits for, or occupies, a pooled one.
    let options = pool.connect_options().as_ref().clone();
    let mut connection: Option<sqlx::PgConnection> = None;
    let mut sent = 0;
    loop {
        wake.notified().await;
        let position = highest.load(Ordering::Acquire);
        if position <= sent {
            continue;
        }
        if connection.is_none() {
            match sqlx::ConnectOptions::connect(&options).await {
                Ok(fresh) => connection = Some(fresh),
                Err(error) => {
                    tracing::debug!(%channel, %error, "cannot connect to announce appends; the fallback poll will");
                    tokio::time::sleep(RECONNECT_DELAY).await;
                    continue;
                }
            }
        }
        let Some(live) = connection.as_mut() else {
            continue;
        };
        let notified = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&channel)
            .bind(position.to_string())
            .execute(&mut *live)
            .await;
        match notified {
            Ok(_) => sent = position,
            Err(error) => {
                tracing::debug!(%channel, %error, "cannot announce appends; reconnecting");
                connection = None;
            }
        }
        tokio::time::sleep(ANNOUNCE_PACING).await;
    }
}
