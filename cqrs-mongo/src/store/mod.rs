//! The [`MongoEventStore`]: connection, schema, and the [`EventStore`] implementation.

mod append;
mod checkpoints;
mod reads;
mod refusals;
mod snapshots;
mod transaction;
mod watch;

use async_trait::async_trait;
use bson::Document;
use cqrs_core::{
    AppendResult, EventStore, ExpectedVersion, Metadata, NewEvent, PositionNotifier, PositionWatch,
    RecordedEvent, RecordedRefusal, Snapshot, StoreError,
};
use mongodb::error::ErrorKind;
use mongodb::options::{ClientOptions, CollectionOptions, ReadConcern, WriteConcern};
use mongodb::{Client, Collection, Database};
use uuid::Uuid;

use crate::config::MongoEventStoreConfig;
use crate::error::{store_error, SetupError};
use crate::queries::{self, Deployment};

pub(crate) use checkpoints::{encode as encode_checkpoint, load_in, save_in};
pub(crate) use reads::collect_in;
pub(crate) use transaction::{run_transaction, BodyError, Outcome, TransactionBody};

/// An [`EventStore`] on MongoDB: one document per event, appends in multi-document
/// transactions, a dense global position allocated in commit order.
///
/// Requires a replica set (a single-node one is enough) or a sharded cluster; a standalone
/// server is refused by [`connect`](Self::connect) with
/// [`SetupError::StandaloneServer`]. Call [`migrate`](Self::migrate) once per database
/// (it is idempotent) before appending. See the [crate docs](crate) for the guarantees and
/// their mechanism.
///
/// Dropping the store stops its background wake-up task.
pub struct MongoEventStore {
    client: Client,
    database: Database,
    collections: Collections,
    config: MongoEventStoreConfig,
    notifier: PositionNotifier,
    _watcher: watch::WatcherGuard,
}

/// The store's collections, with majority read and write concerns: readers only see
/// events that survive a failover.
#[derive(Debug, Clone)]
pub(crate) struct Collections {
    pub events: Collection<Document>,
    pub snapshots: Collection<Document>,
    pub checkpoints: Collection<Document>,
    pub counters: Collection<Document>,
    pub leases: Collection<Document>,
    pub command_refusals: Collection<Document>,
}

impl Collections {
    fn new(database: &Database, config: &MongoEventStoreConfig) -> Self {
        let options = CollectionOptions::builder()
            .read_concern(ReadConcern::majority())
            .write_concern(WriteConcern::majority())
            .build();
        let open = |name: &str| database.collection_with_options::<Document>(name, options.clone());
        Self {
            events: open(&config.events_collection),
            snapshots: open(&config.snapshots_collection),
            checkpoints: open(&config.checkpoints_collection),
            counters: open(&config.counters_collection),
            leases: open(&config.leases_collection),
            command_refusals: open(&config.command_refusals_collection),
        }
    }
}

