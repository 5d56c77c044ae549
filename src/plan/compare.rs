//! Side-by-side comparison: two or more scenarios, or one scenario under
//! several `--set` variants, on the same seeded workload.
//!
//! **Common random numbers.** Every item runs with the same seeds: one run
//! with the master seed when there is one replication (so each column
//! equals that item's own `servesim run --seed S` summary.json), else
//! replication i with `RngStreams::new(seed).replication(i)`. Arrivals and
//! sizes come from their own named streams, so items whose workloads are
//! the same see the same requests draw for draw, and a difference between
//! columns is the serving's, not the dice's. That is why, by default,
//! items must share their workload (the `[workload]`, `[[tenants]]` and
//! `[run]` sections, compared as values); [`same_workload`] names the
//! first key that differs.
//!
//! **Intervals.** With two or more replications each cell is a mean with a
//! 95% Student-t half-width, and each difference from the first item is
//! the mean of the per-replication (paired) differences with its own
//! half-width — pairing removes the shared workload's noise, so it is
//! much narrower than the two columns' intervals would suggest.

use super::replicate;
use crate::engine::RngStreams;
use crate::metrics::Summary;
use crate::scenario::Scenario;
use crate::sim;
use rayon::prelude::*;
use serde::Serialize;

/// One thing to compare: a name and its resolved scenario.
#[derive(Debug, Clone)]
pub struct Item {
    pub name: String,
    pub scenario: Scenario,
    /// The `--set` overrides that made it, for the reproduce command.
    pub sets: Vec<String>,
}

/// A headline metric: its name and how to read it (None where the
/// scenario does not have it, e.g. TTFT of a classic station).
pub struct Metric {
    pub name: &'static str,
    pub read: fn(&Summary) -> Option<f64>,
}

fn rejected(s: &Summary) -> Option<f64> {
    Some(s.requests.measured_by_outcome.iter().filter(|(k, _)| *k != "completed").map(|(_, v)| *v as f64).sum())
}

/// The headline metrics of `summary.md`, in its order.
pub const METRICS: [Metric; 21] = [
    Metric { name: "offered_per_s", read: |s| Some(s.throughput.offered_per_s) },
    Metric { name: "completed_per_s", read: |s| Some(s.throughput.completed_per_s) },
    Metric { name: "rejected_or_failed", read: rejected },
    Metric { name: "e2e_p50_s", read: |s| Some(s.latency.end_to_end.p50_s) },
    Metric { name: "e2e_p99_s", read: |s| Some(s.latency.end_to_end.p99_s) },
    Metric { name: "queue_wait_mean_s", read: |s| Some(s.latency.queue_wait.mean_s) },
    Metric {
        name: "gpu_busy_fraction",
        read: |s| Some(s.llm.as_ref().map_or(s.servers.utilization_mean, |l| l.gpu_busy_fraction)),
    },
    Metric { name: "mean_batch_size", read: |s| Some(s.batching.mean_size) },
    Metric { name: "queue_depth_mean", read: |s| Some(s.queue.depth_mean) },
    Metric { name: "ttft_p50_s", read: |s| s.llm.as_ref().map(|l| l.ttft.p50_s) },
    Metric { name: "ttft_p99_s", read: |s| s.llm.as_ref().map(|l| l.ttft.p99_s) },
    Metric { name: "tpot_p50_s", read: |s| s.llm.as_ref().map(|l| l.tpot.p50_s) },
    Metric { name: "tpot_p99_s", read: |s| s.llm.as_ref().map(|l| l.tpot.p99_s) },
    Metric { name: "goodput_per_s", read: |s| s.llm.as_ref().map(|l| l.goodput_per_s) },
    Metric { name: "goodput_fraction", read: |s| s.llm.as_ref().map(|l| l.goodput_fraction) },
    Metric { name: "output_tokens_per_s", read: |s| s.llm.as_ref().map(|l| l.tokens.output_per_s) },
    Metric { name: "kv_utilization_mean", read: |s| s.llm.as_ref().map(|l| l.kv_utilization_mean) },
    Metric { name: "preemptions", read: |s| s.llm.as_ref().map(|l| l.preemptions as f64) },
    Metric { name: "cost_usd", read: |s| s.llm.as_ref().map(|l| l.cost.usd) },
    Metric {
        name: "usd_per_million_output_tokens",
        read: |s| s.llm.as_ref().map(|l| l.cost.usd_per_million_output_tokens),
    },
    Metric {
        name: "usd_per_million_input_tokens",
        read: |s| s.llm.as_ref().map(|l| l.cost.usd_per_million_input_tokens),
    },
];

