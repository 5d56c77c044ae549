//! The sweep's tables: `sweep.csv` (full precision), `sweep.md` (rounded
//! for reading), the knee verdict and `report.html` (the markdown and the
//! verdicts on one page), all from the [`Measured`] numbers of each run — the same numbers a shard saves — so an unsharded run and a
//! merge of shards render through one path into the same bytes.

use super::axis::{self, Axis};
use super::Spec;
use crate::metrics::Summary;
use crate::plan::replicate::estimate;
use crate::report::html::{self, Verdict};
use crate::time::SimDuration;
use std::fmt::Write;

/// A sweep-table column: name, how to read it, digits shown in markdown.
type Column = (&'static str, fn(&Summary) -> f64, usize);

/// The headline metrics of a sweep, in table order.
pub const COLUMNS: [Column; 8] = [
    ("offered_per_s", |s| s.throughput.offered_per_s, 2),
    ("completed_per_s", |s| s.throughput.completed_per_s, 2),
    ("overloaded", |s| s.requests.measured_by_outcome.get("overloaded").copied().unwrap_or(0) as f64, 0),
    ("utilization", |s| s.servers.utilization_mean, 3),
    ("mean_batch", |s| s.batching.mean_size, 2),
    ("e2e_p50_ms", |s| s.latency.end_to_end.p50_s * 1e3, 2),
    ("e2e_p99_ms", |s| s.latency.end_to_end.p99_s * 1e3, 2),
    ("queue_wait_mean_ms", |s| s.latency.queue_wait.mean_s * 1e3, 2),
];

/// What one run contributes to a sweep: the headline columns, and what the
/// knee verdict reads (requests not completed, end-to-end p99 in seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub columns: [f64; COLUMNS.len()],
    pub rejected: u64,
    pub e2e_p99_s: f64,
}

impl Measured {
    pub fn of(s: &Summary) -> Measured {
        Measured {
            columns: COLUMNS.map(|(_, value, _)| value(s)),
            rejected: s.requests.measured_by_outcome.iter().filter(|(k, _)| *k != "completed").map(|(_, v)| v).sum(),
            e2e_p99_s: s.latency.end_to_end.p99_s,
        }
    }
}

/// A rendered sweep: the files of its report folder and what the terminal
/// shows (the markdown table and the verdict).
pub struct Rendered {
    pub csv: String,
    pub markdown: String,
    pub html: String,
    pub shown: String,
}

