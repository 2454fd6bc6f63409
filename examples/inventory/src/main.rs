//! The inventory example's command line.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use inventory::http::{self, ApiState};
use inventory::{Inventory, InventoryServices, InventorySystem, ServicesConfig};

/// Stock that never goes negative, reserved by a saga reacting to orders (cqrs-rs example).
///
/// Embedded mode (the default) keeps everything in memory in one process. `serve` with both
/// `--database-url` and `--kafka-brokers` (or DATABASE_URL and KAFKA_BROKERS) runs in
/// services mode: PostgreSQL event store and stock view, the saga fed from Kafka.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Run a scripted scenario (products, stock, orders that can and cannot be filled,
    /// a cancellation, a shipment) and print order outcomes and stock levels.
    Demo {
        /// Products with fewer available units than this are listed as low on stock.
        #[arg(long, env = "LOW_STOCK_THRESHOLD", default_value_t = 3)]
        low_stock_threshold: u64,
    },
    /// Serve the HTTP/JSON API until SIGTERM or Ctrl-C, then stop gracefully within
    /// --shutdown-deadline (exit 0; non-zero when the deadline passes or a stop fails).
    Serve(Box<ServeArgs>),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    /// (8081 by default, so the order service can keep 8080 on the same machine.)
    #[arg(long, env = "INVENTORY_LISTEN", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Default threshold of `GET /stock/low` (products with fewer available units).
    #[arg(long, env = "LOW_STOCK_THRESHOLD", default_value_t = 5)]
    low_stock_threshold: u64,
    /// Longest the graceful stop may take after SIGTERM or Ctrl-C, in seconds (finishing
    /// requests in flight, stopping the saga, the view and the relay).
    #[arg(long, env = "INVENTORY_SHUTDOWN_DEADLINE", default_value_t = 20)]
    shutdown_deadline: u64,
    /// Longest a query given `?min_position=` waits for the stock view to get there, in
    /// milliseconds, before it answers 503 with Retry-After (below the 10 s request
    /// timeout).
    #[arg(long, env = "MIN_POSITION_WAIT_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(0..=9000))]
    min_position_wait_ms: u64,
    /// PostgreSQL URL of the event store and the stock view (services mode, with
    /// --kafka-brokers). The inventory's tables live in their own schemas; a separate
    /// database works too (INVENTORY_DATABASE_URL takes precedence over DATABASE_URL).
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// The inventory's own PostgreSQL database, when it is not DATABASE_URL's.
    #[arg(long, env = "INVENTORY_DATABASE_URL")]
    inventory_database_url: Option<String>,
    /// Kafka bootstrap servers, e.g. 127.0.0.1:19092 (services mode, with --database-url).
    #[arg(long, env = "KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// Prefix of the Kafka topic names (`{prefix}Order`, `{prefix}Order.commands`,
    /// `{prefix}Product`, ...): the same TOPIC_PREFIX as the order service's, so that one
    /// deployment's services find each other and no other deployment's.
    #[arg(long, env = "TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// Schema of the event store in PostgreSQL.
    #[arg(
        long,
        env = "INVENTORY_EVENT_SCHEMA",
        default_value = "inventory_events"
    )]
    event_schema: String,
    /// librdkafka properties for every Kafka client of this service, `key=value`
    /// (repeatable; KAFKA_PROPERTIES takes a comma-separated list), e.g.
    /// `security.protocol=ssl` or `batch.num.messages=1`.
    #[arg(long = "kafka-property", env = "KAFKA_PROPERTIES", value_delimiter = ',',
          value_parser = service_kit::kafka_properties::parse_property)]
    kafka_properties: Vec<(String, String)>,
    /// This process's static member id in the consumer groups (Kafka's
    /// `group.instance.id`), stable across restarts, e.g. the pod's name.
    #[arg(long, env = "INVENTORY_GROUP_INSTANCE_ID")]
    group_instance_id: Option<String>,
    /// Schema of the stock view in PostgreSQL.
    #[arg(long, env = "INVENTORY_VIEW_SCHEMA", default_value = "inventory_views")]
    view_schema: String,
}

