//! Bounded waits: a statement stuck behind a lock, a coalesced append whose writer is
//! blocked, and a server that stops answering all fail with the typed, transient
//! `StoreError::Timeout` within their bound, and the store works again afterwards.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cqrs_core::{EventStore, ExpectedVersion, FailureKind, Metadata, StoreError};
use cqrs_postgres::{CoalescingConfig, PgEventStore, PgEventStoreConfig, PgTransaction};
use serde_json::json;
use support::event;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An open transaction holding version 1 of `stream`: an append of that version waits
/// for it (the unique index) until it ends.
async fn hold_version_one(store: &PgEventStore, stream: &str) -> PgTransaction {
    let mut tx = store.begin().await.expect("begin");
    tx.append(
        stream,
        ExpectedVersion::NoStream,
        vec![event("Held", json!({}))],
        &Metadata::default(),
    )
    .await
    .expect("append in the open transaction");
    tx
}

async fn append_one(store: &PgEventStore, stream: &str) -> Result<u64, StoreError> {
    store
        .append(
            stream,
            ExpectedVersion::Any,
            vec![event("Happened", json!({}))],
            &Metadata::default(),
        )
        .await
        .map(|r| r.current_version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_statement_timeout_fails_as_a_transient_timeout() {
    let Some(db) = support::database().await else {
        return;
    };
    let config = PgEventStoreConfig::new(db.fresh_schema())
        .coalescing(CoalescingConfig::disabled())
        .statement_timeout(Some(Duration::from_millis(300)))
        .call_timeout(None);
    let store = db.own_pool_store(config).await;
    let blocker = hold_version_one(&store, "Locked-1").await;

    let started = Instant::now();
    let error = tokio::time::timeout(Duration::from_secs(5), append_one(&store, "Locked-1"))
        .await
        .expect("the statement ends within its timeout")
        .expect_err("the server cancels the statement");
    assert!(
        matches!(
            error,
            StoreError::Timeout {
                operation: "append"
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Transient);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    blocker.rollback().await.expect("rollback");
    assert_eq!(append_one(&store, "Locked-1").await.expect("append"), 1);
    db.cleanup().await;
}

/// Spawns an append of one event to `stream`.
fn spawn_append(
    store: &PgEventStore,
    stream: &'static str,
) -> tokio::task::JoinHandle<Result<u64, StoreError>> {
    let store = store.clone();
    tokio::spawn(async move { append_one(&store, stream).await })
}

/// With no server-side timeout, a coalesced batch stuck behind a lock is bounded by the
/// client: its callers (and those queued behind it) are answered `Timeout` within
/// `call_timeout`, and the writer drops the stuck statement and serves the next batch
/// while the lock is still held.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coalesced_batch_blocked_by_a_held_lock_times_out_and_frees_its_writer() {
    let Some(db) = support::database().await else {
        return;
    };
    let coalescing = CoalescingConfig {
        writers: 1,
        ..CoalescingConfig::default()
    };
    let limit = Duration::from_millis(500);
    let config = PgEventStoreConfig::new(db.fresh_schema())
        .coalescing(coalescing)
        .statement_timeout(None)
        .call_timeout(Some(limit));
    let store = db.own_pool_store(config).await;
    let blocker = {
        let mut tx = hold_version_one(&store, "Blocked-A").await;
        tx.append(
            "Blocked-B",
            ExpectedVersion::NoStream,
            vec![event("Held", json!({}))],
            &Metadata::default(),
        )
        .await
        .expect("hold Blocked-B too");
        tx
    };

    let started = Instant::now();
    // The single writer takes Blocked-A alone and waits on the lock; the next three
    // queue behind it and then form one batch, which blocks on Blocked-B.
    let first = spawn_append(&store, "Blocked-A");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued: Vec<_> = ["Blocked-B", "Other-1", "Other-2"]
        .into_iter()
        .map(|stream| spawn_append(&store, stream))
        .collect();
    let first = tokio::time::timeout(Duration::from_secs(5), first)
        .await
        .expect("the blocked caller is answered")
        .expect("task");
    assert!(
        matches!(
            first,
            Err(StoreError::Timeout {
                operation: "append"
            })
        ),
        "{first:?}"
    );
    let queued = tokio::time::timeout(Duration::from_secs(5), futures::future::join_all(queued))
        .await
        .expect("the queued callers are answered");
    let elapsed = started.elapsed();
    assert!(elapsed < limit * 3, "answered after {elapsed:?}");
    let blocked_b = queued[0].as_ref().expect("task");
    assert!(
        matches!(blocked_b, Err(StoreError::Timeout { .. })),
        "{blocked_b:?}"
    );
    assert_eq!(
        blocked_b.as_ref().err().map(StoreError::kind),
        Some(FailureKind::Transient)
    );

    // The lock is still held, yet the writer serves new appends: the stuck statement was
    // dropped (its connection closed), not waited for.
    tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match append_one(&store, "Free-1").await {
                Ok(_) => break,
                Err(StoreError::Timeout { .. }) => {}
                Err(other) => panic!("unexpected error: {other:?}"),
            }
        }
    })
    .await
    .expect("the writer is free while the lock is still held");

    // A timed-out append may still commit: its backend was waiting on the lock and goes
    // on once the lock is gone (closing the connection does not cancel it). That is why
    // `Timeout` means "may or may not be stored; retry with the same event ids".
    blocker.rollback().await.expect("rollback");
    append_one(&store, "Blocked-A")
        .await
        .expect("appends to the released stream work");
    db.cleanup().await;
}

