//! cqrs-rs: `PgEventStore` and `Repository::execute`, without and with the state cache
//! (and, for reference, without append coalescing). A command is `load_stream` (one
//! statement, outside any transaction), decide, and one append statement that checks the
//! expected version and inserts in its own implicit transaction: two round trips. Under
//! concurrency the store's append coalescing lets several commands share one statement and
//! one commit. With the cache, a cached aggregate skips the load.

use std::sync::Arc;

use cqrs_core::{EventStore, ExpectedVersion, Metadata, Repository};
use cqrs_postgres::{CoalescingConfig, PgEventStore, PgEventStoreConfig, SchemaName};
use futures::future::BoxFuture;
use futures::FutureExt;

use super::{Role, System, Target, Workload, POOL};
use crate::counter::{increments, Counter, Increment};

/// Which configuration of cqrs-rs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Variant {
    /// `Repository::new`, the store's default configuration.
    NoCache,
    /// `Repository::new` on a store with `CoalescingConfig::disabled()`.
    NoCacheNoCoalescing,
    /// `Repository::new(..).with_cache(2 x aggregates)`.
    Cache,
}

pub(super) struct Ours {
    variant: Variant,
    counters: Repository<Counter, PgEventStore>,
    /// `"0"` .. the last aggregate's id, so a command formats nothing.
    ids: Vec<String>,
}

/// W2's aggregate id (stream `Counter-long`).
const LONG: &str = "long";
/// Events per append while filling the long stream.
const FILL_BATCH: usize = 100;

impl Ours {
    /// Migrates a store in `schema` and appends the long stream through the store, in
    /// batches of [`FILL_BATCH`].
    pub async fn start(
        database_url: &str,
        schema: &str,
        variant: Variant,
        workload: &Workload,
    ) -> Self {
        let mut config = PgEventStoreConfig::new(SchemaName::new(schema).expect("schema name"))
            .max_connections(POOL);
        if let Variant::NoCacheNoCoalescing = variant {
            config = config.coalescing(CoalescingConfig::disabled());
        }
        let store = PgEventStore::connect(database_url, config)
            .await
            .expect("cqrs-rs store");
        store.migrate().await.expect("migrate");
        let stream = format!("Counter-{LONG}");
        let meta = Metadata::default();
        let mut version = 0;
        while version < workload.long_stream {
            let batch = FILL_BATCH.min(workload.long_stream - version);
            store
                .append(
                    &stream,
                    ExpectedVersion::Exact(version as u64),
                    increments(batch),
                    &meta,
                )
                .await
                .expect("fill the long stream");
            version += batch;
        }
        let counters = Repository::<Counter, _>::new(Arc::new(store));
        let counters = match variant {
            Variant::Cache => counters.with_cache(workload.aggregates * 2),
            Variant::NoCache | Variant::NoCacheNoCoalescing => counters,
        };
        Ours {
            variant,
            counters,
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

impl System for Ours {
    fn name(&self) -> &'static str {
        match self.variant {
            Variant::NoCache => "cqrs-rs `Repository::new` (no cache)",
            Variant::NoCacheNoCoalescing => {
                "cqrs-rs `Repository::new`, coalescing off (reference only)"
            }
            Variant::Cache => "cqrs-rs `Repository::with_cache`",
        }
    }

    fn role(&self) -> Role {
        match self.variant {
            Variant::NoCache => Role::Ours,
            Variant::NoCacheNoCoalescing => Role::OursVariant,
            Variant::Cache => Role::OursCached,
        }
    }

    fn command(&self, target: Target) -> BoxFuture<'_, ()> {
        async move {
            self.counters
                .execute(Increment {
                    id: self.id(target).to_owned(),
                })
                .await
                .expect("cqrs-rs command");
        }
        .boxed()
    }

    fn state(&self, target: Target) -> BoxFuture<'_, (u64, u64)> {
        async move {
            // `load` reads the store, never the cache.
            let loaded = self.counters.load(self.id(target)).await.expect("load");
            (loaded.state.value, loaded.version)
        }
        .boxed()
    }
}
