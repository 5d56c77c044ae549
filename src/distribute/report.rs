//! The distribution report: `summary.json` (stable schema, `kind =
//! "distribution"`), `summary.md` (the comparison table), `timeseries.csv`
//! (completed nodes over time per strategy), `egress.csv` (per node, per
//! strategy: the security view) and `completion.svg`.
//!
//! Why per-node egress is a CSV and not JSON: it is N rows per strategy;
//! the summary keeps the maxima that exfiltration monitoring thresholds
//! are set against. Files are written atomically by
//! [`crate::report::write_files`]: a failed run leaves no partial report.

use super::config::Strategy;
use super::fleet::{Fleet, LowerBound};
use super::load::Plan;
use super::sim::{Traffic, World};
use crate::report::plots::{time_series_svg, TimeSeries};
use crate::report::ReportError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

pub const SCHEMA_VERSION: u32 = 1;
/// Relative slack for float rounding when checking the lower bound.
const BOUND_SLACK: f64 = 1e-9;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub schema_version: u32,
    pub kind: &'static str,
    pub scenario: String,
    pub seed: u64,
    pub weights: Weights,
    pub fleet: FleetInfo,
    pub lower_bound: LowerBound,
    pub strategies: Vec<StrategySummary>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Weights {
    pub file_bytes: u64,
    pub chunk_bytes: u64,
    pub chunks: u32,
    /// Bytes on the wire for one copy (encryption overhead included).
    pub wire_file_bytes: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetInfo {
    pub nodes: u32,
    pub origins: u32,
    pub racks: u32,
    pub regions: u32,
    pub origin_upload_bytes_per_s: f64,
    pub node_upload_bytes_per_s_min: f64,
    pub node_upload_bytes_per_s_mean: f64,
    pub node_download_bytes_per_s_min: f64,
    pub crashes_scheduled: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StrategySummary {
    pub strategy: &'static str,
    pub completed: u32,
    pub failed: u32,
    /// Seconds until the first, the median (of all N) and the last node held the verified file.
    pub first_node_s: Option<f64>,
    pub median_node_s: Option<f64>,
    /// Seconds until 90% and 99% of all N nodes held it (None if fewer completed).
    pub p90_node_s: Option<f64>,
    pub p99_node_s: Option<f64>,
    pub last_node_s: Option<f64>,
    /// last_node_s / lower_bound_s (>= 1 when every node completed).
    pub ratio_to_lower_bound: Option<f64>,
    /// Failed nodes by reason ("crashed", "stalled").
    pub failures: BTreeMap<String, Vec<u32>>,
    /// Wire bytes by kind; `cross_rack_bytes` entered a rack from outside it (origin traffic included).
    pub traffic: Traffic,
    pub egress: Egress,
    pub run: RunStats,
    pub invariants: Invariants,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Egress {
    pub node_bytes_max: f64,
    pub node_bytes_mean: f64,
    /// Highest total upload rate any node reached.
    pub node_rate_max_bytes_per_s: f64,
    pub cap_bytes_per_s: Option<f64>,
    /// Nodes whose egress rate ever exceeded the cap (must be 0).
    pub nodes_over_cap: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunStats {
    pub end_s: f64,
    pub events: u64,
    pub rate_solves: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Invariants {
    /// Every node completed with a verified file or failed with a reason.
    pub every_node_accounted: bool,
    /// No node finished before F/d_i, the first not before F/u_s, and the
    /// last (when all completed) not before D_min.
    pub lower_bound_respected: bool,
    /// No link was ever allocated more than its capacity.
    pub capacity_respected: bool,
    pub all_hold: bool,
}

/// One strategy's result, with the per-node detail behind the summary.
#[derive(Debug, Clone)]
pub struct StrategyRun {
    pub strategy: Strategy,
    /// Completion time per node (seconds), None if it failed.
    pub done_s: Vec<Option<f64>>,
    pub failed: Vec<Option<String>>,
    pub egress_bytes: Vec<f64>,
    pub egress_peak: Vec<f64>,
    pub traffic: Traffic,
    pub end_s: f64,
    pub events: u64,
    pub solves: u64,
    pub over_capacity: u64,
}

/// Everything a distribution run produced.
#[derive(Debug, Clone)]
pub struct Distribution {
    pub summary: Summary,
    pub runs: Vec<StrategyRun>,
}

pub fn strategy_run(strategy: Strategy, w: &World) -> StrategyRun {
    let n = w.fleet.nodes;
    StrategyRun {
        strategy,
        done_s: w.nodes.iter().map(|s| s.done_at.map(|t| t.as_secs_f64())).collect(),
        failed: w.nodes.iter().map(|s| s.failed.clone()).collect(),
        egress_bytes: w.nodes.iter().map(|s| s.egress_bytes).collect(),
        egress_peak: (0..n).map(|i| w.net.peak_rate(w.fleet.up_res(i))).collect(),
        traffic: w.traffic.clone(),
        end_s: w.now.as_secs_f64(),
        events: w.events,
        solves: w.net.solves,
        over_capacity: w.net.over_capacity,
    }
}

fn summarize(run: &StrategyRun, plan: &Plan, fleet: &Fleet, bound: &LowerBound) -> StrategySummary {
    let n = fleet.nodes as usize;
    let mut times: Vec<f64> = run.done_s.iter().flatten().copied().collect();
    times.sort_by(f64::total_cmp);
    let completed = times.len();
    let mut failures: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (i, reason) in run.failed.iter().enumerate() {
        if let Some(r) = reason {
            let kind = r.split([' ', ':']).next().unwrap_or("failed").to_string();
            failures.entry(kind).or_default().push(i as u32);
        }
    }
    let accounted = (0..n).all(|i| run.done_s[i].is_some() != run.failed[i].is_some());
    let slack = 1.0 - BOUND_SLACK;
    let f = fleet.wire_file_bytes;
    let per_node = (0..n).all(|i| run.done_s[i].is_none_or(|t| t >= f / fleet.download[i] * slack));
    let first_ok = times.first().is_none_or(|&t| t >= bound.origin_s * slack);
    let last_ok = completed < n || times.last().is_some_and(|&t| t >= bound.lower_bound_s * slack);
    let lower_bound_respected = per_node && first_ok && last_ok;
    let cap = plan.egress_cap;
    let nodes_over_cap = cap.map_or(0, |c| run.egress_peak.iter().filter(|&&p| p > c * (1.0 + 1e-9)).count() as u32);
    let capacity_respected = run.over_capacity == 0 && nodes_over_cap == 0;
    let last = (completed == n).then(|| times[n - 1]).or_else(|| times.last().copied().filter(|_| completed > 0));
    StrategySummary {
        strategy: run.strategy.name(),
        completed: completed as u32,
        failed: (n - completed) as u32,
        first_node_s: times.first().copied(),
        median_node_s: percentile(&times, n, 0.5),
        p90_node_s: percentile(&times, n, 0.9),
        p99_node_s: percentile(&times, n, 0.99),
        last_node_s: last,
        ratio_to_lower_bound: last.filter(|_| completed == n).map(|l| l / bound.lower_bound_s),
        failures,
        traffic: run.traffic.rounded(),
        egress: Egress {
            node_bytes_max: run.egress_bytes.iter().copied().fold(0.0, f64::max).round(),
            node_bytes_mean: (run.egress_bytes.iter().sum::<f64>() / n as f64).round(),
            node_rate_max_bytes_per_s: run.egress_peak.iter().copied().fold(0.0, f64::max).round(),
            cap_bytes_per_s: cap,
            nodes_over_cap,
        },
        run: RunStats { end_s: run.end_s, events: run.events, rate_solves: run.solves },
        invariants: Invariants {
            every_node_accounted: accounted,
            lower_bound_respected,
            capacity_respected,
            all_hold: accounted && lower_bound_respected && capacity_respected,
        },
    }
}

/// The time by which a fraction `q` of all `n` nodes completed (nearest
/// rank over all N, so nodes that never completed count as latest);
/// `sorted` holds the completion times, ascending.
fn percentile(sorted: &[f64], n: usize, q: f64) -> Option<f64> {
    let rank = ((q * n as f64).ceil() as usize).max(1);
    sorted.get(rank - 1).copied()
}

pub fn distribution(plan: &Plan, fleet: &Fleet, runs: Vec<StrategyRun>) -> Distribution {
    let bound = fleet.lower_bound();
    let n = fleet.nodes as f64;
    let summary = Summary {
        schema_version: SCHEMA_VERSION,
        kind: "distribution",
        scenario: plan.name.clone(),
        seed: plan.seed,
        weights: Weights {
            file_bytes: plan.file_bytes,
            chunk_bytes: plan.chunk_bytes,
            chunks: plan.chunks,
            wire_file_bytes: fleet.wire_file_bytes,
        },
        fleet: FleetInfo {
            nodes: fleet.nodes,
            origins: fleet.origins,
            racks: fleet.racks,
            regions: fleet.regions,
            origin_upload_bytes_per_s: fleet.origin_upload,
            node_upload_bytes_per_s_min: fleet.upload.iter().copied().fold(f64::INFINITY, f64::min),
            node_upload_bytes_per_s_mean: fleet.upload.iter().sum::<f64>() / n,
            node_download_bytes_per_s_min: fleet.download.iter().copied().fold(f64::INFINITY, f64::min),
            crashes_scheduled: fleet.crashes.len() as u32,
        },
        lower_bound: bound,
        strategies: runs.iter().map(|r| summarize(r, plan, fleet, &bound)).collect(),
    };
    Distribution { summary, runs }
}

/// Human-readable seconds: "44.8 s", "6.2 h".
pub fn humane_secs(s: f64) -> String {
    match s {
        s if s >= 7200.0 => format!("{:.2} h", s / 3600.0),
        s if s >= 120.0 => format!("{:.1} min", s / 60.0),
        s => format!("{s:.2} s"),
    }
}

fn opt_secs(s: Option<f64>) -> String {
    s.map_or_else(|| "—".into(), humane_secs)
}

/// The comparison table, one row per strategy (markdown).
pub fn table(s: &Summary) -> String {
    let gb = |b: f64| format!("{:.1}", b / 1e9);
    let mut out = String::from(
        "| strategy | first node | p50 node | p90 node | p99 node | last node | × lower bound | completed | failed | origin egress GB | cross-rack GB | cross-region GB | max node egress GB | max node egress Gbps |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &s.strategies {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
            r.strategy,
            opt_secs(r.first_node_s),
            opt_secs(r.median_node_s),
            opt_secs(r.p90_node_s),
            opt_secs(r.p99_node_s),
            opt_secs(r.last_node_s),
            r.ratio_to_lower_bound.map_or_else(|| "—".into(), |x| format!("{x:.3}")),
            r.completed,
            r.failed,
            gb(r.traffic.origin_egress_bytes),
            gb(r.traffic.cross_rack_bytes),
            gb(r.traffic.cross_region_bytes),
            gb(r.egress.node_bytes_max),
            r.egress.node_rate_max_bytes_per_s * 8.0 / 1e9,
        );
    }
    out
}

fn markdown(s: &Summary, question: &str) -> String {
    let b = &s.lower_bound;
    let mut out = format!("# {} (seed {})\n\n", s.scenario, s.seed);
    if !question.is_empty() {
        let _ = writeln!(out, "{question}\n");
    }
    let _ = writeln!(
        out,
        "{} nodes in {} racks and {} regions; {} origin(s); file {:.1} GB in {} chunks.\n",
        s.fleet.nodes,
        s.fleet.racks,
        s.fleet.regions,
        s.fleet.origins,
        s.weights.file_bytes as f64 / 1e9,
        s.weights.chunks
    );
    let _ = writeln!(
        out,
        "Lower bound D_min = max(F/u_s = {}, F/d_min = {}, N·F/(u_s + Σu_i) = {}) = **{}**.\n",
        humane_secs(b.origin_s),
        humane_secs(b.slowest_download_s),
        humane_secs(b.aggregate_upload_s),
        humane_secs(b.lower_bound_s)
    );
    out.push_str(&table(s));
    out.push_str("\n## Checks\n\n");
    for r in &s.strategies {
        let i = &r.invariants;
        let _ = writeln!(
            out,
            "- {}: every node accounted {}, lower bound respected {}, capacity respected {}; {} checksum failures, {} transfers cut by faults{}",
            r.strategy,
            i.every_node_accounted,
            i.lower_bound_respected,
            i.capacity_respected,
            r.traffic.checksum_failures,
            r.traffic.cancelled_transfers,
            if r.failures.is_empty() {
                String::new()
            } else {
                format!("; failed: {:?}", r.failures.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>())
            }
        );
    }
    out
}

/// Completed-node counts at up to 200 evenly spaced times per strategy.
fn completion_series(s: &Summary, runs: &[StrategyRun]) -> Vec<(&'static str, Vec<(f64, f64)>)> {
    let end = s.strategies.iter().filter_map(|r| r.last_node_s).fold(0.0, f64::max);
    runs.iter()
        .map(|run| {
            let mut times: Vec<f64> = run.done_s.iter().flatten().copied().collect();
            times.sort_by(f64::total_cmp);
            let points = (0..=200)
                .map(|k| {
                    let t = end * k as f64 / 200.0;
                    (t, times.partition_point(|&x| x <= t) as f64)
                })
                .collect();
            (run.strategy.name(), points)
        })
        .collect()
}

/// The report's files, by name, in a fixed order.
pub fn render(d: &Distribution, question: &str) -> Result<Vec<(&'static str, Vec<u8>)>, ReportError> {
    let s = &d.summary;
    let mut json = serde_json::to_string_pretty(s)
        .map_err(|e| ReportError::Encode { what: "summary.json", message: e.to_string() })?;
    json.push('\n');
    let series = completion_series(s, &d.runs);
    let mut csv = String::from("strategy,t_s,completed_nodes\n");
    for (name, points) in &series {
        for (t, c) in points {
            let _ = writeln!(csv, "{name},{t},{c}");
        }
    }
    let mut egress = String::from("strategy,node,done_s,failed,egress_bytes,egress_rate_max_bytes_per_s\n");
    for run in &d.runs {
        for i in 0..run.done_s.len() {
            let _ = writeln!(
                egress,
                "{},{i},{},{},{},{}",
                run.strategy.name(),
                run.done_s[i].map_or(String::new(), |t| t.to_string()),
                run.failed[i].as_deref().unwrap_or("").replace(',', ";"),
                run.egress_bytes[i].round(),
                run.egress_peak[i].round()
            );
        }
    }
    let lines: Vec<TimeSeries> = series.iter().map(|(label, points)| TimeSeries { label, points }).collect();
    let svg = time_series_svg(&format!("{}: nodes holding the whole file", s.scenario), "completed nodes", &lines)?;
    Ok(vec![
        ("summary.json", json.into_bytes()),
        ("summary.md", markdown(s, question).into_bytes()),
        ("timeseries.csv", csv.into_bytes()),
        ("egress.csv", egress.into_bytes()),
        ("completion.svg", svg.into_bytes()),
    ])
}
