//! One aggregate's commands are executed in the order they were sent, with a 3-partition
//! topic and two processors in one group, the second joining mid-stream (a rebalance).

mod command_bus_support;
mod support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use command_bus_support::{next, Bus, ScriptedStore};
use cqrs_core::{CommandBus, CommandOutcome, EventStore};

/// librdkafka's default partitioner for a keyed message: CRC-32 of the key modulo the
/// partition count.
fn partition_of(key: &str, partitions: u32) -> u32 {
    let mut crc = !0u32;
    for byte in key.bytes() {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc % partitions
}

/// Three aggregate ids, one per partition of a 3-partition topic.
fn one_per_partition() -> Vec<String> {
    let mut ids: Vec<Option<String>> = vec![None; 3];
    for n in 0.. {
        let id = format!("seq-{n}");
        let slot = &mut ids[partition_of(&id, 3) as usize];
        if slot.is_none() {
            *slot = Some(id);
        }
        if ids.iter().all(Option::is_some) {
            break;
        }
    }
    ids.into_iter().flatten().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_aggregates_commands_run_in_order_across_two_processors_and_a_rebalance() {
    let Some(bus) = Bus::new("ordering").await else {
        return;
    };
    const PER_AGGREGATE: u64 = 30;
    let store = Arc::new(ScriptedStore::default());
    // Slow appends (90 commands take 13.5 s on one processor), so the second processor
    // joins, and the group rebalances (a few seconds on tansu), while commands are still
    // being handled.
    store.append_delay_ms.store(150, Ordering::SeqCst);
    let first = bus.processor(bus.router(store.clone()));
    // One record batch per command: tansu 0.6.0 cannot resume inside a batch (README).
    let sender = bus
        .sender_with(
            bus.kafka.clone().set("batch.num.messages", "1"),
            bus.sender_config(),
        )
        .await;
    let aggregates = one_per_partition();

    // Sent in order per aggregate: futures polled in order enqueue in order.
    let mut sends = Vec::new();
    for n in 1..=PER_AGGREGATE {
        for id in &aggregates {
            let sender = &sender;
            let sent = next(id, n);
            sends.push(async move {
                (
                    sent.aggregate_id.clone(),
                    n,
                    sender.send(sent, Duration::from_secs(120)).await,
                )
            });
        }
    }
    let all = futures::future::join_all(sends);
    let second = async {
        first
            .wait_for(Duration::from_secs(60), |stats| stats.handled >= 10)
            .await
            .expect("the first processor handles commands");
        bus.processor(bus.router(store.clone()))
    };
    let (replies, second) = tokio::join!(all, second);

    for (id, n, reply) in replies {
        let reply = reply.expect("reply");
        assert!(
            matches!(reply.outcome, CommandOutcome::Accepted { version, .. } if version == n),
            "{id} #{n}: {:?}",
            reply.outcome
        );
    }
    for id in &aggregates {
        let stream = store
            .inner
            .read_stream(&format!("Sequence-{id}"), 1)
            .await
            .unwrap();
        assert_eq!(stream.len() as u64, PER_AGGREGATE, "{id}");
    }
    let (a, b) = (first.progress(), second.progress());
    eprintln!("first processor {a:?}, second {b:?}");
    assert!(
        b.handled > 0,
        "the second processor took over partitions: {a:?} {b:?}"
    );
    sender.shutdown().await;
    second.shutdown().await.expect("clean shutdown");
    first.shutdown().await.expect("clean shutdown");
}
