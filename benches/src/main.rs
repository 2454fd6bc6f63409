//! The benchmark harness: runs each group and prints one Markdown table with every figure
//! beside a baseline measured in the same run.
//!
//! ```text
//! cargo run --release -p benches -- [--only memory,postgres,kafka,mongo]
//! ```

mod memory;
mod table;

use clap::Parser;

/// cqrs-rs benchmarks.
#[derive(Debug, Parser)]
struct Args {
    /// Comma-separated groups to run (default: all whose services are configured).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
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
    println!("{}", table.to_markdown());
}
