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

/// The sweep as CSV (one row per point).
pub fn to_csv(key: &str, points: &[Point]) -> String {
    let mut out = format!(
        "{key},offered_per_s,completed_per_s,overloaded,utilization,mean_batch,e2e_p50_s,e2e_p99_s,queue_wait_mean_s\n"
    );
    for p in points {
        let s = &p.summary;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            p.value,
            s.throughput.offered_per_s,
            s.throughput.completed_per_s,
            s.requests.measured_by_outcome.get("overloaded").copied().unwrap_or(0),
            s.servers.utilization_mean,
            s.batching.mean_size,
            s.latency.end_to_end.p50_s,
            s.latency.end_to_end.p99_s,
            s.latency.queue_wait.mean_s
        );
    }
    out
}
