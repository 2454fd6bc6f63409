//! W1 and W2 as the issue defines them, run on every system, each run checked afterwards
//! through the system's own load path.

use crate::table::median;
use std::sync::Arc;
use std::time::Instant;

use super::report::{Figures, Report};
use super::{System, Target};
use crate::postgres::concurrently;

/// The sizes of the two workloads.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// W1's aggregates.
    pub aggregates: usize,
    /// W1's commands per aggregate.
    pub commands_per_aggregate: usize,
    /// Events W2's aggregate holds before its first command.
    pub long_stream: usize,
    /// W2's timed commands.
    pub long_commands: usize,
}

/// Untimed W2 commands each system runs first (connections, statement caches).
const WARM_UP: usize = 2;

impl Workload {
    /// Issue 15's sizes.
    pub const ISSUE: Workload = Workload {
        aggregates: 1_000,
        commands_per_aggregate: 10,
        long_stream: 10_000,
        long_commands: 20,
    };

    /// The long aggregate's version after W2.
    fn long_after(&self) -> u64 {
        (self.long_stream + WARM_UP + self.long_commands) as u64
    }
}

/// Runs W1 on each system in turn, then W2 with the systems taking turns; panics when a
/// system's final state is not what its commands must have produced.
pub(super) async fn run(systems: &[Arc<dyn System>], workload: &Workload) -> Report {
    let mut figures: Vec<Figures> = systems
        .iter()
        .map(|system| Figures {
            system: system.name(),
            role: system.role(),
            commands_per_s: 0.0,
            long_command_ms: 0.0,
        })
        .collect();
    for (system, figures) in systems.iter().zip(&mut figures) {
        figures.commands_per_s = w1(system.clone(), workload).await;
        eprintln!(
            "  peers / W1 {}: {:.0} commands/s",
            system.name(),
            figures.commands_per_s
        );
    }
    let medians = w2(systems, workload).await;
    for (figures, median) in figures.iter_mut().zip(medians) {
        figures.long_command_ms = median;
        eprintln!(
            "  peers / W2 {}: {median:.2} ms per command",
            figures.system
        );
    }
    Report { figures }
}

/// W1 on `system`: commands/s, after checking every aggregate ended at value and version
/// `commands_per_aggregate`.
async fn w1(system: Arc<dyn System>, workload: &Workload) -> f64 {
    let Workload {
        aggregates,
        commands_per_aggregate,
        ..
    } = *workload;
    let on = system.clone();
    let rate = concurrently(aggregates * commands_per_aggregate, move |i| {
        let on = on.clone();
        async move { on.command(Target::Account(i % aggregates)).await }
    })
    .await;
    let expected = commands_per_aggregate as u64;
    let check = system.clone();
    concurrently(aggregates, move |n| {
        let check = check.clone();
        async move {
            let state = check.state(Target::Account(n)).await;
            assert_eq!(
                state,
                (expected, expected),
                "{}: aggregate {n} after W1 has (value, version) {state:?}, expected {expected} \
                 commands applied",
                check.name()
            );
        }
    })
    .await;
    rate
}

/// W2: median ms per command on the long aggregate for each system (in `systems` order),
/// after checking each long aggregate ended with every command applied.
async fn w2(systems: &[Arc<dyn System>], workload: &Workload) -> Vec<f64> {
    for system in systems {
        for _ in 0..WARM_UP {
            system.command(Target::Long).await;
        }
    }
    let mut samples = vec![Vec::with_capacity(workload.long_commands); systems.len()];
    for round in 0..workload.long_commands {
        for turn in 0..systems.len() {
            let index = (round + turn) % systems.len();
            let started = Instant::now();
            systems[index].command(Target::Long).await;
            samples[index].push(started.elapsed().as_secs_f64() * 1_000.0);
        }
    }
    let expected = workload.long_after();
    for system in systems {
        let state = system.state(Target::Long).await;
        assert_eq!(
            state,
            (expected, expected),
            "{}: the long aggregate after W2 has (value, version) {state:?}, expected {expected}",
            system.name()
        );
    }
    samples.iter_mut().map(|s| median(s)).collect()
}
