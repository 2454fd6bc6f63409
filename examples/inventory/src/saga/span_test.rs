//! The saga handles each order event in a span `saga` that names the order, the event and
//! the step, and parents the commands the saga runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use order::domain::{Cents, OrderLine};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::InventorySystem;

/// One span as it was opened, with its fields as recorded since.
#[derive(Debug, Clone)]
struct Captured {
    seq: u64,
    name: &'static str,
    parent: Option<u64>,
    fields: BTreeMap<String, String>,
}

/// Every span opened while it is the default subscriber (span ids are reused; `seq` is not).
#[derive(Clone, Default)]
struct Spans {
    next: Arc<AtomicU64>,
    all: Arc<Mutex<Vec<Captured>>>,
}

struct Seq(u64);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let parent = span
            .parent()
            .and_then(|parent| parent.extensions().get::<Seq>().map(|s| s.0));
        span.extensions_mut().insert(Seq(seq));
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        self.all.lock().unwrap().push(Captured {
            seq,
            name: span.name(),
            parent,
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(seq) = ctx
            .span(id)
            .and_then(|span| span.extensions().get::<Seq>().map(|s| s.0))
        else {
            return;
        };
        let mut all = self.all.lock().unwrap();
        if let Some(captured) = all.iter_mut().find(|c| c.seq == seq) {
            values.record(&mut Fields(&mut captured.fields));
        }
    }
}

// The current-thread runtime runs the saga's runner on this thread, under this default
// subscriber.
#[tokio::test]
async fn an_order_event_is_handled_in_a_saga_span_that_parents_its_commands() {
    let spans = Spans::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let system = InventorySystem::embedded();
    system.app.register_product("pen", "Pen").await.unwrap();
    system.app.receive_stock("pen", 5).await.unwrap();
    let line = OrderLine {
        sku: "pen".into(),
        label: "Pen".into(),
        unit_price: Cents(150),
        quantity: 2,
    };
    let placed = system
        .orders()
        .place_order("o-7", "ada", vec![line])
        .await
        .unwrap();
    system.settle().await.unwrap();
    system.shutdown().await.unwrap();

    let all = spans.all.lock().unwrap().clone();
    let saga = all
        .iter()
        .find(|s| s.name == "saga" && s.fields.get("step").map(String::as_str) == Some("reserve"))
        .unwrap_or_else(|| panic!("no saga span for the placed order in {all:#?}"));
    assert_eq!(saga.fields["order_id"], "o-7");
    assert_eq!(saga.fields["event_type"], "OrderPlaced");
    assert_eq!(
        saga.fields["event_id"],
        placed.recorded[0].event_id.to_string()
    );
    assert_eq!(saga.fields["outcome"], "confirmed", "{saga:?}");
    let children: Vec<&Captured> = all
        .iter()
        .filter(|s| s.name == "command" && s.parent == Some(saga.seq))
        .collect();
    assert!(
        children
            .iter()
            .any(
                |c| c.fields.get("aggregate_type").map(String::as_str) == Some("Product")
                    && c.fields.get("aggregate_id").map(String::as_str) == Some("pen")
            ),
        "the reservation is not a child of the saga span: {children:#?}"
    );
    // The confirmation goes to the order service over the in-process bus, whose task runs
    // in the sender's span, as over Kafka.
    assert!(
        children
            .iter()
            .any(
                |c| c.fields.get("aggregate_type").map(String::as_str) == Some("Order")
                    && c.fields.get("aggregate_id").map(String::as_str) == Some("o-7")
            ),
        "the order's confirmation is not a child of the saga span: {children:#?}"
    );
}
