//! The peers group's own table (system | W1 | W2) and the goal ratios of issue 15, each
//! computed from the same run; the ratios also go into the harness's main table.

use std::fmt::Write;

use super::{Role, Workload};
use crate::table::{fmt_num, Row, Table};

const GROUP: &str = "peers";

/// One system's two figures.
#[derive(Debug, Clone)]
pub(super) struct Figures {
    pub system: &'static str,
    pub role: Role,
    /// W1.
    pub commands_per_s: f64,
    /// W2, the median.
    pub long_command_ms: f64,
}

/// Every system's figures from one run.
#[derive(Debug)]
pub(super) struct Report {
    pub figures: Vec<Figures>,
}

impl Report {
    fn one(&self, role: Role) -> &Figures {
        self.figures
            .iter()
            .find(|f| f.role == role)
            .expect("every role has a system")
    }

    /// The peer with the most commands/s in W1.
    fn best_peer_w1(&self) -> &Figures {
        self.peers()
            .max_by(|a, b| a.commands_per_s.total_cmp(&b.commands_per_s))
            .expect("at least one peer")
    }

    /// The peer with the fastest W2 command.
    fn best_peer_w2(&self) -> &Figures {
        self.peers()
            .min_by(|a, b| a.long_command_ms.total_cmp(&b.long_command_ms))
            .expect("at least one peer")
    }

    fn peers(&self) -> impl Iterator<Item = &Figures> {
        self.figures.iter().filter(|f| f.role == Role::Peer)
    }

    /// The goal ratios as rows of the main table, each beside its same-run baseline.
    pub fn add_rows(&self, table: &mut Table) {
        let Workload {
            aggregates,
            commands_per_aggregate,
            long_stream,
            long_commands,
        } = Workload::ISSUE;
        let (ours, cached, floor) = (
            self.one(Role::Ours),
            self.one(Role::OursCached),
            self.one(Role::Floor),
        );
        let (peer_w1, peer_w2) = (self.best_peer_w1(), self.best_peer_w2());
        let w1 = format!(
            "W1 commands, {aggregates} aggregates x {commands_per_aggregate}, {} tasks, pool {}",
            crate::postgres::TASKS,
            super::POOL
        );
        let w2 = format!(
            "W2 command on a {long_stream}-event aggregate, no snapshot (median of {long_commands})"
        );
        let rows = [
            (
                format!("{w1} ({})", ours.system),
                ours.commands_per_s,
                "commands/s",
                peer_w1,
                peer_w1.commands_per_s,
                ">= 2x baseline",
            ),
            (
                format!("{w1} ({})", ours.system),
                ours.commands_per_s,
                "commands/s",
                floor,
                floor.commands_per_s,
                ">= 1.5x baseline",
            ),
            (
                format!("{w1} ({})", cached.system),
                cached.commands_per_s,
                "commands/s",
                peer_w1,
                peer_w1.commands_per_s,
                ">= 3x baseline",
            ),
            (
                format!("{w2} ({})", ours.system),
                ours.long_command_ms,
                "ms",
                floor,
                floor.long_command_ms,
                "<= 1.1x baseline",
            ),
            (
                format!("{w2} ({})", ours.system),
                ours.long_command_ms,
                "ms",
                peer_w2,
                peer_w2.long_command_ms,
                "<= 0.4x baseline (2.5x faster)",
            ),
        ];
        for (name, value, unit, baseline, baseline_value, target) in rows {
            table.push(Row {
                group: GROUP,
                name,
                value,
                unit,
                baseline: Some((baseline.system.to_owned(), baseline_value)),
                target: target.to_owned(),
            });
        }
    }

    /// The system table, then the goal ratios in words.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| system | W1 commands/s | W2 ms per command |");
        let _ = writeln!(out, "|---|---:|---:|");
        for f in &self.figures {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} |",
                f.system,
                fmt_num(f.commands_per_s),
                f.long_command_ms
            );
        }
        let (ours, cached, floor) = (
            self.one(Role::Ours),
            self.one(Role::OursCached),
            self.one(Role::Floor),
        );
        let (peer_w1, peer_w2) = (self.best_peer_w1(), self.best_peer_w2());
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "- W1, {}: {:.2}x the best peer ({}; goal >= 2x), {:.2}x the naive floor (goal >= 1.5x)",
            ours.system,
            ours.commands_per_s / peer_w1.commands_per_s,
            peer_w1.system,
            ours.commands_per_s / floor.commands_per_s
        );
        let _ = writeln!(
            out,
            "- W1, {}: {:.2}x the best peer (goal >= 3x), {:.2}x the naive floor",
            cached.system,
            cached.commands_per_s / peer_w1.commands_per_s,
            cached.commands_per_s / floor.commands_per_s
        );
        let _ = writeln!(
            out,
            "- W2, {}: {:.2}x the naive floor's time (goal <= 1.1x); the best peer ({}) takes \
             {:.2}x as long (goal >= 2.5x)",
            ours.system,
            ours.long_command_ms / floor.long_command_ms,
            peer_w2.system,
            peer_w2.long_command_ms / ours.long_command_ms
        );
        out
    }
}