impl Rendered {
    /// The report folder's files, by name.
    pub fn files(self) -> [(&'static str, Vec<u8>); 3] {
        [
            ("sweep.csv", self.csv.into_bytes()),
            ("sweep.md", self.markdown.into_bytes()),
            ("report.html", self.html.into_bytes()),
        ]
    }
}

/// Renders the runs of every point of `spec` (point-major, as
/// [`super::run_points`] returns them).
pub fn render(spec: &Spec, runs: &[Measured]) -> Rendered {
    let per_point = spec.runs_per_point();
    let points: Vec<&[Measured]> = runs.chunks(per_point).collect();
    let replicated = spec.replications.is_some();
    let mut table = markdown_table(&spec.axes, &points, replicated);
    let knees = spec.slo_p99_ns.map_or(Vec::new(), |slo| verdicts(spec, &points, SimDuration(slo)));
    if !knees.is_empty() {
        table.push('\n');
        for (_, line) in &knees {
            let _ = writeln!(table, "{line}");
        }
    }
    let runs_note = spec.replications.map_or(String::new(), |n| format!(", {n} replications"));
    let markdown =
        format!("# {} sweep of {} (seed {}{runs_note})\n\n{table}", spec.scenario, axis::keys(&spec.axes), spec.seed);
    let knees: Vec<Verdict> =
        knees.into_iter().map(|(pass, detail)| Verdict { label: "knee".into(), pass, detail }).collect();
    let html = html::study_page(&markdown, &spec.question, &knees, &[]);
    Rendered { csv: csv(&spec.axes, &points, replicated), markdown, html, shown: table }
}

/// Mean and 95% half-width of column `c` (or of the p99) over one point's runs.
fn interval(runs: &[Measured], value: impl Fn(&Measured) -> f64) -> (f64, f64) {
    let values: Vec<f64> = runs.iter().map(value).collect();
    let e = estimate(&values);
    (e.mean, e.half_width_95)
}

fn csv(axes: &[Axis], points: &[&[Measured]], replicated: bool) -> String {
    let mut out = axes.iter().map(|a| a.key.as_str()).collect::<Vec<_>>().join(",");
    for (name, _, _) in COLUMNS {
        let _ = write!(out, ",{name}");
        if replicated {
            let _ = write!(out, ",{name}_ci95");
        }
    }
    for (index, runs) in points.iter().enumerate() {
        let _ = write!(out, "\n{}", axis::grid_point(axes, index).join(","));
        for c in 0..COLUMNS.len() {
            match replicated {
                false => {
                    let _ = write!(out, ",{}", runs[0].columns[c]);
                }
                true => {
                    let (mean, half) = interval(runs, |m| m.columns[c]);
                    let _ = write!(out, ",{mean},{half}");
                }
            }
        }
    }
    out.push('\n');
    out
}

fn markdown_table(axes: &[Axis], points: &[&[Measured]], replicated: bool) -> String {
    let mut out = String::from("|");
    for axis in axes {
        let _ = write!(out, " {} |", axis.key);
    }
    for (name, _, _) in COLUMNS {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|");
    out.push_str(&"---:|".repeat(axes.len() + COLUMNS.len()));
    for (index, runs) in points.iter().enumerate() {
        out.push_str("\n|");
        for value in axis::grid_point(axes, index) {
            let _ = write!(out, " {value} |");
        }
        for (c, (_, _, digits)) in COLUMNS.iter().enumerate() {
            match replicated {
                false => {
                    let _ = write!(out, " {:.*} |", digits, runs[0].columns[c]);
                }
                true => {
                    let (mean, half) = interval(runs, |m| m.columns[c]);
                    let _ = write!(out, " {mean:.digits$} ± {half:.digits$} |");
                }
            }
        }
    }
    out.push('\n');
    out
}

/// The knee verdicts: for each combination of the earlier axes, the
/// largest value of the last axis (listed in increasing load) whose points
/// met the p99 SLO with nothing rejected. With replications, the upper end
/// of the p99's 95% interval must meet it, and no replication may reject.
/// Each verdict: whether some value met it, and the line that says so.
fn verdicts(spec: &Spec, points: &[&[Measured]], slo: SimDuration) -> Vec<(bool, String)> {
    let Some(last) = spec.axes.last() else { return Vec::new() };
    let earlier = &spec.axes[..spec.axes.len() - 1];
    let meets = |runs: &[Measured]| {
        let (mean, half) = interval(runs, |m| m.e2e_p99_s);
        runs.iter().all(|m| m.rejected == 0) && mean + half <= slo.as_secs_f64()
    };
    let how = match spec.replications {
        None => String::new(),
        Some(n) => format!(" (upper 95% bound of p99 over {n} replications)"),
    };
    points
        .chunks(last.values.len())
        .enumerate()
        .map(|(slice, runs)| {
            let at = match earlier.is_empty() {
                true => String::new(),
                false => {
                    let first = axis::grid_point(&spec.axes, slice * last.values.len());
                    let fixed: Vec<String> = earlier.iter().zip(first).map(|(a, v)| format!("{}={v}", a.key)).collect();
                    format!("at {}: ", fixed.join(", "))
                }
            };
            let key = &last.key;
            match runs.iter().rposition(|r| meets(r)) {
                Some(i) => (
                    true,
                    format!("{at}largest {key} meeting p99 <= {slo}{how} with nothing rejected: {}", last.values[i]),
                ),
                None => (false, format!("{at}no swept {key} meets p99 <= {slo}{how} with nothing rejected")),
            }
        })
        .collect()
}
