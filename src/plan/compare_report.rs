//! What `servesim compare` writes: `compare.md` (the side-by-side table,
//! each difference from the first item with its interval), `compare.csv`
//! (one row per metric and item, full precision), `compare.json`, the
//! overlaid latency CDFs of replication 0 (`latency_cdf.svg`), for LLM
//! serving cost vs p99 (`cost_vs_p99.svg`: one point per replication), and
//! `report.html` (the table and the plots on one page, under each item's
//! SLO verdicts).

use super::compare::{Item, Row, Runs, Value};
use crate::report::html::{self, Verdict};
use crate::report::plots::{self, CdfSeries, PlotError, TimeSeries};
use serde::Serialize;
use std::fmt::Write;

/// `compare.json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CompareReport<'a> {
    pub items: Vec<ItemInfo>,
    pub seeds: &'a [u64],
    pub table: &'a [Row],
}

/// One compared item: its name, scenario and overrides.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemInfo {
    pub name: String,
    pub scenario: String,
    pub sets: Vec<String>,
}

pub fn info(items: &[Item]) -> Vec<ItemInfo> {
    items
        .iter()
        .map(|i| ItemInfo {
            name: i.name.clone(),
            scenario: i.scenario.path.display().to_string(),
            sets: i.sets.clone(),
        })
        .collect()
}

/// `compare.json`: pretty JSON with a final newline.
pub fn to_json(r: &CompareReport) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(r).map(|mut s| {
        s.push('\n');
        s
    })
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// `compare.csv`: one row per metric and item.
pub fn to_csv(table: &[Row]) -> String {
    let mut out = String::from("metric,item,mean,half_width_95,difference,difference_half_width_95\n");
    for row in table {
        for c in &row.cells {
            let (d, dh) = c.difference.map_or((None, None), |d| (Some(d.mean), d.half_width_95));
            let _ = writeln!(
                out,
                "{},\"{}\",{},{},{},{}",
                row.metric,
                c.item.replace('"', "\"\""),
                c.value.mean,
                opt(c.value.half_width_95),
                opt(d),
                opt(dh)
            );
        }
    }
    out
}

/// A number for reading: four significant digits; seconds (metrics named
/// `..._s`, not rates `..._per_s`) as ms.
fn show(metric: &str, x: f64) -> String {
    let seconds = metric.ends_with("_s") && !metric.ends_with("_per_s");
    let (x, unit) = if seconds { (x * 1e3, " ms") } else { (x, "") };
    let digits = if x == 0.0 || !x.is_finite() { 0 } else { (3 - x.abs().log10().floor() as i32).clamp(0, 6) as usize };
    format!("{x:.digits$}{unit}")
}

fn show_value(metric: &str, v: &Value, sign: bool) -> String {
    let mean = show(metric, v.mean);
    let mean = if sign && v.mean >= 0.0 { format!("+{mean}") } else { mean };
    match v.half_width_95 {
        Some(h) => format!("{mean} ± {}", show(metric, h)),
        None => mean,
    }
}

/// `report.html`: `compare.md` and the plots (`files`) on one page, under
/// one verdict per item and SLO: met in every replication or not.
pub fn to_html(markdown: &str, question: &str, items: &[Item], runs: &[Runs], files: &[(&str, Vec<u8>)]) -> String {
    let verdicts: Vec<Verdict> = items
        .iter()
        .zip(runs)
        .flat_map(|(item, r)| {
            let checks = r.summaries.first().and_then(|s| s.llm.as_ref()).map_or(&[][..], |l| &l.slo[..]);
            checks.iter().enumerate().map(move |(k, check)| {
                let actual: Vec<f64> =
                    r.summaries.iter().filter_map(|s| s.llm.as_ref()).map(|l| l.slo[k].actual_s).collect();
                let worst = actual.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                Verdict {
                    label: format!("{}: SLO {}", item.name, check.metric),
                    pass: r.summaries.iter().filter_map(|s| s.llm.as_ref()).all(|l| l.slo[k].met),
                    detail: format!(
                        "worst p99 {} against a target of {}",
                        show("p99_s", worst),
                        show("target_s", check.target_s)
                    ),
                }
            })
        })
        .collect();
    html::study_page(markdown, question, &verdicts, files)
}

/// `compare.md`.
pub fn to_markdown(items: &[Item], seeds: &[u64], table: &[Row]) -> String {
    let mut o = String::from("# Comparison\n\n");
    let runs = if seeds.len() == 1 {
        format!("one run each with seed {}", seeds[0])
    } else {
        format!(
            "{} replications each (seeds {}); cells are means ± 95% half-widths, differences are paired \
             by replication",
            seeds.len(),
            seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
        )
    };
    let _ = writeln!(o, "Every item ran on the same seeded workload: {runs}.\n");
    for item in items {
        let sets = if item.sets.is_empty() { "as written".to_string() } else { item.sets.join(" ") };
        let _ = writeln!(o, "- **{}**: `{}` {sets}", item.name, item.scenario.path.display());
    }
    let _ = write!(o, "\n| metric |");
    for (i, item) in items.iter().enumerate() {
        let _ = write!(o, " {} |", item.name);
        if i > 0 {
            let _ = write!(o, " Δ {} |", item.name);
        }
    }
    let _ = write!(o, "\n|---|");
    o.push_str(&"---:|".repeat(2 * items.len() - 1));
    o.push('\n');
    for row in table {
        let _ = write!(o, "| {} |", row.metric);
        for c in &row.cells {
            let _ = write!(o, " {} |", show_value(row.metric, &c.value, false));
            if let Some(d) = &c.difference {
                let _ = write!(o, " {} |", show_value(row.metric, d, true));
            }
        }
        o.push('\n');
    }
    o
}

/// The plots: overlaid CDFs, and cost vs p99 when every item is LLM serving.
pub fn plots(items: &[Item], runs: &[Runs]) -> Result<Vec<(&'static str, String)>, PlotError> {
    let labels: Vec<Vec<String>> = items
        .iter()
        .zip(runs)
        .map(|(item, r)| r.cdfs.iter().map(|(name, _)| format!("{}: {name}", item.name)).collect())
        .collect();
    let series: Vec<CdfSeries> = runs
        .iter()
        .zip(&labels)
        .flat_map(|(r, l)| r.cdfs.iter().zip(l).map(|((_, points), label)| CdfSeries { label, points }))
        .collect();
    let mut out = vec![("latency_cdf.svg", plots::latency_cdf_svg("latency CDFs, replication 0", &series)?)];
    let costs: Option<Vec<Vec<(f64, f64)>>> = runs
        .iter()
        .map(|r| {
            r.summaries
                .iter()
                .map(|s| s.llm.as_ref().map(|l| (l.cost.usd_per_million_output_tokens, l.ttft.p99_s)))
                .collect()
        })
        .collect();
    if let Some(costs) = costs {
        let series: Vec<TimeSeries> =
            items.iter().zip(&costs).map(|(item, points)| TimeSeries { label: &item.name, points }).collect();
        let svg = plots::scatter_svg(
            "cost vs TTFT p99 (one point per replication)",
            "$ per million output tokens",
            "TTFT p99 (s)",
            &series,
        )?;
        out.push(("cost_vs_p99.svg", svg));
    }
    Ok(out)
}