impl std::fmt::Debug for MongoEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoEventStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MongoEventStore {
    /// Connects to `url` (a MongoDB connection string), checks that the deployment supports
    /// transactions, and starts the wake-up task. Does not create anything: call
    /// [`migrate`](Self::migrate).
    pub async fn connect(url: &str, config: MongoEventStoreConfig) -> Result<Self, SetupError> {
        let mut options = ClientOptions::parse(url)
            .await
            .map_err(|e| match e.kind.as_ref() {
                ErrorKind::InvalidArgument { .. } => SetupError::Config(e.to_string()),
                _ => store_error("connect", e).into(),
            })?;
        options
            .app_name
            .get_or_insert_with(|| "cqrs-mongo".to_owned());
        let address = options
            .hosts
            .iter()
            .map(|h| h.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let client =
            Client::with_options(options).map_err(|e| SetupError::Config(e.to_string()))?;
        Self::open(client, config, address).await
    }

    /// Uses an existing client (shared connection pool). Checks the deployment like
    /// [`connect`](Self::connect).
    pub async fn with_client(
        client: Client,
        config: MongoEventStoreConfig,
    ) -> Result<Self, SetupError> {
        Self::open(client, config, "the configured server".to_owned()).await
    }

    async fn open(
        client: Client,
        config: MongoEventStoreConfig,
        address: String,
    ) -> Result<Self, SetupError> {
        config.validate()?;
        let hello = client
            .database("admin")
            .run_command(bson::doc! { "hello": 1 })
            .await
            .map_err(|e| store_error("connect", e))?;
        match queries::deployment_of(&hello) {
            Deployment::Standalone => {
                tracing::error!(%address, "standalone MongoDB server: transactions unavailable");
                return Err(SetupError::StandaloneServer { address });
            }
            deployment => tracing::debug!(?deployment, "connected to MongoDB"),
        }
        let database = client.database(&config.database);
        let collections = Collections::new(&database, &config);
        let notifier = PositionNotifier::new();
        let watcher = watch::spawn(
            collections.events.clone(),
            notifier.clone(),
            config.poll_interval,
            config.change_stream,
        );
        Ok(Self {
            client,
            database,
            collections,
            config,
            notifier,
            _watcher: watcher,
        })
    }

    /// Creates the collections, the unique indexes on `(stream_id, stream_version)` and on
    /// `event_id` (refusals are unique by their `_id`, the command id), and the position
    /// counter (raised to the log's head if the log already has events). Idempotent: safe
    /// to run at every start.
    #[tracing::instrument(skip(self), fields(database = %self.config.database))]
    pub async fn migrate(&self) -> Result<(), SetupError> {
        let existing = self
            .database
            .list_collection_names()
            .await
            .map_err(|e| store_error("migrate", e))?;
        for name in [
            &self.config.events_collection,
            &self.config.snapshots_collection,
            &self.config.checkpoints_collection,
            &self.config.counters_collection,
            &self.config.leases_collection,
            &self.config.command_refusals_collection,
        ] {
            if !existing.contains(name) {
                // Collections must exist before transactions write to them.
                if let Err(e) = self.database.create_collection(name.as_str()).await {
                    // 48 NamespaceExists: another process created it meanwhile.
                    if crate::error::ErrorFacts::of(&e).code != Some(48) {
                        return Err(store_error("migrate", e).into());
                    }
                }
            }
        }
        self.collections
            .events
            .create_indexes(queries::event_indexes())
            .await
            .map_err(|e| store_error("migrate", e))?;
        let head = i64::try_from(self.head_position().await?).unwrap_or(i64::MAX);
        self.collections
            .counters
            .update_one(queries::position_counter(), queries::seed_counter(head))
            .upsert(true)
            .await
            .map_err(|e| store_error("migrate", e))?;
        tracing::info!(head, "event store collections and indexes ready");
        Ok(())
    }

    /// Alias of [`migrate`](Self::migrate).
    pub async fn ensure_indexes(&self) -> Result<(), SetupError> {
        self.migrate().await
    }

    /// The driver client (to share its pool, or to open sessions for read models).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The store's database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The configuration.
    pub fn config(&self) -> &MongoEventStoreConfig {
        &self.config
    }

    pub(crate) fn collections(&self) -> &Collections {
        &self.collections
    }
}

#[async_trait]
impl EventStore for MongoEventStore {
    fn kind(&self) -> &'static str {
        "mongo"
    }

    #[tracing::instrument(level = "debug", skip(self, events, metadata), fields(events = events.len()))]
    async fn append(
        &self,
        stream_id: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        metadata: &Metadata,
    ) -> Result<AppendResult, StoreError> {
        let result = append::append(self, stream_id, expected, events, metadata).await?;
        if let Some(last) = result.events.last().filter(|_| !result.deduplicated) {
            self.notifier.notify(last.position);
        }
        Ok(result)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn read_stream(
        &self,
        stream_id: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reads::read_stream(&self.collections.events, stream_id, from_version).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn read_all(
        &self,
        from_position: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reads::read_all(&self.collections.events, from_position, max).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        reads::head_position(&self.collections.events).await
    }

    fn subscribe(&self) -> PositionWatch {
        self.notifier.subscribe()
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn load_snapshot(&self, stream_id: &str) -> Result<Option<Snapshot>, StoreError> {
        snapshots::load(&self.collections.snapshots, stream_id).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(stream = %snapshot.stream_id, version = snapshot.version))]
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        snapshots::save(&self.collections.snapshots, &snapshot).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn load_checkpoint(&self, name: &str) -> Result<Option<u64>, StoreError> {
        checkpoints::load(&self.collections.checkpoints, name).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn save_checkpoint(&self, name: &str, position: u64) -> Result<(), StoreError> {
        checkpoints::save(&self.collections.checkpoints, name, position).await
    }

    #[tracing::instrument(level = "debug", skip_all, fields(ids = ids.len()))]
    async fn read_events_by_id(&self, ids: &[Uuid]) -> Result<Vec<RecordedEvent>, StoreError> {
        reads::read_events_by_id(&self.collections.events, ids).await
    }

    /// Insert-if-absent by `_id` (see `store/refusals.rs`); a racing refusal that is not yet
    /// majority-committed is waited for at most `transaction_timeout`.
    #[tracing::instrument(level = "debug", skip_all, fields(command_id = %refusal.command_id))]
    async fn record_refusal(
        &self,
        refusal: RecordedRefusal,
    ) -> Result<RecordedRefusal, StoreError> {
        refusals::record(
            &self.collections.command_refusals,
            &refusal,
            self.config.transaction_timeout,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn load_refusal(&self, command_id: Uuid) -> Result<Option<RecordedRefusal>, StoreError> {
        refusals::load(&self.collections.command_refusals, command_id).await
    }
}
