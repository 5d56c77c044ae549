//! Sweeps: one scenario run over a grid of key values, to find the knee.
//!
//! Each point is the scenario with its `key=value`s applied on top of the
//! user's own `--set` overrides, run with the scenario's seed, so points
//! differ only by the swept values (common random numbers: the arrival
//! stream is the same draw-for-draw when only service parameters change).
//! With replications, run `i` of every point uses the seed
//! `RngStreams::new(seed).replication(i)`, and the table shows the mean and
//! the 95% Student-t half-width ([`super::replicate::estimate`]).
//!
//! All runs (points x replications) go to rayon at once and are collected
//! in point-major order, so the output is the same bytes whatever the
//! thread count; a shard ([`super::shard`]) runs a contiguous slice of the
//! points and [`part`] writes and merges those slices back into the very
//! same bytes.

pub mod axis;
pub mod part;
pub mod table;

pub use axis::Axis;
pub use table::Measured;

use super::source::Source;
use crate::engine::RngStreams;
use crate::metrics::Summary;
use crate::scenario::{Scenario, ScenarioError};
use crate::sim;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// The most replications a sweep point may ask for.
pub const MAX_REPLICATIONS: u32 = 1000;

/// Everything that decides a sweep's output besides the scenario file:
/// what is varied, how often each point runs, and the SLO of the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    /// The scenario's name.
    pub scenario: String,
    /// The master seed (the scenario's, or `--seed`).
    pub seed: u64,
    /// The swept keys, the last one fastest.
    pub axes: Vec<Axis>,
    /// Runs per point: `None` is one run with the seed itself, `Some(n)` is
    /// `n` independent replications.
    pub replications: Option<u32>,
    /// End-to-end p99 SLO of the knee verdict, in nanoseconds.
    pub slo_p99_ns: Option<u64>,
    /// The question the scenario answers (its header comment), atop
    /// `report.html`; carried here so a merge of shards writes it too.
    pub question: String,
}

impl Spec {
    /// How many runs each point has.
    pub fn runs_per_point(&self) -> usize {
        self.replications.map_or(1, |n| n as usize)
    }
}

/// One swept value and what the run measured.
#[derive(Debug, Clone)]
pub struct Point {
    pub value: String,
    pub summary: Summary,
}

/// The scenarios of grid points `points` of `axes` over `source`, each
/// validated before any runs, so a bad value fails fast with its own error
/// (placed at the override `key=value`; the caller names the flag that
/// gave it).
pub fn load_points(source: &Source, axes: &[Axis], points: Range<usize>) -> Result<Vec<Scenario>, Box<ScenarioError>> {
    points
        .map(|index| {
            let values = axis::grid_point(axes, index);
            let sets: Vec<String> =
                axes.iter().zip(&values).map(|(axis, value)| format!("{}={value}", axis.key)).collect();
            source.load(&sets).map_err(Box::new)
        })
        .collect()
}

/// Runs every scenario `replications` times (`None`: once with its own
/// seed) in parallel, calling `done` after each run, and returns
/// `measure(summary)` of every run in point-major order.
pub fn run_points<T: Send>(
    scenarios: &[Scenario],
    replications: Option<u32>,
    done: &(dyn Fn() + Sync),
    measure: impl Fn(Summary) -> T + Sync,
) -> Vec<T> {
    let per_point = replications.map_or(1, |n| n as usize);
    (0..scenarios.len() * per_point)
        .into_par_iter()
        .map(|run| {
            let s = &scenarios[run / per_point];
            let summary = match replications {
                None => sim::run(s).summary,
                Some(_) => {
                    let seed = RngStreams::new(s.seed).replication((run % per_point) as u64).master_seed();
                    sim::run_with(s, seed, &s.run).summary
                }
            };
            done();
            measure(summary)
        })
        .collect()
}

/// Runs `source` once per value of `key` with the scenario's seed: the
/// one-key sweep other studies (the safety trade-off) are built on.
pub fn sweep(source: &Source, key: &str, values: &[String]) -> Result<Vec<Point>, Box<ScenarioError>> {
    let axes = [Axis { key: key.to_string(), values: values.to_vec() }];
    let scenarios = load_points(source, &axes, 0..values.len())?;
    let summaries = run_points(&scenarios, None, &|| {}, |s| s);
    Ok(values.iter().cloned().zip(summaries).map(|(value, summary)| Point { value, summary }).collect())
}
