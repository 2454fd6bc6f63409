//! The order example's command line.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use order::OrderSystem;

/// Online ordering with a price-tier read model, built on cqrs-rs.
///
/// Runs embedded by default: in-memory event store, in-process projection, no services.
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
    /// Serve the HTTP/JSON API until Ctrl-C.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "ORDER_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Mode::Demo => demo().await,
        Mode::Serve { listen } => serve(listen).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn demo() -> Result<(), BoxError> {
    let system = OrderSystem::embedded();
    let report = order::demo::run(&system).await;
    system.shutdown().await?;
    print!("{}", report?);
    Ok(())
}

async fn serve(listen: SocketAddr) -> Result<(), BoxError> {
    let system = OrderSystem::embedded();
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(address = %listener.local_addr()?, "order API listening (embedded mode)");
    let router = order::http::router(system.app_state());
    order::http::serve(listener, router, async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
    .await?;
    system.shutdown().await?;
    Ok(())
}
