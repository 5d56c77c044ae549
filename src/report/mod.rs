//! Writing a run's report folder: `summary.json` (the stable, documented
//! schema), `summary.md` (for people), `timeseries.csv` (per window; a
//! fleet adds `slo_windows.csv`), SVG
//! plots (latency CDF, queue depth over time, ...) and `report.html` (the
//! Markdown and the plots on one self-contained page).
//!
//! Every report folder is written by [`folder`]: atomically, marked with a
//! manifest, and never over a folder holding anything servesim did not write.

mod error;
mod fleet;
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
use crate::metrics::{Summary, WindowRow};
use html::Verdict;
use plots::{CdfSeries, TimeSeries};
use rayon::prelude::*;
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

/// Renders some of a report's files; the renderers of one report run in
/// parallel.
type Renderer<'a> = Box<dyn Fn() -> Result<Vec<(&'static str, Vec<u8>)>, ReportError> + Send + Sync + 'a>;

/// One file from one renderer.
fn file<'a>(name: &'static str, f: impl Fn() -> Result<Vec<u8>, ReportError> + Send + Sync + 'a) -> Renderer<'a> {
    Box::new(move || Ok(vec![(name, f()?)]))
}

/// A time-series plot of one timeline column.
fn timeline_svg(
    recorded: &Recorded,
    title: &str,
    y_label: &str,
    label: &str,
    column: fn(&WindowRow) -> f64,
) -> Result<Vec<u8>, ReportError> {
    let points: Vec<(f64, f64)> = recorded.timeline.iter().map(|r| (r.t_start_s, column(r))).collect();
    let title = format!("{}: {title}", recorded.summary.scenario);
    Ok(plots::time_series_svg(&title, y_label, &[TimeSeries { label, points: &points }])?.into_bytes())
}

/// The report's files, by name, in a fixed order. The files render on
/// rayon's pool (the SVG plots dominate a short run's report) and are
/// collected in that order, so the bytes do not depend on the thread count.
pub fn render(recorded: &Recorded, question: &str) -> Result<Vec<(&'static str, Vec<u8>)>, ReportError> {
    let s = &recorded.summary;
    let mut renderers: Vec<Renderer> = vec![
        file("summary.json", || Ok(summary_json(s)?.into_bytes())),
        file("summary.md", || Ok(markdown::render(s, question).into_bytes())),
        file("timeseries.csv", || timeseries_csv(recorded)),
        file("latency_cdf.svg", || {
            let points: Vec<(&str, Vec<(f64, f64)>)> =
                recorded.cdfs.iter().map(|(name, stat)| (*name, stat.cdf_points())).collect();
            let series: Vec<CdfSeries> = points.iter().map(|(label, points)| CdfSeries { label, points }).collect();
            Ok(plots::latency_cdf_svg(&format!("{}: latency CDF", s.scenario), &series)?.into_bytes())
        }),
        file("queue_depth.svg", || {
            let depth: Vec<(f64, f64)> = recorded.timeline.iter().map(|r| (r.t_start_s, r.queue_depth_mean)).collect();
            let in_system: Vec<(f64, f64)> =
                recorded.timeline.iter().map(|r| (r.t_start_s, r.in_system_mean)).collect();
            let lines = [
                TimeSeries { label: "waiting", points: &depth },
                TimeSeries { label: "in system", points: &in_system },
            ];
            let title = format!("{}: queue depth over time", s.scenario);
            Ok(plots::time_series_svg(&title, "requests (window mean)", &lines)?.into_bytes())
        }),
    ];
    if s.llm.is_some() {
        renderers.push(file("kv_cache.svg", || {
            timeline_svg(recorded, "KV-cache use over time", "fraction of KV blocks (window mean)", "KV in use", |r| {
                r.kv_utilization
            })
        }));
        renderers.push(file("batch_size.svg", || {
            let y_label = "sequences in running batches (window mean)";
            timeline_svg(recorded, "running batch size over time", y_label, "running", |r| r.running_mean)
        }));
    }
    if let (Some(summary), Some(extra)) = (&s.safety, &recorded.safety) {
        renderers.push(Box::new(|| safety::files(&s.scenario, summary, extra)));
    }
    if let Some(fd) = &s.frontdoor {
        renderers.push(file("timeline.svg", || {
            Ok(frontdoor::timeline_svg(&s.scenario, fd, &recorded.timeline)?.into_bytes())
        }));
    }
    if let Some(f) = &s.fleet {
        renderers.push(file("slo_windows.csv", || fleet::slo_windows_csv(&recorded.slo_windows)));
        renderers
            .push(file("fleet_slo.svg", || Ok(fleet::slo_svg(&s.scenario, f, &recorded.slo_windows)?.into_bytes())));
    }
    let rendered: Vec<Vec<(&'static str, Vec<u8>)>> =
        renderers.par_iter().map(|render| render()).collect::<Result<_, _>>()?;
    let mut files: Vec<(&'static str, Vec<u8>)> = rendered.into_iter().flatten().collect();
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
    html::page(&markdown::title(s), question, &verdicts, &markdown::body(s), files)
}

/// Writes the report into `dir` atomically and returns `dir`.
pub fn write(dir: &Path, recorded: &Recorded, question: &str) -> Result<PathBuf, ReportError> {
    write_files(dir, &render(recorded, question)?)
}

/// The question the scenario file at `path` answers; empty when it has
/// none or cannot be read (the report is written all the same).
pub fn question_at(path: &Path) -> String {
    crate::input::read_text(path, crate::input::TEXT_MAX_BYTES, "scenario files")
        .map(|text| question_of(&text))
        .unwrap_or_default()
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
