//! The order example's command line.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use cqrs_core::BoxError;
use order::http::AppState;
use order::{OrderServices, OrderSystem, ServicesConfig};
use service_kit::read_your_writes::ReadYourWrites;

/// Online ordering with a price-tier read model, built on cqrs-rs.
///
/// Runs embedded by default: in-memory event store, in-process projection, no services.
/// `serve` runs in services mode when both DATABASE_URL and KAFKA_BROKERS are given:
/// PostgreSQL (or MongoDB, with MONGODB_URL) event store, Kafka between the command and
/// the query side, the read model in PostgreSQL.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Run a scripted scenario and print every customer's ordered items by price tier
    /// (cheap < 5.00 <= affordable <= 50.00 < expensive).
    Demo,
    /// Serve the HTTP/JSON API until SIGTERM or Ctrl-C, then stop gracefully within
    /// --shutdown-deadline (exit 0; non-zero when the deadline passes or a stop fails).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "ORDER_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Longest the graceful stop may take after SIGTERM or Ctrl-C, in seconds
        /// (finishing requests in flight, stopping the workers, flushing the relay).
        #[arg(long, env = "ORDER_SHUTDOWN_DEADLINE", default_value_t = 20)]
        shutdown_deadline: u64,
        /// Longest a query given `?min_position=` waits for its read model to get there,
        /// in milliseconds, before it answers 503 with Retry-After (below the 10 s
        /// request timeout).
        #[arg(long, env = "MIN_POSITION_WAIT_MS", default_value_t = 2000,
              value_parser = clap::value_parser!(u64).range(0..=9000))]
        min_position_wait_ms: u64,
        #[command(flatten)]
        services: Box<ServiceArgs>,
    },
}

/// Services mode (all of DATABASE_URL and KAFKA_BROKERS, or neither).
#[derive(Debug, Args)]
struct ServiceArgs {
    /// PostgreSQL URL for the read model (and the event store unless MONGODB_URL is set).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Kafka bootstrap servers, e.g. 127.0.0.1:9092.
    #[arg(long, env = "KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// MongoDB URL (a replica set): use MongoDB as the event store.
    #[arg(long, env = "MONGODB_URL")]
    mongodb_url: Option<String>,
    /// PostgreSQL schema (or MongoDB database) of the event store.
    #[arg(long, env = "ORDER_EVENT_SCHEMA", default_value = "order_events")]
    event_schema: String,
    /// PostgreSQL schema of the read model.
    #[arg(long, env = "ORDER_VIEW_SCHEMA", default_value = "order_views")]
    view_schema: String,
    /// Kafka consumer group of the read-model updater.
    #[arg(long, env = "ORDER_GROUP_ID", default_value = "order-price-tiers")]
    group_id: String,
    /// This replica's static member id in that group (`group.instance.id`), stable across
    /// restarts (e.g. the pod's name): a restarted replica gets its partitions back at
    /// once; a stopped one keeps them until it restarts or its session times out.
    #[arg(long, env = "ORDER_GROUP_INSTANCE_ID")]
    group_instance_id: Option<String>,
    /// Prefix of the Kafka topics (the events go to `{prefix}Order`).
    #[arg(long, env = "TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// librdkafka properties for every Kafka client of this service, `key=value`
    /// (repeatable; KAFKA_PROPERTIES takes a comma-separated list), e.g.
    /// `security.protocol=ssl` or `batch.num.messages=1`.
    #[arg(long = "kafka-property", env = "KAFKA_PROPERTIES", value_delimiter = ',',
          value_parser = service_kit::kafka_properties::parse_property)]
    kafka_properties: Vec<(String, String)>,
}

impl ServiceArgs {
    fn config(&self) -> Result<Option<ServicesConfig>, BoxError> {
        match (&self.database_url, &self.kafka_brokers) {
            (Some(database_url), Some(brokers)) => {
                let mut config = ServicesConfig::new(database_url, brokers);
                config.mongodb_url.clone_from(&self.mongodb_url);
                config.event_schema.clone_from(&self.event_schema);
                config.view_schema.clone_from(&self.view_schema);
                config.group_id.clone_from(&self.group_id);
                config.group_instance_id.clone_from(&self.group_instance_id);
                config.topic_prefix.clone_from(&self.topic_prefix);
                config.kafka_properties.clone_from(&self.kafka_properties);
                Ok(Some(config))
            }
            (None, None) if self.mongodb_url.is_none() => Ok(None),
            _ => Err("services mode needs both DATABASE_URL and KAFKA_BROKERS".into()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs (RUST_LOG, default info), trace export when OTEL_EXPORTER_OTLP_ENDPOINT is set,
    // the Prometheus recorder behind GET /metrics.
    let telemetry = match service_kit::telemetry::init("order") {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match Cli::parse().command {
        Mode::Demo => demo().await,
        Mode::Serve {
            listen,
            shutdown_deadline,
            min_position_wait_ms,
            services,
        } => {
            let deadline = Duration::from_secs(shutdown_deadline);
            let reads = ReadYourWrites {
                max_wait: Duration::from_millis(min_position_wait_ms),
                ..ReadYourWrites::default()
            };
            match services.config() {
                Ok(Some(config)) => serve_services(listen, config, deadline, reads).await,
                Ok(None) => serve(listen, deadline, reads).await,
                Err(error) => Err(error),
            }
        }
    };
    // After the graceful stop: the spans still queued are exported before the exit.
    if let Err(error) = telemetry.shutdown().await {
        tracing::warn!(%error, "some spans were not exported");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> Result<(), BoxError> {
    let system = OrderSystem::embedded();
    let report = order::demo::run(&system).await;
    system.shutdown().await?;
    print!("{}", report?);
    Ok(())
}

async fn serve_services(
    listen: SocketAddr,
    config: ServicesConfig,
    deadline: Duration,
    reads: ReadYourWrites,
) -> Result<(), BoxError> {
    // Listening from here on: a SIGTERM during start-up is a graceful stop once started.
    let signal = service_kit::shutdown::signal();
    let services = OrderServices::start(config).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "order API listening (services mode)");
    let router = order::http::router(AppState {
        read_your_writes: reads,
        ..services.app_state()
    });
    service_kit::shutdown::serve_until_signal(
        listener,
        router,
        signal,
        deadline,
        services.shutdown(),
    )
    .await
}

async fn serve(
    listen: SocketAddr,
    deadline: Duration,
    reads: ReadYourWrites,
) -> Result<(), BoxError> {
    let signal = service_kit::shutdown::signal();
    let system = OrderSystem::embedded();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "order API listening (embedded mode)");
    let router = order::http::router(AppState {
        read_your_writes: reads,
        ..system.app_state()
    });
    service_kit::shutdown::serve_until_signal(listener, router, signal, deadline, async move {
        system.shutdown().await.map_err(BoxError::from)
    })
    .await
}