/// The system behind the API, in either mode.
enum Running {
    Embedded(InventorySystem),
    Services(InventoryServices),
}

impl Running {
    async fn start(args: &ServeArgs) -> Result<Self, MainError> {
        let database_url = args
            .inventory_database_url
            .as_ref()
            .or(args.database_url.as_ref());
        match (database_url, &args.kafka_brokers) {
            (None, None) => Ok(Running::Embedded(InventorySystem::embedded())),
            (Some(database_url), Some(kafka_brokers)) => {
                let mut config = ServicesConfig::new(database_url, kafka_brokers);
                config.topic_prefix.clone_from(&args.topic_prefix);
                config.event_schema.clone_from(&args.event_schema);
                config.view_schema.clone_from(&args.view_schema);
                config.group_instance_id.clone_from(&args.group_instance_id);
                config.kafka_properties.clone_from(&args.kafka_properties);
                Ok(Running::Services(InventoryServices::start(config).await?))
            }
            _ => Err("services mode needs both --database-url (DATABASE_URL) and --kafka-brokers (KAFKA_BROKERS); set neither for embedded mode".into()),
        }
    }

    fn mode(&self) -> &'static str {
        match self {
            Running::Embedded(_) => "embedded",
            Running::Services(_) => "services",
        }
    }

    fn app(&self) -> Inventory {
        match self {
            Running::Embedded(system) => system.app.clone(),
            Running::Services(services) => services.app.clone(),
        }
    }

    fn health(&self) -> service_kit::Health {
        match self {
            Running::Embedded(system) => system.health.clone(),
            Running::Services(services) => services.health.clone(),
        }
    }

    fn stock_position(&self) -> cqrs_core::worker::ProcessedPosition {
        match self {
            Running::Embedded(system) => system.stock_position(),
            Running::Services(services) => services.stock_position(),
        }
    }

    async fn shutdown(self) -> Result<(), MainError> {
        match self {
            Running::Embedded(system) => Ok(system.shutdown().await?),
            Running::Services(services) => services.shutdown().await,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs (RUST_LOG, default warn), trace export when OTEL_EXPORTER_OTLP_ENDPOINT is set
    // (INFO spans, whatever RUST_LOG says), the Prometheus recorder behind GET /metrics.
    let telemetry = match service_kit::telemetry::Telemetry::builder("inventory")
        .default_log_filter("warn")
        .init()
    {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("inventory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match Cli::parse().command {
        Mode::Demo {
            low_stock_threshold,
        } => demo(low_stock_threshold).await,
        Mode::Serve(args) => serve(*args).await,
    };
    // After the graceful stop: the spans still queued are exported before the exit.
    if let Err(error) = telemetry.shutdown().await {
        tracing::warn!(%error, "some spans were not exported");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("inventory: {error}");
            ExitCode::FAILURE
        }
    }
}

type MainError = Box<dyn std::error::Error + Send + Sync>;

async fn demo(low_stock_threshold: u64) -> Result<(), MainError> {
    let system = InventorySystem::embedded();
    let result = inventory::demo::run(&system, low_stock_threshold).await;
    let stopped = system.shutdown().await;
    print!("{}", result?);
    stopped?;
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), MainError> {
    // Listening from here on: a SIGTERM during start-up is a graceful stop once started.
    let signal = service_kit::shutdown::signal();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let system = Running::start(&args).await?;
    let state = ApiState {
        inventory: system.app(),
        low_stock_threshold: args.low_stock_threshold,
        health: system.health(),
        stock_position: system.stock_position(),
        read_your_writes: service_kit::read_your_writes::ReadYourWrites {
            max_wait: Duration::from_millis(args.min_position_wait_ms),
            ..Default::default()
        },
    };
    tracing::info!(mode = system.mode(), "starting");
    eprintln!(
        "inventory API ({} mode) on http://{}",
        system.mode(),
        listener.local_addr()?
    );
    let deadline = Duration::from_secs(args.shutdown_deadline);
    let router = http::router(state);
    service_kit::shutdown::serve_until_signal(listener, router, signal, deadline, system.shutdown())
        .await
}