/// A TCP proxy to PostgreSQL that can fall silent: while `silent`, it forwards nothing in
/// either direction but keeps every connection open, like a server host that vanished
/// without closing its sockets (a half-open connection the client cannot notice).
struct SilentProxy {
    port: u16,
    silent: Arc<AtomicBool>,
}

impl SilentProxy {
    async fn start(target: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let silent = Arc::new(AtomicBool::new(false));
        let flag = silent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pipe(client_read, server_write, flag.clone()));
                tokio::spawn(pipe(server_read, client_write, flag.clone()));
            }
        });
        Self { port, silent }
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(n) = from.read(&mut buffer).await else {
            return;
        };
        if n == 0 {
            return;
        }
        while silent.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_to_a_server_that_stopped_answering_time_out_instead_of_hanging() {
    let Some(db) = support::database().await else {
        return;
    };
    let target = {
        let options: cqrs_postgres::sqlx::postgres::PgConnectOptions = db.url.parse().expect("url");
        (options.get_host().to_owned(), options.get_port())
    };
    let proxy = SilentProxy::start(target).await;
    let mut via_proxy: url_like::Url = url_like::Url::parse(&db.url);
    via_proxy.set_host_port("127.0.0.1", proxy.port);
    let schema = db.fresh_schema();
    let config = PgEventStoreConfig::new(schema)
        .statement_timeout(None)
        .call_timeout(Some(Duration::from_millis(500)));
    let store = PgEventStore::connect(&via_proxy.to_string(), config)
        .await
        .expect("connect through the proxy");
    store.migrate().await.expect("migrate");
    assert_eq!(append_one(&store, "Silent-1").await.expect("append"), 1);

    proxy.silent.store(true, Ordering::SeqCst);
    for (what, result) in [
        (
            "coalesced append",
            append_one(&store, "Silent-1").await.map(|_| ()),
        ),
        ("read", store.read_stream("Silent-1", 1).await.map(|_| ())),
        ("head", store.head_position().await.map(|_| ())),
    ] {
        assert!(
            matches!(result, Err(StoreError::Timeout { .. })),
            "{what}: {result:?}"
        );
    }
    let started = Instant::now();
    let direct = tokio::time::timeout(Duration::from_secs(5), store.read_all(0, 10))
        .await
        .expect("bounded");
    assert!(
        matches!(direct, Err(StoreError::Timeout { .. })),
        "{direct:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The server answers again: the store recovers on fresh or resumed connections.
    proxy.silent.store(false, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if append_one(&store, "Silent-2").await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the store works again");
    db.cleanup().await;
}

/// Just enough URL editing for the proxy (host and port of a `postgres://` URL).
mod url_like {
    pub struct Url {
        scheme_and_user: String,
        rest: String,
        host_port: String,
    }

    impl Url {
        pub fn parse(url: &str) -> Self {
            let (scheme, after) = url.split_once("://").expect("scheme");
            let (authority, rest) = after.split_once('/').unwrap_or((after, ""));
            let (user, host_port) = match authority.rsplit_once('@') {
                Some((user, host)) => (format!("{user}@"), host.to_owned()),
                None => (String::new(), authority.to_owned()),
            };
            Self {
                scheme_and_user: format!("{scheme}://{user}"),
                rest: format!("/{rest}"),
                host_port,
            }
        }

        pub fn set_host_port(&mut self, host: &str, port: u16) {
            self.host_port = format!("{host}:{port}");
        }
    }

    impl std::fmt::Display for Url {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}{}{}", self.scheme_and_user, self.host_port, self.rest)
        }
    }
}
