//! The given/when/then kit: aggregates with services, and failure messages that show
//! expected against actual.

use std::collections::HashMap;
use std::sync::Arc;

use cqrs_core::testing::{given, given_with_services};
use cqrs_core::{Aggregate, Command, Event, InMemoryEventStore, Repository};
use serde::{Deserialize, Serialize};

/// A service the decision needs: current prices.
#[derive(Default)]
struct PriceList(HashMap<String, u64>);

impl PriceList {
    async fn price(&self, sku: &str) -> Option<u64> {
        self.0.get(sku).copied()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum QuoteEvent {
    Quoted { sku: String, cents: u64 },
}

impl Event for QuoteEvent {
    const EVENT_TYPES: &'static [&'static str] = &["Quoted"];
    fn event_type(&self) -> &'static str {
        "Quoted"
    }
}

struct Quote {
    id: String,
    sku: String,
}

impl Command for Quote {
    fn aggregate_id(&self) -> &str {
        &self.id
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
#[error("no price for {0}")]
struct NoPrice(String);

#[derive(Default)]
struct Quotes {
    count: usize,
}

impl Aggregate for Quotes {
    const TYPE: &'static str = "Quotes";
    type Command = Quote;
    type Event = QuoteEvent;
    type Error = NoPrice;
    type Services = PriceList;

    async fn handle(
        &self,
        command: &Quote,
        prices: &PriceList,
    ) -> Result<Vec<QuoteEvent>, NoPrice> {
        let cents = prices
            .price(&command.sku)
            .await
            .ok_or_else(|| NoPrice(command.sku.clone()))?;
        Ok(vec![QuoteEvent::Quoted {
            sku: command.sku.clone(),
            cents,
        }])
    }

    fn apply(&mut self, _: &QuoteEvent) {
        self.count += 1;
    }
}

fn prices() -> PriceList {
    PriceList([("tea".to_owned(), 250)].into())
}

fn quote(sku: &str) -> Quote {
    Quote {
        id: "q".into(),
        sku: sku.into(),
    }
}

#[test]
fn aggregates_with_services_decide_with_the_injected_service() {
    let state = given_with_services::<Quotes>(prices(), [])
        .when(quote("tea"))
        .then_events([QuoteEvent::Quoted {
            sku: "tea".into(),
            cents: 250,
        }]);
    assert_eq!(
        state.count, 1,
        "then_events returns the state after the new events"
    );
    given_with_services::<Quotes>(prices(), [])
        .when(quote("gin"))
        .then_error(NoPrice("gin".into()));
}

#[tokio::test]
async fn the_pipeline_passes_services_to_the_decision() {
    let quotes =
        Repository::<Quotes, _>::with_services(Arc::new(InMemoryEventStore::new()), prices());
    quotes.execute(quote("tea")).await.unwrap();
    assert_eq!(
        quotes.execute(quote("gin")).await.unwrap_err().rejection(),
        Some(&NoPrice("gin".into()))
    );
}

#[test]
#[should_panic(expected = "expected: [\n    Quoted {\n        sku: \"tea\",\n        cents: 999,")]
fn a_wrong_event_shows_expected_and_actual() {
    given::<Quotes>([])
        .when(quote("tea"))
        .then_events([QuoteEvent::Quoted {
            sku: "tea".into(),
            cents: 999,
        }]);
}

#[test]
#[should_panic(expected = "refused the command, but events were expected")]
fn an_unexpected_refusal_is_reported_with_the_error() {
    given::<Quotes>([]).when(quote("tea")).then_events([]);
}

#[test]
#[should_panic(expected = "accepted the command, but an error was expected")]
fn an_unexpected_success_is_reported_with_the_events() {
    given_with_services::<Quotes>(prices(), [])
        .when(quote("tea"))
        .then_error(NoPrice("tea".into()));
}
