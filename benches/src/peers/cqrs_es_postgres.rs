//! cqrs-es 0.5 + postgres-es 0.5, as postgres-es's README shows: `postgres_cqrs(pool, ..)`
//! (a `CqrsFramework` over `PersistedEventStore::new_event_store(PostgresEventRepository)`),
//! on the tables of its `db/init.sql`. A command is `CqrsFramework::execute`: `SELECT` every
//! event of the aggregate (no transaction), decide, then `BEGIN; INSERT` (one per event);
//! `COMMIT` — four round trips; a lost race is the primary key's unique violation,
//! reported as `AggregateConflict`.

use std::collections::HashMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{AggregateError, DomainEvent, EventStore};
use futures::future::BoxFuture;
use futures::FutureExt;
use postgres_es::{postgres_cqrs, PostgresCqrs, PostgresEventRepository};

use super::{pool_in, retry_lost_races, Attempt, Role, System, Target, Workload};
use crate::counter::{Counter, CounterEvent, Increment, Never};

impl cqrs_es::Aggregate for Counter {
    const TYPE: &'static str = "Counter";
    type Command = Increment;
    type Event = CounterEvent;
    type Error = Never;
    type Services = ();

    async fn handle(&mut self, _: Increment, _: &(), sink: &EventSink<Self>) -> Result<(), Never> {
        let event = self.decide();
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: CounterEvent) {
        self.add(&event);
    }
}

impl DomainEvent for CounterEvent {
    fn event_type(&self) -> String {
        "Incremented".to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// The events table of postgres-es's `db/init.sql` (the snapshots table is not used).
const EVENTS_TABLE: &str = "CREATE TABLE events (
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
)";

/// W2's aggregate id.
const LONG: &str = "long";

pub(super) struct CqrsEs {
    cqrs: PostgresCqrs<Counter>,
    /// The same event store without the framework, for checking states.
    store: PersistedEventStore<PostgresEventRepository, Counter>,
    ids: Vec<String>,
}

impl CqrsEs {
    /// Creates postgres-es's events table in `schema` and commits the long aggregate's
    /// events through its event store (one commit of all of them).
    pub async fn start(database_url: &str, schema: &str, workload: &Workload) -> Self {
        let pool = pool_in(database_url, schema).await;
        sqlx::query(EVENTS_TABLE)
            .execute(&pool)
            .await
            .expect("postgres-es events table");
        let store =
            PersistedEventStore::new_event_store(PostgresEventRepository::new(pool.clone()));
        let empty = store.load_aggregate(LONG).await.expect("load");
        let events = (0..workload.long_stream)
            .map(|_| Counter::default().decide())
            .collect();
        store
            .commit(events, empty, HashMap::new())
            .await
            .expect("fill the long aggregate");
        CqrsEs {
            cqrs: postgres_cqrs(pool, vec![], ()),
            store,
            ids: (0..workload.aggregates).map(|n| n.to_string()).collect(),
        }
    }

    fn id(&self, target: Target) -> &str {
        match target {
            Target::Account(n) => &self.ids[n],
            Target::Long => LONG,
        }
    }
}

impl System for CqrsEs {
    fn name(&self) -> &'static str {
        "cqrs-es 0.5 + postgres-es 0.5"
    }

    fn role(&self) -> Role {
        Role::Peer
    }

    fn command(&self, target: Target) -> BoxFuture<'_, ()> {
        let id = self.id(target);
        retry_lost_races(self.name(), move || async move {
            match self.cqrs.execute(id, Increment { id: id.to_owned() }).await {
                Ok(()) => Attempt::Committed,
                Err(AggregateError::AggregateConflict) => Attempt::LostRace,
                Err(error) => panic!("cqrs-es command: {error}"),
            }
        })
        .boxed()
    }

    fn state(&self, target: Target) -> BoxFuture<'_, (u64, u64)> {
        async move {
            let context = self
                .store
                .load_aggregate(self.id(target))
                .await
                .expect("load");
            (context.aggregate.value, context.current_sequence as u64)
        }
        .boxed()
    }
}
