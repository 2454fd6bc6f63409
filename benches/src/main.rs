//! The benchmark harness: runs each group and prints one Markdown table with every figure
//! beside a baseline measured in the same run.
//!
//! ```text
//! cargo run --release -p benches -- [--only peers,memory,postgres,kafka,mongo,sensor-log,telemetry]
//! ```
//!
//! The `peers` group (cqrs-rs beside the naive floor, cqrs-es + postgres-es and esrs on the
//! same workloads) prints its own system table first.
//!
//! PostgreSQL groups use `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! Kafka groups `KAFKA_BROKERS` (default `127.0.0.1:19092`, see `scripts/start-kafka.sh`),
//! the MongoDB group runs only when `MONGODB_URL` is set.

mod counter;
mod kafka;
mod memory;
mod mongo;
mod peers;
mod postgres;
mod sensor_log;
mod table;
mod telemetry;

use clap::Parser;

/// cqrs-rs benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// Comma-separated groups to run (default: all whose services are configured).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// PostgreSQL for the peers, postgres, kafka and sensor-log groups.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    database_url: String,
    /// Kafka bootstrap servers for the kafka and sensor-log groups.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    kafka_brokers: String,
    /// MongoDB (a replica set) for the mongo group; the group is skipped without it.
    #[arg(long, env = "MONGODB_URL")]
    mongodb_url: Option<String>,
}

fn main() {
    let args = Args::parse();
    let wants = |group: &str| args.only.is_empty() || args.only.iter().any(|g| g == group);
    let mut table = table::Table::default();
    if wants("memory") {
        eprintln!("in-memory (one core)");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(memory::run(&mut table));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut peer_table = None;
    if wants("peers") {
        eprintln!("peers at {}", args.database_url);
        peer_table = runtime.block_on(peers::run(&mut table, &args.database_url));
    }
    if wants("postgres") {
        eprintln!("postgres at {}", args.database_url);
        runtime.block_on(postgres::run(&mut table, &args.database_url));
    }
    if wants("kafka") {
        eprintln!("kafka at {}", args.kafka_brokers);
        runtime.block_on(kafka::run(
            &mut table,
            &args.database_url,
            &args.kafka_brokers,
        ));
    }
    if wants("sensor-log") {
        eprintln!(
            "sensor-log ingest at {} / {}",
            args.database_url, args.kafka_brokers
        );
        runtime.block_on(sensor_log::run(
            &mut table,
            &args.database_url,
            &args.kafka_brokers,
        ));
    }
    match (&args.mongodb_url, wants("mongo")) {
        (Some(url), true) => {
            eprintln!("mongo at {url}");
            runtime.block_on(mongo::run(&mut table, url));
        }
        (None, true) if !args.only.is_empty() => {
            eprintln!("SKIPPED mongo group: MONGODB_URL not set")
        }
        _ => {}
    }
    // Last: it installs the process's metrics recorder and tracing subscriber.
    if wants("telemetry") {
        eprintln!("telemetry (metrics recorder and trace export on and off)");
        runtime.block_on(telemetry::run(&mut table, &args.database_url));
    }
    if let Some(peer_table) = peer_table {
        println!("{peer_table}");
    }
    println!("{}", table.to_markdown());
}
