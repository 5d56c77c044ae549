//! The helpfulness / safety / latency trade-off: one safety scenario swept
//! over a threshold (by default the output block threshold), each point
//! reduced to the three numbers that decide where thresholds go.
//!
//! Why a sweep and not a formula: blocks, escalations, early stops and the
//! added latency interact through queues (an escalation band sends load to
//! an extra classifier; stopped streams free GPU time), so each point is a
//! full run on the same seeded workload (common random numbers: only the
//! threshold differs). Built on [`super::sweep::sweep`].
//!
//! - helpfulness: benign pass rate (benign completed / benign offered);
//! - safety: harmful block rate (harmful refused / harmful offered);
//! - added latency: p99 of the input safety latency plus p99 of the TTFT
//!   the output stage adds (hold-back and checks), in seconds.

use super::source::Source;
use super::sweep::{self, Point};
use crate::report::plots::{self, PlotError, TimeSeries};
use crate::scenario::{Origin, ScenarioError};
use std::fmt::Write;
use std::path::Path;

/// The default swept key.
pub const DEFAULT_KEY: &str = "safety.output.block_threshold";

/// One threshold and what it bought.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeoffPoint {
    pub value: String,
    pub benign_pass_rate: f64,
    pub harmful_block_rate: f64,
    pub input_latency_p99_s: f64,
    pub ttft_added_p99_s: f64,
    pub false_positives: u64,
    pub false_negatives: u64,
    pub unchecked_tokens_delivered: u64,
}

impl TradeoffPoint {
    pub fn added_latency_s(&self) -> f64 {
        self.input_latency_p99_s + self.ttft_added_p99_s
    }
}

/// Runs `source` once per value of `key` (a `[safety]` scenario).
pub fn tradeoff(source: &Source, key: &str, values: &[String]) -> Result<Vec<TradeoffPoint>, Box<ScenarioError>> {
    let points = sweep::sweep(source, key, values)?;
    points.iter().map(|p| point(&source.path, p)).collect()
}

fn point(path: &Path, p: &Point) -> Result<TradeoffPoint, Box<ScenarioError>> {
    let Some(s) = &p.summary.safety else {
        return Err(Box::new(ScenarioError {
            file: path.to_path_buf(),
            origin: Origin::File { line: None },
            key: "safety".into(),
            message: "missing: a trade-off curve needs a `[safety]` table".into(),
            hint: Some("try scenarios/safety-pipeline.toml".into()),
        }));
    };
    let class = |name: &str, f: fn(&crate::metrics::safety::ClassStats) -> f64| s.by_class.get(name).map_or(0.0, f);
    Ok(TradeoffPoint {
        value: p.value.clone(),
        benign_pass_rate: class("benign", |c| c.pass_rate),
        harmful_block_rate: class("harmful", |c| c.block_rate),
        input_latency_p99_s: s.input_latency.p99_s,
        ttft_added_p99_s: s.ttft_added.p99_s,
        false_positives: s.false_positives,
        false_negatives: s.false_negatives,
        unchecked_tokens_delivered: s.unchecked_tokens_delivered,
    })
}

/// The curve as a markdown table.
pub fn to_markdown(key: &str, points: &[TradeoffPoint]) -> String {
    let mut out = format!(
        "| {key} | benign pass rate (helpfulness) | harmful block rate (safety) | added latency p99 (ms) | false positives | false negatives | unchecked tokens |\n|---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in points {
        let _ = write!(
            out,
            "\n| {} | {:.4} | {:.4} | {:.2} | {} | {} | {} |",
            p.value,
            p.benign_pass_rate,
            p.harmful_block_rate,
            p.added_latency_s() * 1e3,
            p.false_positives,
            p.false_negatives,
            p.unchecked_tokens_delivered
        );
    }
    out.push('\n');
    out
}

/// The curve as CSV, full precision.
pub fn to_csv(key: &str, points: &[TradeoffPoint]) -> String {
    let mut out = format!(
        "{key},benign_pass_rate,harmful_block_rate,added_latency_s,input_latency_p99_s,ttft_added_p99_s,false_positives,false_negatives\n"
    );
    for p in points {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            p.value,
            p.benign_pass_rate,
            p.harmful_block_rate,
            p.added_latency_s(),
            p.input_latency_p99_s,
            p.ttft_added_p99_s,
            p.false_positives,
            p.false_negatives
        );
    }
    out
}

/// `tradeoff.svg`: helpfulness, safety and added latency against the
/// swept value (numeric values only; others are placed by index), and
/// `tradeoff_frontier.svg`: helpfulness against safety.
pub fn plots(name: &str, key: &str, points: &[TradeoffPoint]) -> Result<[(&'static str, String); 2], PlotError> {
    let x = |i: usize, p: &TradeoffPoint| p.value.parse::<f64>().unwrap_or(i as f64);
    let series = |f: fn(&TradeoffPoint) -> f64| -> Vec<(f64, f64)> {
        points.iter().enumerate().map(|(i, p)| (x(i, p), f(p))).collect()
    };
    let (help, safe, lat) =
        (series(|p| p.benign_pass_rate), series(|p| p.harmful_block_rate), series(TradeoffPoint::added_latency_s));
    let curve = plots::xy_svg(
        &format!("{name}: helpfulness vs safety vs added latency"),
        key,
        "rate (passes, blocks) or seconds (latency)",
        &[
            TimeSeries { label: "helpfulness: benign pass rate", points: &help },
            TimeSeries { label: "safety: harmful block rate", points: &safe },
            TimeSeries { label: "added latency p99 (s)", points: &lat },
        ],
    )?;
    let frontier: Vec<(f64, f64)> = points.iter().map(|p| (p.harmful_block_rate, p.benign_pass_rate)).collect();
    let frontier = plots::xy_svg(
        &format!("{name}: helpfulness vs safety over {key}"),
        "safety: harmful block rate",
        "helpfulness: benign pass rate",
        &[TimeSeries { label: "one point per threshold", points: &frontier }],
    )?;
    Ok([("tradeoff.svg", curve), ("tradeoff_frontier.svg", frontier)])
}
