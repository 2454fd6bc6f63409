//! The result table every benchmark group adds rows to.

use std::fmt::Write;

/// One measured figure beside its baseline from the same run.
#[derive(Debug, Clone)]
pub struct Row {
    pub group: &'static str,
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// Baseline measured in the same run, with its description.
    pub baseline: Option<(String, f64)>,
    /// Target as text (e.g. ">= 1.5x baseline").
    pub target: String,
}

/// Collected rows, printed as a Markdown table.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "  {} / {}: {:.1} {}",
            row.group, row.name, row.value, row.unit
        );
        self.rows.push(row);
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| group | measurement | result | baseline (same run) | ratio | target |"
        );
        let _ = writeln!(out, "|---|---|---:|---|---:|---|");
        for r in &self.rows {
            let (baseline, ratio) = match &r.baseline {
                Some((name, value)) if *value > 0.0 => (
                    format!("{name}: {} {}", fmt_num(*value), r.unit),
                    format!("{:.2}x", r.value / value),
                ),
                _ => ("-".to_owned(), "-".to_owned()),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} {} | {} | {} | {} |",
                r.group,
                r.name,
                fmt_num(r.value),
                r.unit,
                baseline,
                ratio,
                r.target
            );
        }
        out
    }
}

/// `v` with thousands separators from 100 up, two decimals below.
pub fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{v:.2}")
    }
}

/// The median of `samples` (sorted in place; the upper one of an even count).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
