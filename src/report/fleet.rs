//! A fleet's part of a report: the `## Fleet` section of `summary.md`
//! (availability and every headline figure for the fleet, per serving
//! region, per users' region and per model; the SLO windows; each
//! incident), `slo_windows.csv` (SLO attainment per window) and
//! `fleet_slo.svg` (attainment and answers over time, with the run's
//! marks).
//!
//! Marks: [`marks`] gathers what happened to the fleet — each scheduled
//! failure as a shaded span, each autoscaler decision as an instant — for
//! every fleet plot.

use super::plots::{self, Mark, TimeSeries};
use super::table::ms;
use super::ReportError;
use crate::metrics::autoscale::{AutoscaleSummary, ColdStartSummary};
use crate::metrics::fleet::FleetSummary;
use crate::metrics::fleet_breakdown::FleetGroupSummary;
use crate::metrics::fleet_windows::SloWindowRow;
use std::fmt::Write;

/// `slo_windows.csv`: one row per window.
pub(super) fn slo_windows_csv(rows: &[SloWindowRow]) -> Result<Vec<u8>, ReportError> {
    let encode = |e: csv::Error| ReportError::Encode { what: "slo_windows.csv", message: e.to_string() };
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).map_err(encode)?;
    }
    writer.into_inner().map_err(|e| ReportError::Encode { what: "slo_windows.csv", message: e.to_string() })
}

/// Labels of the marks of a fleet's plots, each owned by the caller.
/// The incidents' labels come first, in order, then one per autoscaler decision
/// (`scale up POOL` or `scale down POOL`, so the legend lists each once).
pub(super) fn mark_labels(fleet: &FleetSummary) -> Vec<String> {
    let incidents = fleet
        .incidents
        .iter()
        .map(|i| format!("{} {}", i.kind.replace('_', " "), i.pool.as_deref().unwrap_or(&i.region)));
    let scaling = fleet.autoscaling.iter().flat_map(|a| &a.decisions).map(|d| {
        let way = if d.to > d.from { "up" } else { "down" };
        format!("scale {way} {}", d.pool)
    });
    incidents.chain(scaling).collect()
}

/// What to mark on a fleet's plots: each scheduled failure's span, then
/// each autoscaler decision as an instant, labelled by `labels` (from
/// [`mark_labels`]).
pub(super) fn marks<'a>(fleet: &FleetSummary, labels: &'a [String]) -> Vec<Mark<'a>> {
    let spans = fleet.incidents.iter().map(|i| (i.from_s, i.to_s));
    let instants = fleet.autoscaling.iter().flat_map(|a| &a.decisions).map(|d| (d.t_s, d.t_s));
    spans.chain(instants).zip(labels).map(|((from, to), label)| Mark { from, to, label }).collect()
}

/// `fleet_slo.svg`: per window, the share of answers within SLO and the
/// target (left: fractions), with the incidents shaded.
pub(super) fn slo_svg(scenario: &str, fleet: &FleetSummary, rows: &[SloWindowRow]) -> Result<String, ReportError> {
    let attainment: Vec<(f64, f64)> = rows.iter().filter_map(|r| Some((r.t_start_s, r.attainment?))).collect();
    let failed: Vec<(f64, f64)> =
        rows.iter().filter(|r| r.answered > 0).map(|r| (r.t_start_s, r.failed as f64 / r.answered as f64)).collect();
    let target: Vec<(f64, f64)> = match (rows.first(), rows.last()) {
        (Some(a), Some(b)) => {
            vec![
                (a.t_start_s, fleet.slo_windows.target),
                (b.t_start_s + fleet.slo_windows.window_s, fleet.slo_windows.target),
            ]
        }
        _ => Vec::new(),
    };
    let labels = mark_labels(fleet);
    let svg = plots::marked_time_series_svg(
        &format!("{scenario}: SLO attainment per {} s window", fleet.slo_windows.window_s),
        "fraction of the window's answers",
        &[
            TimeSeries { label: "within SLO", points: &attainment },
            TimeSeries { label: "failed", points: &failed },
            TimeSeries { label: "target", points: &target },
        ],
        &marks(fleet, &labels),
    )?;
    Ok(svg)
}

