//! The commands a sender waits for, by command id: the reply listener hands each reply to
//! its waiters, and a waiter that gives up (timeout, cancelled) removes itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cqrs_core::CommandReply;
use tokio::sync::oneshot;
use uuid::Uuid;

/// Waiters by command id. Several may wait for one command id (the same envelope sent
/// twice at once); each gets the reply.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    waiters: Mutex<Waiters>,
    next_token: AtomicU64,
}

#[derive(Debug, Default)]
struct Waiters {
    by_command: HashMap<Uuid, Vec<(u64, oneshot::Sender<CommandReply>)>>,
    /// Set by a shutdown: no more waiters.
    closed: bool,
}

impl Pending {
    /// Waits for `command_id`'s reply; `None` once closed. Dropping the [`Waiting`]
    /// stops waiting.
    pub(crate) fn wait_for(self: &Arc<Self>, command_id: Uuid) -> Option<Waiting> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (sender, reply) = oneshot::channel();
        let mut waiters = self.lock();
        if waiters.closed {
            return None;
        }
        waiters
            .by_command
            .entry(command_id)
            .or_default()
            .push((token, sender));
        Some(Waiting {
            pending: self.clone(),
            command_id,
            token,
            reply,
        })
    }

    /// True when someone waits for `command_id`.
    pub(crate) fn is_waiting(&self, command_id: Uuid) -> bool {
        self.lock().by_command.contains_key(&command_id)
    }

    /// Hands `reply` to its waiters; false when nobody waited for it.
    pub(crate) fn deliver(&self, reply: CommandReply) -> bool {
        let Some(waiters) = self.lock().by_command.remove(&reply.command_id) else {
            return false;
        };
        for (_, waiter) in waiters {
            let _ = waiter.send(reply.clone());
        }
        true
    }

    /// Ends every wait (the waiters see the sender gone) and refuses new ones.
    pub(crate) fn close(&self) {
        let mut waiters = self.lock();
        waiters.closed = true;
        waiters.by_command.clear();
    }

    fn forget(&self, command_id: Uuid, token: u64) {
        let mut waiters = self.lock();
        if let Some(list) = waiters.by_command.get_mut(&command_id) {
            list.retain(|(t, _)| *t != token);
            if list.is_empty() {
                waiters.by_command.remove(&command_id);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One wait for a reply; removed from [`Pending`] when dropped.
pub(crate) struct Waiting {
    pending: Arc<Pending>,
    command_id: Uuid,
    token: u64,
    pub(crate) reply: oneshot::Receiver<CommandReply>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.pending.forget(self.command_id, self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_core::CommandOutcome;

    fn reply(command_id: Uuid) -> CommandReply {
        CommandReply {
            command_id,
            correlation_id: command_id,
            outcome: CommandOutcome::Refused {
                code: "no".into(),
                message: "no".into(),
            },
        }
    }

    #[tokio::test]
    async fn a_reply_reaches_every_waiter_of_its_command_and_a_dropped_wait_is_forgotten() {
        let pending = Arc::new(Pending::default());
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut first = pending.wait_for(a).unwrap();
        let mut second = pending.wait_for(a).unwrap();
        let gone = pending.wait_for(b).unwrap();
        drop(gone);
        assert!(!pending.is_waiting(b), "a dropped wait is forgotten");
        assert!(!pending.deliver(reply(b)), "nobody waits for b any more");
        assert!(pending.deliver(reply(a)));
        assert_eq!((&mut first.reply).await.unwrap().command_id, a);
        assert_eq!((&mut second.reply).await.unwrap().command_id, a);
        assert!(!pending.is_waiting(a));

        let mut waiting = pending.wait_for(a).unwrap();
        pending.close();
        assert!((&mut waiting.reply).await.is_err(), "closed: the wait ends");
        assert!(pending.wait_for(a).is_none());
    }
}
