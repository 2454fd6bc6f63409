//! Wake-ups for readers of the global log, without polling.

use std::time::Duration;

use tokio::sync::watch;

/// The writing side: stores call [`notify`](PositionNotifier::notify) after a commit.
#[derive(Debug, Clone)]
pub struct PositionNotifier {
    sender: watch::Sender<u64>,
}

impl Default for PositionNotifier {
    fn default() -> Self {
        Self::new()
    }
}

impl PositionNotifier {
    /// A notifier whose head starts at 0.
    pub fn new() -> Self {
        Self {
            sender: watch::channel(0).0,
        }
    }

    /// Records that the log's head reached `position` (ignored if it is not higher) and
    /// wakes every waiting [`PositionWatch`].
    pub fn notify(&self, position: u64) {
        self.sender.send_if_modified(|head| {
            if position > *head {
                *head = position;
                true
            } else {
                false
            }
        });
    }

    /// Wakes waiters without a known position (e.g. after a lost notification channel),
    /// so they re-read the store.
    pub fn wake_all(&self) {
        self.sender.send_modify(|_| {});
    }

    /// A new watch on this notifier.
    pub fn subscribe(&self) -> PositionWatch {
        PositionWatch {
            receiver: self.sender.subscribe(),
        }
    }
}

/// The reading side: waits until the head moves past a position.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::Duration;
/// use cqrs_core::PositionNotifier;
/// let notifier = PositionNotifier::new();
/// let mut watch = notifier.subscribe();
/// notifier.notify(3);
/// assert!(watch.wait_beyond(2, Duration::from_secs(1)).await);
/// assert!(!watch.wait_beyond(3, Duration::from_millis(10)).await);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PositionWatch {
    receiver: watch::Receiver<u64>,
}

impl PositionWatch {
    /// The last head position announced.
    pub fn head(&self) -> u64 {
        *self.receiver.borrow()
    }

    /// Waits until the announced head is beyond `position` or a wake-up arrives, at most
    /// `timeout`. Returns true if woken, false on timeout (callers re-read the store either
    /// way: a wake-up is a hint, the store is the truth).
    pub async fn wait_beyond(&mut self, position: u64, timeout: Duration) -> bool {
        if *self.receiver.borrow_and_update() > position {
            return true;
        }
        match tokio::time::timeout(timeout, self.receiver.changed()).await {
            Ok(Ok(())) => true,
            // The store is gone: behave like a timeout instead of spinning.
            Ok(Err(_)) => {
                tokio::time::sleep(timeout).await;
                false
            }
            Err(_) => false,
        }
    }
}