/// The `## Fleet` section of `summary.md`.
pub(super) fn section(o: &mut String, f: &FleetSummary) {
    let _ = writeln!(o, "## Fleet: availability by region and model\n");
    let _ = writeln!(
        o,
        "Measured requests; within SLO = completed with its own TTFT, TPOT and end-to-end each within the `[slo]` \
         targets; availability = within SLO / offered.\n"
    );
    let _ = writeln!(
        o,
        "| group | offered | completed | failed | refused | lost | within SLO | availability | goodput (/s) | TTFT p50 / p99 (ms) | TPOT p50 / p99 (ms) | GPU-hours | cost ($) |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    group_row(o, "**fleet**", &f.total);
    for g in &f.by_region {
        group_row(o, &format!("served in {}", g.name), g);
    }
    for g in f.by_users_region.iter().filter(|g| g.offered > 0) {
        group_row(o, &format!("users near {}", g.name), g);
    }
    for g in &f.by_model {
        group_row(o, &format!("model {}", g.name), g);
    }
    let w = &f.slo_windows;
    let _ = writeln!(
        o,
        "\n- SLO windows of {} s: {} of {} with answers met the target ({:.1}% of answers within SLO): {:.1}%; worst window {:.1}% (`slo_windows.csv`)",
        w.window_s,
        w.met,
        w.windows,
        w.target * 100.0,
        w.met_fraction * 100.0,
        w.min_attainment * 100.0
    );
    let _ = writeln!(
        o,
        "- served in another region than their users': {} requests, {:.0} bytes, ${:.4} egress",
        f.cross_region_requests, f.egress_bytes, f.egress_usd
    );
    if f.replica_failures > 0 {
        let _ = writeln!(o, "- replica failures drawn from the pools' MTBF: {}", f.replica_failures);
    }
    if !f.incidents.is_empty() {
        let _ = writeln!(o, "\n| incident | from–to (s) | replicas | time to detect (s) | failed | answered | within SLO | recovered at (s) | time to recover (s) |");
        let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
        let labels = mark_labels(f);
        let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("—".to_string(), f);
        for (i, label) in f.incidents.iter().zip(&labels) {
            let _ = writeln!(
                o,
                "| {label} | {:.0}–{:.0} | {} | {} | {} | {} | {} | {} | {} |",
                i.from_s,
                i.to_s,
                i.replicas,
                opt(i.time_to_detect_s, &|s| format!("{s:.1}")),
                i.failed,
                i.answered,
                opt(i.slo_attainment, &|a| format!("{:.1}%", a * 100.0)),
                opt(i.recovered_at_s, &|s| format!("{s:.0}")),
                match i.time_to_recover_s {
                    Some(s) => format!("{s:.0}"),
                    None => "**never**".to_string(),
                }
            );
        }
    }
    if let Some(a) = &f.autoscaling {
        autoscaling(o, a);
    }
    o.push('\n');
}

/// Each autoscaled pool's capacity and bill beside static peak
/// provisioning, and its cold starts' mean parts.
fn autoscaling(o: &mut String, a: &AutoscaleSummary) {
    let _ = writeln!(o, "\n| autoscaled pool | min–max | peak | final | decisions | GPU-hours | cost | static peak GPU-hours | starts | mean provision + container + download + load (s) |");
    let _ = writeln!(o, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for p in &a.pools {
        let decisions = a.decisions.iter().filter(|d| d.pool == p.pool).count();
        let starts: Vec<_> = a.cold_starts.iter().filter(|c| c.pool == p.pool && !c.cancelled).collect();
        let n = starts.len().max(1) as f64;
        let mean = |part: &dyn Fn(&ColdStartSummary) -> f64| starts.iter().map(|c| part(c)).sum::<f64>() / n;
        let _ = writeln!(
            o,
            "| {} | {}–{} | {} | {} | {} | {:.1} | ${:.2} | {:.1} | {} | {:.0} + {:.0} + {:.0} + {:.0} |",
            p.pool,
            p.min_replicas,
            p.max_replicas,
            p.peak_replicas,
            p.final_replicas,
            decisions,
            p.gpu_hours,
            p.usd,
            p.static_peak_gpu_hours,
            starts.len(),
            mean(&|c| c.provision_s),
            mean(&|c| c.container_s),
            mean(&|c| c.download_s),
            mean(&|c| c.load_s),
        );
    }
}

fn group_row(o: &mut String, name: &str, g: &FleetGroupSummary) {
    let money = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or(String::new(), f);
    let _ = writeln!(
        o,
        "| {name} | {} | {} | {} | {} | {} | {} | {:.2}% | {:.3} | {} / {} | {} / {} | {} | {} |",
        g.offered,
        g.completed,
        g.failed,
        g.refused,
        g.lost,
        g.within_slo,
        g.availability * 100.0,
        g.goodput_per_s,
        ms(g.ttft.p50_s),
        ms(g.ttft.p99_s),
        ms(g.tpot.p50_s),
        ms(g.tpot.p99_s),
        money(g.gpu_hours, &|h| format!("{h:.3}")),
        money(g.usd, &|u| format!("{u:.2}")),
    );
}
