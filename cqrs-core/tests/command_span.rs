//! Every command runs in a `command` span carrying the aggregate type, id and outcome.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cqrs_core::Repository;
use support::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;

/// Collects the fields of every `command` span, in creation order.
#[derive(Clone, Default)]
struct CommandSpans(Arc<Mutex<Vec<(Id, Fields)>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for CommandSpans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "command" {
            let mut fields = Fields::new();
            attrs.record(&mut Collect(&mut fields));
            self.0.lock().unwrap().push((id.clone(), fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some((_, fields)) = self
            .0
            .lock()
            .unwrap()
            .iter_mut()
            .find(|(span, _)| span == id)
        {
            values.record(&mut Collect(fields));
        }
    }
}

#[test]
fn each_command_span_names_the_aggregate_and_its_outcome() {
    let spans = CommandSpans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = arc(FaultyStore::default());
            let tabs = Repository::<Tab, _>::new(store.clone());
            tabs.execute(open("t1", 5)).await.unwrap();
            tabs.execute(open("t1", 5)).await.unwrap_err();
            store.down.store(true, std::sync::atomic::Ordering::SeqCst);
            tabs.execute(add("t1", &[("x", 1)])).await.unwrap_err();
        });
    });
    let recorded = spans.0.lock().unwrap();
    let summary: Vec<_> = recorded
        .iter()
        .map(|(_, f)| {
            (
                f["aggregate_type"].as_str(),
                f["aggregate_id"].as_str(),
                f["outcome"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Tab", "t1", "committed"),
            ("Tab", "t1", "rejected"),
            ("Tab", "t1", "failed")
        ]
    );
    assert_eq!(recorded[0].1["attempts"], "1");
}
