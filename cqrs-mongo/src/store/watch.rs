//! Wake-ups: a change stream on the events collection, and a periodic head poll.
//!
//! The change stream reports inserted events in commit order, only once they are
//! majority-committed (the same visibility as the store's reads), so announcing the
//! highest inserted position never runs ahead of what `read_all` returns. After an error
//! the stream is reopened from its last resume token, with a backoff; if the token has
//! expired from the oplog, a fresh stream is opened and waiters are woken to re-read.
//! The head poll covers whatever the stream misses (and runs alone when change streams are
//! disabled). The task stops when the store is dropped.

use std::time::Duration;

use bson::{Bson, Document};
use cqrs_core::PositionNotifier;
use futures::StreamExt;
use mongodb::change_stream::event::{ChangeStreamEvent, ResumeToken};
use mongodb::change_stream::ChangeStream;
use mongodb::Collection;
use tokio::task::JoinHandle;
use tokio::time::{interval, sleep, MissedTickBehavior};

use super::reads::head_position;
use crate::error::ErrorFacts;
use crate::queries;

/// Aborts the background task when dropped (with the store).
#[derive(Debug)]
pub(crate) struct WatcherGuard(JoinHandle<()>);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) fn spawn(
    events: Collection<Document>,
    notifier: PositionNotifier,
    poll: Duration,
    change_stream: bool,
) -> WatcherGuard {
    WatcherGuard(tokio::spawn(run(events, notifier, poll, change_stream)))
}

/// Server codes meaning the resume token can no longer be used: ChangeStreamHistoryLost,
/// ChangeStreamFatalError, InvalidResumeToken.
const TOKEN_LOST: [i32; 3] = [286, 280, 260];

async fn run(
    events: Collection<Document>,
    notifier: PositionNotifier,
    poll: Duration,
    change_stream: bool,
) {
    let mut ticker = interval(poll.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut token: Option<ResumeToken> = None;
    let mut failures: u32 = 0;
    loop {
        if change_stream {
            match open(&events, token.clone()).await {
                Ok(mut changes) => {
                    if follow(&mut changes, &events, &notifier, &mut ticker, &mut token).await {
                        failures = 0;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, failures, "cannot open the change stream; polling the head meanwhile");
                    if ErrorFacts::of(&error)
                        .code
                        .is_some_and(|c| TOKEN_LOST.contains(&c))
                    {
                        token = None;
                        notifier.wake_all();
                    }
                }
            }
            failures = failures.saturating_add(1);
        }
        // Before reopening (or forever, without change streams): poll the head.
        let reopen = sleep(retry_delay(failures));
        tokio::pin!(reopen);
        loop {
            tokio::select! {
                _ = &mut reopen, if change_stream => break,
                _ = ticker.tick() => poll_head(&events, &notifier).await,
            }
        }
    }
}

async fn open(
    events: &Collection<Document>,
    token: Option<ResumeToken>,
) -> mongodb::error::Result<ChangeStream<ChangeStreamEvent<Document>>> {
    events
        .watch()
        .pipeline(queries::change_stream_pipeline())
        .resume_after(token)
        .await
}

/// Reads the change stream until it fails or ends, polling the head on every tick too.
/// Returns whether any change arrived (a healthy stream resets the reconnect backoff).
async fn follow(
    changes: &mut ChangeStream<ChangeStreamEvent<Document>>,
    events: &Collection<Document>,
    notifier: &PositionNotifier,
    ticker: &mut tokio::time::Interval,
    token: &mut Option<ResumeToken>,
) -> bool {
    let mut received = false;
    loop {
        tokio::select! {
            change = changes.next() => match change {
                Some(Ok(change)) => {
                    received = true;
                    if let Some(position) = inserted_position(change.document_key.as_ref()) {
                        notifier.notify(position);
                    }
                    *token = changes.resume_token();
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "change stream failed; resuming");
                    *token = changes.resume_token().or(token.take());
                    if ErrorFacts::of(&error).code.is_some_and(|c| TOKEN_LOST.contains(&c)) {
                        *token = None;
                    }
                    notifier.wake_all();
                    return received;
                }
                None => {
                    tracing::debug!("change stream ended; reopening");
                    *token = changes.resume_token().or(token.take());
                    return received;
                }
            },
            _ = ticker.tick() => poll_head(events, notifier).await,
        }
    }
}

async fn poll_head(events: &Collection<Document>, notifier: &PositionNotifier) {
    match head_position(events).await {
        Ok(head) => notifier.notify(head),
        Err(error) => tracing::debug!(%error, "head poll failed"),
    }
}

/// The position (`_id`) of an inserted event, from a change event's `documentKey`.
pub(crate) fn inserted_position(document_key: Option<&Document>) -> Option<u64> {
    match document_key?.get("_id")? {
        Bson::Int64(p) => u64::try_from(*p).ok(),
        Bson::Int32(p) => u64::try_from(*p).ok(),
        _ => None,
    }
}

/// 100 ms, doubling per consecutive failure, at most 30 s (jittered).
pub(crate) fn retry_delay(failures: u32) -> Duration {
    cqrs_core::RetryPolicy::between(Duration::from_millis(100), Duration::from_secs(30))
        .backoff(failures.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn positions_are_read_from_the_document_key() {
        assert_eq!(
            inserted_position(Some(&doc! { "_id": 5_000_000_000i64 })),
            Some(5_000_000_000)
        );
        assert_eq!(inserted_position(Some(&doc! { "_id": "x" })), None);
        assert_eq!(inserted_position(None), None);
    }

    #[test]
    fn reconnect_delay_backs_off_to_a_ceiling() {
        let within = |delay: Duration, ceiling: Duration| delay <= ceiling && delay >= ceiling / 2;
        assert!(within(retry_delay(0), Duration::from_millis(100)));
        assert!(within(retry_delay(3), Duration::from_millis(800)));
        assert!(within(retry_delay(50), Duration::from_secs(30)));
    }
}
