//! The order example's command line.

use clap::{Parser, Subcommand};
use order::OrderSystem;

/// Online ordering with a price-tier read model, built on cqrs-rs.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Run a scripted scenario on the embedded in-memory store and print every customer's
    /// ordered items by price tier (cheap < 5.00 <= affordable <= 50.00 < expensive).
    Demo,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Mode::Demo => {
            let system = OrderSystem::embedded();
            let result = order::demo::run(&system).await;
            let _ = system.shutdown().await;
            match result {
                Ok(report) => {
                    print!("{report}");
                    std::process::ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("demo failed: {error}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}
