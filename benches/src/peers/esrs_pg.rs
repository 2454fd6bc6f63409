//! esrs 0.18, as its README shows: a `PgStore` built by `PgStoreBuilder` (its migrations
//! create `counter_events`), driven by an `AggregateManager`. A command is
//! `AggregateManager::load` (`SELECT` every event, no transaction), then `handle_command`:
//! decide, `BEGIN; INSERT` (one per event); `COMMIT` — four round trips; a lost race is the
//! `(aggregate_id, sequence_number)` unique index's violation. esrs's optional pessimistic
//! path (`lock_and_load`, an advisory lock held on a second connection) is not used: no
//! other system takes a lock.

use esrs::manager::AggregateManager;
use esrs::store::postgres::{PgStore, PgStoreBuilder, PgStoreError};
use esrs::store::EventStore;
use esrs::AggregateState;
use futures::future::BoxFuture;
use futures::FutureExt;
use uuid::Uuid;

use super::{
    is_unique_violation, pool_in, retry_lost_races, Attempt, Role, System, Target, Workload,
};
use crate::counter::{Counter, CounterEvent, Increment, Never};

/// The counter as an esrs aggregate: esrs keeps the state apart from the aggregate type.
pub(super) struct EsrsCounter;

impl esrs::Aggregate for EsrsCounter {
    const NAME: &'static str = "counter";
    type State = Counter;
    type Command = Increment;
    type Event = CounterEvent;
    type Error = Never;

    fn handle_command(state: &Counter, _: Increment) -> Result<Vec<CounterEvent>, Never> {
        Ok(vec![state.decide()])
    }

    fn apply_event(mut state: Counter, event: CounterEvent) -> Counter {
        state.add(&event);
        state
    }
}

/// W2's aggregate id (esrs ids are UUIDs; W1's are `Uuid::from_u128(n)`).
const LONG: Uuid = Uuid::from_u128(u128::MAX);

pub(super) struct Esrs {
    manager: AggregateManager<PgStore<EsrsCounter>>,
}

impl Esrs {
    /// Builds the `PgStore` in `schema` (running its migrations) and persists the long
    /// aggregate's events through it (one transaction).
    pub async fn start(database_url: &str, schema: &str, workload: &Workload) -> Self {
        let pool = pool_in(database_url, schema).await;
        let store: PgStore<EsrsCounter> = PgStoreBuilder::new(pool)
            .try_build()
            .await
            .expect("esrs PgStore");
        let mut long = AggregateState::with_id(LONG);
        let events = (0..workload.long_stream)
            .map(|_| Counter::default().decide())
            .collect();
        store
            .persist(&mut long, events)
            .await
            .expect("fill the long aggregate");
        Esrs {
            manager: AggregateManager::new(store),
        }
    }
}

fn id(target: Target) -> Uuid {
    match target {
        Target::Account(n) => Uuid::from_u128(n as u128),
        Target::Long => LONG,
    }
}

impl System for Esrs {
    fn name(&self) -> &'static str {
        "esrs 0.18"
    }

    fn role(&self) -> Role {
        Role::Peer
    }

    fn command(&self, target: Target) -> BoxFuture<'_, ()> {
        let id = id(target);
        retry_lost_races(self.name(), move || async move {
            let state = self
                .manager
                .load(id)
                .await
                .expect("esrs load")
                .unwrap_or_else(|| AggregateState::with_id(id));
            let command = Increment { id: String::new() };
            match self.manager.handle_command(state, command).await {
                Ok(Ok(_)) => Attempt::Committed,
                Ok(Err(refused)) => panic!("esrs refused the command: {refused}"),
                Err(PgStoreError::Sqlx(error)) if is_unique_violation(&error) => Attempt::LostRace,
                Err(error) => panic!("esrs command: {error}"),
            }
        })
        .boxed()
    }

    fn state(&self, target: Target) -> BoxFuture<'_, (u64, u64)> {
        async move {
            match self.manager.load(id(target)).await.expect("esrs load") {
                Some(state) => (state.inner().value, *state.sequence_number() as u64),
                None => (0, 0),
            }
        }
        .boxed()
    }
}
