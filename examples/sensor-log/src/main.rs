//! The sensor-log command line: `embedded` (default), `ingest`, `serve`, `demo`.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use cqrs_core::BoxError;
use cqrs_kafka::RunningConsumer;
use sensor_log::api::{self, AppState};
use sensor_log::ingest::kafka::{spawn_writer, DeviceHandler, WriterConfig};
use sensor_log::ingest::{Ingestor, Topics};
use sensor_log::queries::SensorQueries;
use sensor_log::store::{MemoryStore, PostgresStore, SensorStore};

/// IoT time series: devices publish JSON readings to Kafka, a writer job stores them in
/// PostgreSQL, a query service serves them over HTTP.
///
/// Without a subcommand, runs embedded: in-memory store, ingest over HTTP
/// (POST /ingest/readings, POST /ingest/sensors) and the query API in one process.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Ingest and query in one process, in memory, no services: devices' messages are
    /// POSTed to /ingest/readings and /ingest/sensors instead of Kafka; until SIGTERM or
    /// Ctrl-C.
    Embedded {
        #[command(flatten)]
        listen: Listen,
        #[command(flatten)]
        shutdown: Shutdown,
    },
    /// The writer job: consume logger.sensor.ts and logger.sensor.instance with a consumer
    /// group, store valid readings in PostgreSQL in batches, dead-letter malformed
    /// messages to logger.sensor.ts.dlq; until SIGTERM or Ctrl-C. Exits non-zero when the
    /// consumer stops for good, so that an orchestrator restarts it.
    Ingest {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        kafka: Kafka,
        #[command(flatten)]
        shutdown: Shutdown,
        /// Address of the writer's operations endpoint, for Prometheus and probes:
        /// GET /metrics, /health/live, /health/ready (503 naming the writer once it
        /// stopped, or the database while it does not answer). None when unset.
        #[arg(long, env = "SENSOR_LOG_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
    },
    /// The query service: the HTTP/JSON API over PostgreSQL, until SIGTERM or Ctrl-C.
    Serve {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        listen: Listen,
        #[command(flatten)]
        shutdown: Shutdown,
    },
    /// Feed sample readings in-process and print what every query endpoint answers.
    Demo {
        /// Run against PostgreSQL instead of memory (the tables are created if missing).
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        /// PostgreSQL schema of the tables, with --database-url.
        #[arg(long, env = "SENSOR_LOG_SCHEMA", default_value = "sensor_log_demo")]
        schema: String,
    },
}

#[derive(Debug, Parser)]
struct Listen {
    /// Address the HTTP API listens on.
    #[arg(long, env = "SENSOR_LOG_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

#[derive(Debug, Parser)]
struct Shutdown {
    /// Longest the graceful stop may take after SIGTERM or Ctrl-C, in seconds (in-flight
    /// HTTP requests, the writer's last batch and offset commit). Past it the process
    /// exits non-zero; what was not committed is delivered again after the restart.
    #[arg(long, env = "SENSOR_LOG_SHUTDOWN_TIMEOUT", default_value_t = 10)]
    shutdown_timeout: u64,
}

impl Shutdown {
    fn deadline(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout)
    }
}

#[derive(Debug, Args)]
struct Database {
    /// PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/test. The tables are
    /// created if missing; with TimescaleDB installed, readings is a hypertable.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// PostgreSQL schema holding the sensors and readings tables.
    #[arg(long, env = "SENSOR_LOG_SCHEMA", default_value = "sensor_log")]
    schema: String,
}