/// What one item's runs measured.
#[derive(Debug, Clone)]
pub struct Runs {
    pub summaries: Vec<Summary>,
    /// Replication 0's latency CDFs: (distribution, points).
    pub cdfs: Vec<(&'static str, Vec<(f64, f64)>)>,
}

/// The seeds every item runs with.
pub fn seeds(seed: u64, replications: u32) -> Vec<u64> {
    if replications <= 1 {
        return vec![seed];
    }
    let streams = RngStreams::new(seed);
    (0..replications).map(|i| streams.replication(u64::from(i)).master_seed()).collect()
}

/// Runs every item with every seed, in parallel; results in item order.
pub fn run(items: &[Item], seeds: &[u64]) -> Vec<Runs> {
    let jobs: Vec<(usize, usize)> = (0..items.len()).flat_map(|i| (0..seeds.len()).map(move |r| (i, r))).collect();
    let mut done: Vec<(usize, usize, crate::metrics::recorder::Recorded)> = jobs
        .into_par_iter()
        .map(|(i, r)| {
            let s = &items[i].scenario;
            (i, r, sim::run_with(s, seeds[r], &s.run))
        })
        .collect();
    done.sort_by_key(|(i, r, _)| (*i, *r));
    let mut out: Vec<Runs> = items.iter().map(|_| Runs { summaries: Vec::new(), cdfs: Vec::new() }).collect();
    for (i, r, recorded) in done {
        if r == 0 {
            out[i].cdfs = recorded.cdfs.iter().map(|(name, stat)| (*name, stat.cdf_points())).collect();
        }
        out[i].summaries.push(recorded.summary);
    }
    out
}

/// A value over replications: the mean, and with two or more, the 95% half-width.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Value {
    pub mean: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub half_width_95: Option<f64>,
}

fn value(values: &[f64]) -> Value {
    match values.len() {
        0 | 1 => Value { mean: values.first().copied().unwrap_or(f64::NAN), half_width_95: None },
        _ => {
            let e = replicate::estimate(values);
            Value { mean: e.mean, half_width_95: Some(e.half_width_95) }
        }
    }
}

/// One metric of one item: its value and its paired difference from the first item's.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cell {
    pub item: String,
    pub value: Value,
    /// None for the first item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub difference: Option<Value>,
}

/// One row of the side-by-side table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub metric: &'static str,
    pub cells: Vec<Cell>,
}

/// The table: every metric that every item has.
pub fn table(items: &[Item], runs: &[Runs]) -> Vec<Row> {
    METRICS
        .iter()
        .filter_map(|m| {
            let per_item: Vec<Vec<f64>> =
                runs.iter().map(|r| r.summaries.iter().filter_map(|s| (m.read)(s)).collect()).collect();
            if per_item.iter().zip(runs).any(|(v, r)| v.len() != r.summaries.len()) {
                return None;
            }
            let first = &per_item[0];
            let cells = items
                .iter()
                .zip(&per_item)
                .enumerate()
                .map(|(i, (item, values))| Cell {
                    item: item.name.clone(),
                    value: value(values),
                    difference: (i > 0)
                        .then(|| value(&values.iter().zip(first).map(|(v, f)| v - f).collect::<Vec<f64>>())),
                })
                .collect();
            Some(Row { metric: m.name, cells })
        })
        .collect()
}

/// The first key of the workload (`[workload]`, `[[tenants]]`, `[run]`)
/// where `b` differs from `a`, or None when they share it.
pub fn same_workload(a: &Scenario, b: &Scenario) -> Option<String> {
    let sections = |s: &Scenario| {
        let f = &s.file;
        [
            ("workload", serde_json::to_value(&f.workload).unwrap_or_default()),
            ("tenants", serde_json::to_value(&f.tenants).unwrap_or_default()),
            ("run", serde_json::to_value(&f.run).unwrap_or_default()),
        ]
    };
    sections(a).into_iter().zip(sections(b)).find_map(|((name, x), (_, y))| first_difference(name, &x, &y))
}

/// The dotted path of the first difference between two JSON values.
fn first_difference(at: &str, a: &serde_json::Value, b: &serde_json::Value) -> Option<String> {
    use serde_json::Value::{Null, Object};
    match (a, b) {
        (Object(x), Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                first_difference(&format!("{at}.{k}"), x.get(k).unwrap_or(&Null), y.get(k).unwrap_or(&Null))
            })
        }
        _ if a == b => None,
        _ => Some(at.to_string()),
    }
}
