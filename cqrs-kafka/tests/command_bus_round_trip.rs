//! Request/reply over Kafka: a command sent by a `KafkaCommandSender` is executed by a
//! `CommandProcessor` and its outcome comes back on the sender's reply topic.

mod command_bus_support;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use command_bus_support::{deposit, withdraw, Bus};
use cqrs_core::{CommandBus, CommandOutcome, EventStore, InMemoryEventStore, SendError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_command_replies_with_its_version_and_position_a_refused_one_with_code_and_message(
) {
    let Some(bus) = Bus::new("round-trip").await else {
        return;
    };
    let store = Arc::new(InMemoryEventStore::new());
    let processor = bus.processor(bus.router(store.clone()));
    let sender = bus.sender().await;
    let timeout = Duration::from_secs(30);

    let first = deposit("a1", 500).with_header(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    );
    let reply = sender.send(first.clone(), timeout).await.expect("reply");
    assert_eq!(reply.command_id, first.command_id);
    assert_eq!(reply.correlation_id, first.correlation_id);
    assert_eq!(
        reply.outcome,
        CommandOutcome::Accepted {
            stream_id: "Account-a1".into(),
            version: 1,
            position: Some(1),
            events: 1,
            replayed: false,
        }
    );
    let stored = store.read_stream("Account-a1", 1).await.unwrap();
    assert_eq!(
        stored[0].metadata.correlation_id,
        Some(first.correlation_id)
    );
    assert!(
        stored[0].metadata.headers.contains_key("traceparent"),
        "trace context reaches the events"
    );

    let reply = sender
        .send(deposit("a1", 250), timeout)
        .await
        .expect("reply");
    assert!(
        matches!(
            reply.outcome,
            CommandOutcome::Accepted {
                version: 2,
                position: Some(2),
                ..
            }
        ),
        "{:?}",
        reply.outcome
    );
    let reply = sender
        .send(withdraw("a1", 9_000), timeout)
        .await
        .expect("reply");
    assert_eq!(
        reply.outcome,
        CommandOutcome::Refused {
            code: "insufficient_funds".into(),
            message: "insufficient funds: balance 750, wanted 9000".into(),
        }
    );

    // The same envelope again (a client retrying after a lost reply): the first outcome.
    let reply = sender.send(first, timeout).await.expect("reply");
    assert!(
        matches!(
            reply.outcome,
            CommandOutcome::Accepted {
                version: 1,
                replayed: true,
                ..
            }
        ),
        "{:?}",
        reply.outcome
    );
    assert_eq!(store.head_position().await.unwrap(), 2, "no second effect");

    sender.shutdown().await;
    processor.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_processor_a_send_times_out_and_a_late_reply_is_dropped() {
    let Some(bus) = Bus::new("timeout").await else {
        return;
    };
    let sender = bus.sender().await;
    let sent = deposit("a1", 1);
    let started = Instant::now();
    let error = sender
        .send(sent.clone(), Duration::from_millis(1_500))
        .await
        .expect_err("nobody answers");
    let waited = started.elapsed();
    assert!(
        matches!(error, SendError::Timeout { command_id, .. } if command_id == sent.command_id),
        "{error:?}"
    );
    assert!(
        waited >= Duration::from_millis(1_500) && waited < Duration::from_secs(5),
        "{waited:?}"
    );

    // A processor comes up and answers the timed-out command: nobody waits any more, the
    // sender drops the reply and goes on. Resending the envelope gets its outcome.
    let store = Arc::new(InMemoryEventStore::new());
    let processor = bus.processor(bus.router(store.clone()));
    let reply = sender
        .send(sent, Duration::from_secs(30))
        .await
        .expect("reply");
    assert!(reply.outcome.is_accepted(), "{:?}", reply.outcome);
    assert_eq!(store.head_position().await.unwrap(), 1);
    processor.shutdown().await.expect("clean shutdown");

    sender.shutdown().await;
    let error = sender
        .send(deposit("a1", 1), Duration::from_secs(1))
        .await
        .expect_err("shut down");
    assert!(matches!(error, SendError::Unavailable { .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_sharing_a_reply_topic_each_get_their_own_replies() {
    let Some(bus) = Bus::new("replicas").await else {
        return;
    };
    let processor = bus.processor(bus.router(Arc::new(InMemoryEventStore::new())));
    let (left, right) = (bus.sender().await, bus.sender().await);
    let timeout = Duration::from_secs(30);
    let mut sends = Vec::new();
    for n in 0..20 {
        let (sender, id) = if n % 2 == 0 {
            (&left, "left")
        } else {
            (&right, "right")
        };
        let sent = deposit(&format!("{id}-{n}"), 1);
        sends.push(async move { (sent.command_id, sender.send(sent, timeout).await) });
    }
    for (command_id, reply) in futures::future::join_all(sends).await {
        let reply = reply.expect("each sender sees its replies");
        assert_eq!(reply.command_id, command_id);
        assert!(reply.outcome.is_accepted(), "{:?}", reply.outcome);
    }
    left.shutdown().await;
    right.shutdown().await;
    processor.shutdown().await.expect("clean shutdown");
}

/// Prints p50/p99 of 200 sequential round trips, with the default fetch waits (100 ms)
/// and with 10 ms: on tansu 0.6.0 a fetch is held for its whole wait when no message is
/// there (see `command_bus_tansu_fetch_wait`), so each of the two hops (command, reply)
/// costs about one fetch wait there. On Apache Kafka the wait does not add latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_latency_over_200_sequential_commands() {
    let Some(bus) = Bus::new("latency").await else {
        return;
    };
    for fetch_wait in [Duration::from_millis(100), Duration::from_millis(10)] {
        let router = bus.router(Arc::new(InMemoryEventStore::new()));
        let mut config = bus.processor_config(&router);
        config.fetch_wait = fetch_wait;
        config.group_id = support::unique("latency");
        let processor = bus.processor_with(router, config);
        let mut sender_config = bus.sender_config();
        sender_config.reply_fetch_wait = fetch_wait;
        let sender = bus.sender_with(bus.kafka.clone(), sender_config).await;
        // Warm-up: the group is joined and the partitions assigned.
        sender
            .send(deposit("warm-up", 1), Duration::from_secs(30))
            .await
            .expect("reply");
        let mut latencies = Vec::with_capacity(200);
        for n in 0..200 {
            let started = Instant::now();
            let reply = sender
                .send(deposit(&format!("a{}", n % 10), 1), Duration::from_secs(30))
                .await
                .expect("reply");
            latencies.push(started.elapsed());
            assert!(reply.outcome.is_accepted(), "{:?}", reply.outcome);
        }
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        eprintln!(
            "command bus round trip, 200 sequential commands, fetch wait {fetch_wait:?}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(latencies[latencies.len() / 2]),
            ms(latencies[latencies.len() * 99 / 100]),
            ms(latencies[latencies.len() - 1])
        );
        sender.shutdown().await;
        processor.shutdown().await.expect("clean shutdown");
    }
}
