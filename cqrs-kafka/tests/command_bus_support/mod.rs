//! Shared by the `command_bus_*` tests: two aggregates, and a bus (command topics, reply
//! topic, dead-letter topic) created under a unique prefix.
#![allow(dead_code)] // each test binary uses a different part

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cqrs_core::{
    Aggregate, AppendResult, Command, CommandContext, CommandEnvelope, CommandRouter, Event,
    EventStore, ExpectedVersion, Metadata, NewEvent, PositionWatch, RecordedEvent, RecordedRefusal,
    Repository, Snapshot, StoreError,
};
use cqrs_kafka::{
    CommandProcessor, CommandTopics, KafkaCommandSender, KafkaConfig, ProcessorConfig,
    RunningCommandProcessor, SenderConfig,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::support;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub enum AccountEvent {
    Deposited { cents: i64 },
    Withdrawn { cents: i64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AccountCommand {
    Deposit { id: String, cents: i64 },
    Withdraw { id: String, cents: i64 },
}

impl Command for AccountCommand {
    fn aggregate_id(&self) -> &str {
        match self {
            AccountCommand::Deposit { id, .. } | AccountCommand::Withdraw { id, .. } => id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("insufficient funds: balance {balance}, wanted {wanted}")]
pub struct InsufficientFunds {
    pub balance: i64,
    pub wanted: i64,
}

#[derive(Default)]
pub struct Account {
    pub balance: i64,
}

impl Aggregate for Account {
    const TYPE: &'static str = "Account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = InsufficientFunds;
    type Services = ();

    async fn handle(
        &self,
        command: &AccountCommand,
        _: &(),
    ) -> Result<Vec<AccountEvent>, InsufficientFunds> {
        match *command {
            // A bug in the aggregate, for the poison test: the processor must survive it.
            AccountCommand::Deposit { cents, .. } if cents < 0 => {
                panic!("a negative deposit ({cents}) reached the aggregate")
            }
            AccountCommand::Deposit { cents, .. } => Ok(vec![AccountEvent::Deposited { cents }]),
            AccountCommand::Withdraw { cents, .. } if cents > self.balance => {
                Err(InsufficientFunds {
                    balance: self.balance,
                    wanted: cents,
                })
            }
            AccountCommand::Withdraw { cents, .. } => Ok(vec![AccountEvent::Withdrawn { cents }]),
        }
    }

    fn apply(&mut self, event: &AccountEvent) {
        match event {
            AccountEvent::Deposited { cents } => self.balance += cents,
            AccountEvent::Withdrawn { cents } => self.balance -= cents,
        }
    }

    fn refusal_code(_: &InsufficientFunds) -> Cow<'static, str> {
        Cow::Borrowed("insufficient_funds")
    }
}

pub fn deposit(id: &str, cents: i64) -> CommandEnvelope {
    CommandEnvelope::new::<Account>(
        &AccountCommand::Deposit {
            id: id.into(),
            cents,
        },
        &CommandContext::new(),
    )
    .expect("serializable")
}

pub fn withdraw(id: &str, cents: i64) -> CommandEnvelope {
    CommandEnvelope::new::<Account>(
        &AccountCommand::Withdraw {
            id: id.into(),
            cents,
        },
        &CommandContext::new(),
    )
    .expect("serializable")
}

/// Numbered commands that must arrive in order: `Next { n }` is refused unless `n` is
/// one more than the last accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
pub enum SequenceEvent {
    Reached { n: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Next {
    pub id: String,
    pub n: u64,
}

impl Command for Next {
    fn aggregate_id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, thiserror::Error)]
#[error("command {got} arrived after {last}")]
pub struct OutOfOrder {
    pub last: u64,
    pub got: u64,
}

#[derive(Default)]
pub struct Sequence {
    pub last: u64,
}

impl Aggregate for Sequence {
    const TYPE: &'static str = "Sequence";
    type Command = Next;
    type Event = SequenceEvent;
    type Error = OutOfOrder;
    type Services = ();

    async fn handle(&self, command: &Next, _: &()) -> Result<Vec<SequenceEvent>, OutOfOrder> {
        if command.n != self.last + 1 {
            return Err(OutOfOrder {
                last: self.last,
                got: command.n,
            });
        }
        Ok(vec![SequenceEvent::Reached { n: command.n }])
    }

    fn apply(&mut self, event: &SequenceEvent) {
        let SequenceEvent::Reached { n } = event;
        self.last = *n;
    }

    fn refusal_code(_: &OutOfOrder) -> Cow<'static, str> {
        Cow::Borrowed("out_of_order")
    }
}

pub fn next(id: &str, n: u64) -> CommandEnvelope {
    CommandEnvelope::new::<Sequence>(&Next { id: id.into(), n }, &CommandContext::new())
        .expect("serializable")
}

/// The topics of one test's bus, created (3 partitions each) under a unique prefix.
pub struct Bus {
    pub kafka: KafkaConfig,
    pub topics: CommandTopics,
    pub reply_topic: String,
    pub dead_letter_topic: String,
    pub group: String,
}

impl Bus {
    /// `None` (after one SKIPPED line) without a broker.
    pub async fn new(name: &str) -> Option<Bus> {
        let brokers = support::broker()?;
        let kafka = KafkaConfig::new(brokers);
        let prefix = format!("{}.", support::unique(name));
        let topics = CommandTopics::new().with_prefix(&prefix);
        let bus = Bus {
            reply_topic: format!("{prefix}replies"),
            dead_letter_topic: format!("{prefix}commands.dlq"),
            group: format!("{prefix}processor"),
            topics,
            kafka,
        };
        let mut all = vec![bus.reply_topic.clone(), bus.dead_letter_topic.clone()];
        all.extend([Account::TYPE, Sequence::TYPE].map(|t| bus.topics.topic_for(t).into_owned()));
        support::create_topics(&bus.kafka, &all).await;
        Some(bus)
    }

    /// Both aggregates, stored in `store`.
    pub fn router<S: EventStore + ?Sized>(&self, store: Arc<S>) -> CommandRouter {
        CommandRouter::new()
            .route(Repository::<Account, S>::new(store.clone()))
            .route(Repository::<Sequence, S>::new(store))
    }

    pub fn processor_config(&self, router: &CommandRouter) -> ProcessorConfig {
        let mut config =
            ProcessorConfig::for_router(&self.group, router, &self.topics, &self.dead_letter_topic);
        config.transient_backoff =
            cqrs_core::RetryPolicy::between(Duration::from_millis(20), Duration::from_millis(200));
        config.commit_interval = Duration::from_millis(100);
        config
    }

    pub fn processor(&self, router: CommandRouter) -> RunningCommandProcessor {
        let config = self.processor_config(&router);
        self.processor_with(router, config)
    }

    pub fn processor_with(
        &self,
        router: CommandRouter,
        config: ProcessorConfig,
    ) -> RunningCommandProcessor {
        CommandProcessor::new(self.kafka.clone(), config, router)
            .spawn()
            .expect("processor")
    }

    pub fn sender_config(&self) -> SenderConfig {
        SenderConfig::new(self.topics.clone(), &self.reply_topic)
    }

    pub async fn sender(&self) -> KafkaCommandSender {
        self.sender_with(self.kafka.clone(), self.sender_config())
            .await
    }

    /// A sender whose clients use `kafka` (e.g. one record batch per message).
    pub async fn sender_with(
        &self,
        kafka: KafkaConfig,
        config: SenderConfig,
    ) -> KafkaCommandSender {
        KafkaCommandSender::start(kafka, config)
            .await
            .expect("sender")
    }
}

/// The in-memory store with injected behaviour: unavailable while `down`, appends refused
/// for good while `refuse_appends`, appends slowed by `append_delay_ms`, and with
/// `crash_after_append` the next append is stored, then `appended` is notified and the
/// call never returns (the process "dies" right after its commit).
#[derive(Default)]
pub struct ScriptedStore {
    pub inner: Arc<cqrs_core::InMemoryEventStore>,
    pub down: AtomicBool,
    pub refuse_appends: AtomicBool,
    pub crash_after_append: AtomicBool,
    pub append_delay_ms: AtomicU64,
    pub appended: Notify,
}

impl ScriptedStore {
    pub fn over(inner: Arc<cqrs_core::InMemoryEventStore>) -> Self {
        Self {
            inner,
            ..Self::default()
        }
    }

    fn guard(&self, operation: &'static str) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                operation,
                source: "connection refused (injected)".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl EventStore for ScriptedStore {
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        self.guard("append")?;
        if self.refuse_appends.load(Ordering::SeqCst) {
            return Err(StoreError::InvalidInput {
                stream: stream_id.to_owned(),
                reason: "payload over the limit (injected)".into(),
            });
        }
        let delay = self.append_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let appended = self
            .inner
            .append(stream_id, expected, events, metadata)
            .await?;
        if self.crash_after_append.swap(false, Ordering::SeqCst) {
            self.appended.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(appended)
    }
    async fn read_stream(
        &self,
        stream_id: &str,
        from: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.guard("read_stream")?;
        self.inner.read_stream(stream_id, from).await
    }
    async fn read_all(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.guard("read_all")?;
        self.inner.read_all(from, max).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.guard("head_position")?;
        self.inner.head_position().await
    }
    fn subscribe(&self) -> PositionWatch {
        self.inner.subscribe()
    }
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        self.guard("load_snapshot")?;
        self.inner.load_snapshot(stream_id).await
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        self.guard("save_snapshot")?;
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        self.guard("load_checkpoint")?;
        self.inner.load_checkpoint(name).await
    }
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        self.guard("save_checkpoint")?;
        self.inner.save_checkpoint(name, position).await
    }
    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError> {
        self.guard("read_events_by_id")?;
        self.inner.read_events_by_id(ids).await
    }
    async fn record_refusal(
        &self,
        refusal: RecordedRefusal,
    ) -> Result<RecordedRefusal, StoreError> {
        self.guard("record_refusal")?;
        self.inner.record_refusal(refusal).await
    }
    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError> {
        self.guard("load_refusal")?;
        self.inner.load_refusal(command_id).await
    }
}