#[derive(Debug, Args)]
struct Kafka {
    /// Kafka bootstrap brokers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS")]
    kafka_brokers: String,
    /// Consumer group of the writer job: writers with the same group share partitions,
    /// and the group's committed offsets say where a restarted writer resumes.
    #[arg(long, env = "SENSOR_LOG_GROUP_ID", default_value = "sensor-log-writer")]
    group_id: String,
    /// Topic of the readings (JSON arrays).
    #[arg(
        long,
        env = "SENSOR_LOG_READINGS_TOPIC",
        default_value = "logger.sensor.ts"
    )]
    readings_topic: String,
    /// Topic of the sensor metadata (JSON objects).
    #[arg(
        long,
        env = "SENSOR_LOG_SENSORS_TOPIC",
        default_value = "logger.sensor.instance"
    )]
    sensors_topic: String,
    /// Dead-letter topic for malformed messages (reason in the dlq-error header).
    #[arg(
        long,
        env = "SENSOR_LOG_DLQ_TOPIC",
        default_value = "logger.sensor.ts.dlq"
    )]
    dlq_topic: String,
    /// Partitions of the topics when the writer has to create them (0: do not create).
    #[arg(long, default_value_t = 3)]
    create_partitions: i32,
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs (RUST_LOG, default info), trace export when OTEL_EXPORTER_OTLP_ENDPOINT is set,
    // the Prometheus recorder behind GET /metrics.
    let telemetry = match service_kit::telemetry::init("sensor-log") {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("sensor-log: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match Cli::parse().mode {
        // No subcommand: embedded, with the settings from the environment or the defaults.
        None => {
            embedded(
                Listen::parse_from(["sensor-log"]),
                Shutdown::parse_from(["sensor-log"]),
            )
            .await
        }
        Some(Mode::Embedded { listen, shutdown }) => embedded(listen, shutdown).await,
        Some(Mode::Ingest {
            database,
            kafka,
            shutdown,
            metrics_listen,
        }) => ingest(database, kafka, shutdown, metrics_listen).await,
        Some(Mode::Serve {
            database,
            listen,
            shutdown,
        }) => serve(database, listen, shutdown).await,
        Some(Mode::Demo {
            database_url,
            schema,
        }) => demo(database_url, &schema).await,
    };
    // After the graceful stop: the spans still queued are exported before the exit.
    if let Err(error) = telemetry.shutdown().await {
        tracing::warn!(%error, "some spans were not exported");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "sensor-log stopped with an error");
            ExitCode::FAILURE
        }
    }
}

async fn embedded(listen: Listen, shutdown: Shutdown) -> Result<(), BoxError> {
    // Listening from here on: a SIGTERM during start-up is a graceful stop.
    let signal = service_kit::shutdown::signal();
    let store: Arc<dyn SensorStore> = Arc::new(MemoryStore::default());
    let state = AppState {
        queries: SensorQueries::new(store.clone()),
        ingestor: Some(Ingestor::new(store)),
    };
    let listener = tokio::net::TcpListener::bind(listen.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "sensor-log embedded listening: POST /ingest/readings, GET /sensors ...");
    serve_until_signal(listener, api::router(state), signal, shutdown.deadline()).await
}

async fn serve(database: Database, listen: Listen, shutdown: Shutdown) -> Result<(), BoxError> {
    // Listening from here on: a SIGTERM during start-up is a graceful stop.
    let signal = service_kit::shutdown::signal();
    let store = PostgresStore::connect(&database.database_url, &database.schema).await?;
    let state = AppState {
        queries: SensorQueries::new(Arc::new(store)),
        ingestor: None,
    };
    let listener = tokio::net::TcpListener::bind(listen.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "sensor-log query API listening");
    serve_until_signal(listener, api::router(state), signal, shutdown.deadline()).await
}

/// Serves `router` until `signal`, then lets in-flight requests finish within `deadline`
/// (nothing else to stop in these modes).
async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    signal: impl Future<Output = ()> + Send + 'static,
    deadline: Duration,
) -> Result<(), BoxError> {
    service_kit::shutdown::serve_until_signal(listener, router, signal, deadline, async { Ok(()) })
        .await?;
    tracing::info!("sensor-log stopped cleanly");
    Ok(())
}

