//! Sweeps: one scenario run at several values of one key, to find the knee.
//!
//! Each point is the scenario with `key=value` applied on top of the user's
//! own `--set` overrides, run with the scenario's seed, so points differ
//! only by the swept value (common random numbers: the arrival stream is
//! the same draw-for-draw when only service parameters change). Points run
//! in parallel; results are collected in the order given, so the output is
//! the same bytes whatever the thread count.

use crate::metrics::Summary;
use crate::scenario::{self, ScenarioError};
use crate::sim;
use crate::time::SimDuration;
use rayon::prelude::*;
use std::fmt::Write;
use std::path::Path;

/// One swept value and what the run measured.
#[derive(Debug, Clone)]
pub struct Point {
    pub value: String,
    pub summary: Summary,
}

/// Runs `path` once per value of `key`. Every point is validated before any
/// runs, so a bad value fails fast with its own error.
pub fn sweep(
    path: &Path,
    sets: &[String],
    key: &str,
    values: &[String],
    seed: Option<u64>,
) -> Result<Vec<Point>, Box<ScenarioError>> {
    let mut scenarios = Vec::new();
    for value in values {
        let mut all = sets.to_vec();
        all.push(format!("{key}={value}"));
        let mut s = scenario::load(path, &all).map_err(Box::new)?;
        if let Some(seed) = seed {
            s.seed = seed;
        }
        scenarios.push((value.clone(), s));
    }
    Ok(scenarios.into_par_iter().map(|(value, s)| Point { value, summary: sim::run(&s).summary }).collect())
}

/// The largest swept point that met the p99 SLO with nothing rejected; `None`
/// if none did. Assumes values are listed in increasing load.
pub fn max_meeting_slo(points: &[Point], p99_slo: SimDuration) -> Option<&Point> {
    points.iter().rfind(|p| {
        let s = &p.summary;
        let rejected: u64 =
            s.requests.measured_by_outcome.iter().filter(|(k, _)| *k != "completed").map(|(_, v)| v).sum();
        rejected == 0 && s.latency.end_to_end.p99_s <= p99_slo.as_secs_f64()
    })
}

/// A sweep-table column: name, how to read it, digits shown in markdown.
type Column = (&'static str, fn(&Summary) -> f64, usize);

const COLUMNS: [Column; 8] = [
    ("offered_per_s", |s| s.throughput.offered_per_s, 2),
    ("completed_per_s", |s| s.throughput.completed_per_s, 2),
    ("overloaded", |s| s.requests.measured_by_outcome.get("overloaded").copied().unwrap_or(0) as f64, 0),
    ("utilization", |s| s.servers.utilization_mean, 3),
    ("mean_batch", |s| s.batching.mean_size, 2),
    ("e2e_p50_ms", |s| s.latency.end_to_end.p50_s * 1e3, 2),
    ("e2e_p99_ms", |s| s.latency.end_to_end.p99_s * 1e3, 2),
    ("queue_wait_mean_ms", |s| s.latency.queue_wait.mean_s * 1e3, 2),
];

/// The sweep as CSV (one row per point, full precision).
pub fn to_csv(key: &str, points: &[Point]) -> String {
    let mut out = key.to_string();
    for (name, _, _) in COLUMNS {
        let _ = write!(out, ",{name}");
    }
    for p in points {
        let _ = write!(out, "\n{}", p.value);
        for (_, value, _) in COLUMNS {
            let _ = write!(out, ",{}", value(&p.summary));
        }
    }
    out.push('\n');
    out
}

/// The sweep as a markdown table (rounded for reading).
pub fn to_markdown(key: &str, points: &[Point]) -> String {
    let mut out = format!("| {key} |");
    for (name, _, _) in COLUMNS {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---:|");
    out.push_str(&"---:|".repeat(COLUMNS.len()));
    for p in points {
        let _ = write!(out, "\n| {} |", p.value);
        for (_, value, digits) in COLUMNS {
            let _ = write!(out, " {:.*} |", digits, value(&p.summary));
        }
    }
    out.push('\n');
    out
}
