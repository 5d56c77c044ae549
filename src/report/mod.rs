//! Writing a run's report folder: `summary.json` (the stable, documented
//! schema), `summary.md` (for people), `timeseries.csv` (per window), SVG
//! plots (latency CDF, queue depth over time, ...) and `report.html` (the
//! Markdown and the plots on one self-contained page).
//!
//! Every report folder is written by [`folder`]: atomically, marked with a
//! manifest, and never over a folder holding anything servesim did not write.

mod error;
mod folder;
mod frontdoor;
pub mod html;
mod markdown;
pub mod plots;
mod safety;
mod table;

pub use error::ReportError;
pub use folder::{check_out, write_file_atomic, write_files, MANIFEST};

use crate::metrics::recorder::Recorded;
use crate::metrics::Summary;
use html::{Page, Verdict};
use plots::{CdfSeries, TimeSeries};
use std::path::{Path, PathBuf};

/// `summary.json` bytes: pretty JSON with a final newline.
pub fn summary_json(summary: &Summary) -> Result<String, ReportError> {
    let mut text = serde_json::to_string_pretty(summary)
        .map_err(|e| ReportError::Encode { what: "summary.json", message: e.to_string() })?;
    text.push('\n');
    Ok(text)
}

fn timeseries_csv(recorded: &Recorded) -> Result<Vec<u8>, ReportError> {
    let encode = |e: csv::Error| ReportError::Encode { what: "timeseries.csv", message: e.to_string() };
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in &recorded.timeline {
        writer.serialize(row).map_err(encode)?;
    }
    writer.into_inner().map_err(|e| ReportError::Encode { what: "timeseries.csv", message: e.to_string() })
}

/// The report's files, by name, in a fixed order.
pub fn render(recorded: &Recorded, question: &str) -> Result<Vec<(&'static str, Vec<u8>)>, ReportError> {
    let s = &recorded.summary;
    let points: Vec<(&str, Vec<(f64, f64)>)> =
        recorded.cdfs.iter().map(|(name, stat)| (*name, stat.cdf_points())).collect();
    let series: Vec<CdfSeries> = points.iter().map(|(label, points)| CdfSeries { label, points }).collect();
    let cdf_svg = plots::latency_cdf_svg(&format!("{}: latency CDF", s.scenario), &series)?;
    let depth: Vec<(f64, f64)> = recorded.timeline.iter().map(|r| (r.t_start_s, r.queue_depth_mean)).collect();
    let in_system: Vec<(f64, f64)> = recorded.timeline.iter().map(|r| (r.t_start_s, r.in_system_mean)).collect();
    let depth_svg = plots::time_series_svg(
        &format!("{}: queue depth over time", s.scenario),
        "requests (window mean)",
        &[TimeSeries { label: "waiting", points: &depth }, TimeSeries { label: "in system", points: &in_system }],
    )?;
    let mut files = vec![
        ("summary.json", summary_json(s)?.into_bytes()),
        ("summary.md", markdown::render(s, question).into_bytes()),
        ("timeseries.csv", timeseries_csv(recorded)?),
        ("latency_cdf.svg", cdf_svg.into_bytes()),
        ("queue_depth.svg", depth_svg.into_bytes()),
    ];
    if s.llm.is_some() {
        let kv: Vec<(f64, f64)> = recorded.timeline.iter().map(|r| (r.t_start_s, r.kv_utilization)).collect();
        let running: Vec<(f64, f64)> = recorded.timeline.iter().map(|r| (r.t_start_s, r.running_mean)).collect();
        let kv_svg = plots::time_series_svg(
            &format!("{}: KV-cache use over time", s.scenario),
            "fraction of KV blocks (window mean)",
            &[TimeSeries { label: "KV in use", points: &kv }],
        )?;
        let batch_svg = plots::time_series_svg(
            &format!("{}: running batch size over time", s.scenario),
            "sequences in running batches (window mean)",
            &[TimeSeries { label: "running", points: &running }],
        )?;
        files.push(("kv_cache.svg", kv_svg.into_bytes()));
        files.push(("batch_size.svg", batch_svg.into_bytes()));
    }
    if let (Some(summary), Some(extra)) = (&s.safety, &recorded.safety) {
        files.extend(safety::files(&s.scenario, summary, extra)?);
    }
    if let Some(fd) = &s.frontdoor {
        files.push(("timeline.svg", frontdoor::timeline_svg(&s.scenario, fd, &recorded.timeline)?.into_bytes()));
    }
    let page = html_page(s, question, &files);
    files.push(("report.html", page.into_bytes()));
    Ok(files)
}

/// `report.html`: the title, the question, the SLO and invariant verdicts,
/// every table of `summary.md` and every plot of `files`.
fn html_page(s: &Summary, question: &str, files: &[(&str, Vec<u8>)]) -> String {
    let mut verdicts: Vec<Verdict> = s
        .llm
        .iter()
        .flat_map(|l| &l.slo)
        .map(|c| Verdict {
            label: format!("SLO {}", c.metric),
            pass: c.met,
            detail: format!("p99 {} ms against a target of {} ms", table::ms(c.actual_s), table::ms(c.target_s)),
        })
        .collect();
    verdicts.push(Verdict {
        label: "invariants".into(),
        pass: s.invariants.all_hold,
        detail: match s.invariants.all_hold {
            true => "every check under Checks below holds".into(),
            false => "a check under Checks below is violated".into(),
        },
    });
    let mut page = Page::new(&markdown::title(s));
    page.question(question).verdicts("Verdicts", &verdicts).markdown(&markdown::body(s));
    for (name, bytes) in files.iter().filter(|(name, _)| name.ends_with(".svg")) {
        page.figure(name, &String::from_utf8_lossy(bytes));
    }
    page.finish()
}

/// Writes the report into `dir` atomically and returns `dir`.
pub fn write(dir: &Path, recorded: &Recorded, question: &str) -> Result<PathBuf, ReportError> {
    write_files(dir, &render(recorded, question)?)
}

/// The scenario file's leading comment block: the question it answers.
pub fn question_of(scenario_text: &str) -> String {
    scenario_text
        .lines()
        .take_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty())
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}