async fn ingest(
    database: Database,
    kafka: Kafka,
    shutdown: Shutdown,
    metrics_listen: Option<SocketAddr>,
) -> Result<(), BoxError> {
    // Listening from here on: a SIGTERM during start-up is a graceful stop.
    let signal = service_kit::shutdown::signal();
    let operations = match metrics_listen {
        Some(address) => Some(tokio::net::TcpListener::bind(address).await?),
        None => None,
    };
    let store: Arc<dyn SensorStore> =
        Arc::new(PostgresStore::connect(&database.database_url, &database.schema).await?);
    let brokers = cqrs_kafka::KafkaConfig::new(&kafka.kafka_brokers);
    let topics = Topics {
        readings: kafka.readings_topic,
        sensors: kafka.sensors_topic,
        dead_letter: kafka.dlq_topic,
    };
    if kafka.create_partitions > 0 {
        cqrs_kafka::create_topics(&brokers, &topics.all(), kafka.create_partitions, 1).await?;
    }
    let config = WriterConfig {
        group_id: kafka.group_id,
        topics,
        ..WriterConfig::default()
    };
    tracing::info!(group = %config.group_id, topics = ?config.topics, "sensor-log writer starting");
    let writer = spawn_writer(brokers, config, Ingestor::new(store.clone()))?;
    let operations = operations.map(|listener| serve_operations(listener, &writer, store.clone()));
    // `ingest` has no HTTP server to report not-ready on: a writer that stops for good
    // makes the process exit non-zero, so that the orchestrator restarts it.
    let stopped_by_itself = tokio::select! {
        () = signal => None,
        reason = writer_stopped(&writer) => Some(reason),
    };
    if let Some(reason) = &stopped_by_itself {
        tracing::error!(%reason, "the writer stopped for good; exiting non-zero");
    }
    let stop = service_kit::shutdown::within(shutdown.deadline(), "writer", writer.shutdown());
    let stopped = stop.await;
    if let Some(operations) = operations {
        operations.abort();
    }
    stopped??;
    match stopped_by_itself {
        Some(reason) => Err(format!("the writer stopped for good: {reason}").into()),
        None => {
            tracing::info!("sensor-log writer stopped cleanly");
            Ok(())
        }
    }
}

/// Serves the writer's `GET /metrics` and health routes on `listener` (the writer watched
/// as `sensor-log-writer`, the store checked), until the task is aborted.
fn serve_operations(
    listener: tokio::net::TcpListener,
    writer: &RunningConsumer<DeviceHandler>,
    store: Arc<dyn SensorStore>,
) -> tokio::task::JoinHandle<()> {
    let health = service_kit::Health::new();
    health.watch("sensor-log-writer", writer.state());
    api::check_store(&health, store);
    let router = service_kit::harden(
        health
            .router()
            .merge(service_kit::metrics_endpoint::router()),
        service_kit::HttpLimits::default(),
    );
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "sensor-log writer: GET /metrics, /health/ready");
    }
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the operations endpoint stopped");
        }
    })
}

/// Resolves when the writer stopped on its own (an error, a panic), with the reason; logs
/// its progress every 10 s meanwhile.
async fn writer_stopped(writer: &RunningConsumer<DeviceHandler>) -> String {
    let mut state = writer.state();
    let mut report = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            stopped = state.stopped() => return stopped.to_string(),
            _ = report.tick() => {
                let stats = writer.progress();
                tracing::info!(handled = stats.handled, dead_lettered = stats.dead_lettered, retries = stats.retries, "writer progress");
            }
        }
    }
}

async fn demo(database_url: Option<String>, schema: &str) -> Result<(), BoxError> {
    let store: Arc<dyn SensorStore> = match database_url {
        Some(url) => Arc::new(PostgresStore::connect(&url, schema).await?),
        None => Arc::new(MemoryStore::default()),
    };
    let report =
        sensor_log::demo::run(&Ingestor::new(store.clone()), &SensorQueries::new(store)).await?;
    print!("{report}");
    Ok(())
}
