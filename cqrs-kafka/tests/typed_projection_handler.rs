//! A [`TypedProjection`] fed from Kafka through [`ProjectionHandler`]: it gets its
//! aggregate's events decoded, events of other categories are passed over, and its failures
//! keep their class (an event that does not decode and a permanent failure are rejections,
//! dead-lettered; a transient failure is retried). No broker needed: the handler is called
//! as the consumer runner calls it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use cqrs_core::{
    Aggregate, Command, Event, FailureKind, JsonPayload, Metadata, NewEvent, Persistence,
    RecordedEvent, TypedProjection,
};
use cqrs_kafka::{HandlerError, MessageHandler, MessageSource, ProjectionHandler};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
enum AccountEvent {
    Deposited { amount: i64 },
}

struct Deposit {
    id: String,
}

impl Command for Deposit {
    fn aggregate_id(&self) -> &str {
        &self.id
    }
}

#[derive(Default)]
struct Account;

impl Aggregate for Account {
    const TYPE: &'static str = "Account";
    type Command = Deposit;
    type Event = AccountEvent;
    type Error = std::convert::Infallible;
    type Services = ();

    async fn handle(&self, _: &Deposit, _: &()) -> Result<Vec<AccountEvent>, Self::Error> {
        Ok(Vec::new())
    }

    fn apply(&mut self, _: &AccountEvent) {}
}

#[derive(Debug, thiserror::Error)]
enum LedgerError {
    #[error("the ledger database is unreachable")]
    Unreachable,
    #[error("the ledger refuses an amount of {0}")]
    Refused(i64),
}

/// Balances per account; a zero amount stands for a database outage, a negative one for a
/// row the database refuses for good.
#[derive(Default)]
struct Ledger {
    balances: HashMap<String, i64>,
}

#[async_trait]
impl TypedProjection for Ledger {
    type Aggregate = Account;
    type Error = LedgerError;

    fn name(&self) -> &str {
        "ledger"
    }

    fn persistence(&self) -> Persistence {
        Persistence::Durable
    }

    async fn apply(
        &mut self,
        event: &AccountEvent,
        envelope: &RecordedEvent,
    ) -> Result<(), LedgerError> {
        let AccountEvent::Deposited { amount } = *event;
        match amount {
            0 => Err(LedgerError::Unreachable),
            refused if refused < 0 => Err(LedgerError::Refused(refused)),
            amount => {
                *self
                    .balances
                    .entry(envelope.aggregate_id().to_owned())
                    .or_default() += amount;
                Ok(())
            }
        }
    }

    fn failure_kind(&self, error: &LedgerError) -> FailureKind {
        match error {
            LedgerError::Unreachable => FailureKind::Transient,
            LedgerError::Refused(_) => FailureKind::Permanent,
        }
    }
}

fn recorded(stream: &str, event_type: &str, payload: JsonPayload) -> RecordedEvent {
    RecordedEvent {
        event_id: uuid::Uuid::now_v7(),
        stream_id: Arc::from(stream),
        stream_version: 1,
        position: 1,
        recorded_at: Default::default(),
        event_type: Arc::from(event_type),
        event_version: 1,
        payload,
        metadata: Arc::new(Metadata::default()),
    }
}

fn deposited(stream: &str, amount: i64) -> RecordedEvent {
    let event = AccountEvent::Deposited { amount };
    let payload = NewEvent::from_event(&event).expect("encode").payload;
    recorded(stream, event.event_type(), payload)
}

fn source() -> MessageSource<'static> {
    MessageSource {
        topic: "Account",
        partition: 0,
        offset: 7,
    }
}

#[tokio::test]
async fn a_typed_projection_gets_its_aggregates_events_decoded_and_passes_over_others() {
    let mut handler = ProjectionHandler::new(Ledger::default());
    handler
        .handle(&deposited("Account-a", 5), &source())
        .await
        .expect("applied");
    let other = recorded(
        "Order-1",
        "Deposited",
        JsonPayload::parse("[1]").expect("json"),
    );
    handler
        .handle(&other, &source())
        .await
        .expect("another category is passed over, not decoded");
    assert_eq!(
        handler.projection().balances,
        HashMap::from([("a".to_owned(), 5)])
    );
}

#[tokio::test]
async fn an_undecodable_event_and_a_permanent_failure_are_rejected_a_transient_one_is_not() {
    let mut handler = ProjectionHandler::new(Ledger::default());
    let undecodable = recorded(
        "Account-a",
        "Deposited",
        JsonPayload::parse(r#"{"amount":"five"}"#).expect("json"),
    );
    let error = handler
        .handle(&undecodable, &source())
        .await
        .expect_err("does not decode");
    assert!(matches!(error, HandlerError::Rejected(_)), "{error:?}");
    assert!(error.to_string().contains("Account-a"), "{error}");

    let error = handler
        .handle(&deposited("Account-a", -1), &source())
        .await
        .expect_err("refused");
    assert!(matches!(error, HandlerError::Rejected(_)), "{error:?}");

    let error = handler
        .handle(&deposited("Account-a", 0), &source())
        .await
        .expect_err("unreachable");
    assert!(matches!(error, HandlerError::Transient(_)), "{error:?}");
    assert!(handler.projection().balances.is_empty());
}
