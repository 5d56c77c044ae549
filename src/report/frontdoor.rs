//! The front door's part of a report: a `summary.md` section (tenants,
//! gateway, clients, the trigger) and `timeline.svg` (goodput, offered
//! load with retries, queue depth, the trigger shaded) — the picture that
//! tells a metastable failure from a slow recovery.

use super::plots::{self, TimeSeries};
use super::ReportError;
use crate::metrics::frontdoor::{FrontDoorSummary, FrontDoorWindow};
use crate::metrics::WindowRow;
use std::fmt::Write;

/// The front door over time: goodput, offered attempts (retries included)
/// per second, and the queue depth (gateway and replicas), with the
/// trigger shaded.
pub(super) fn timeline_svg(
    scenario: &str,
    fd: &FrontDoorSummary,
    timeline: &[WindowRow],
) -> Result<String, ReportError> {
    let width = match fd.timeline.as_slice() {
        [a, b, ..] => b.t_start_s - a.t_start_s,
        _ => 1.0,
    };
    let per_s = |f: fn(&FrontDoorWindow) -> u64| -> Vec<(f64, f64)> {
        fd.timeline.iter().map(|w| (w.t_start_s, f(w) as f64 / width)).collect()
    };
    let (goodput, attempts) = (per_s(|w| w.goodput), per_s(|w| w.attempts));
    let depth: Vec<(f64, f64)> = timeline.iter().map(|r| (r.t_start_s, r.queue_depth_mean)).collect();
    let mark = fd.trigger.as_ref().map(|t| plots::Mark { from: t.at_s, to: t.until_s, label: &t.label });
    let svg = plots::marked_time_series_svg(
        &format!("{scenario}: goodput, offered load and queue over time"),
        "per second (window) / requests waiting",
        &[
            TimeSeries { label: "goodput (req/s meeting SLO)", points: &goodput },
            TimeSeries { label: "offered attempts incl. retries (/s)", points: &attempts },
            TimeSeries { label: "queue depth (mean)", points: &depth },
        ],
        mark.as_slice(),
    )?;
    Ok(svg)
}

/// The `## Front door` section of `summary.md`.
pub(super) fn section(o: &mut String, fd: &FrontDoorSummary) {
    let _ = writeln!(o, "## Front door: tenants, gateway, clients\n");
    let _ = writeln!(
        o,
        "| tenant | tier | class | weight share | GPU-s share | requests | attempts | completed | SLO attainment | rate limited | shed / overloaded | preempted | e2e p99 (s) |"
    );
    let _ = writeln!(o, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for t in &fd.tenants {
        let limited = t.rejected.get("rate_limited").copied().unwrap_or(0);
        let overloaded: u64 = t
            .rejected
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "rate_limited" | "withdrawn"))
            .map(|(_, v)| v)
            .sum();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {:.3} | {:.3} | {} | {} | {} | {:.1}% | {limited} | {overloaded} | {} | {:.3} |",
            t.name,
            t.tier,
            t.class,
            t.weight_share,
            t.gpu_share,
            t.requests,
            t.attempts,
            t.completed,
            t.slo_attainment * 100.0,
            t.preempted,
            t.e2e.p99_s
        );
    }
    let _ = writeln!(o, "\n- Jain's index of GPU-seconds per weight: {:.3}", fd.jain_index);
    let _ = writeln!(o, "- goodput {:.3} req/s (requests meeting their tenant's SLO)", fd.goodput_per_s);
    let _ = writeln!(
        o,
        "- attempts {} for {} requests: {} retries, {} denied by the retry budget, {} refused by an open breaker ({} breaker state changes), {} client timeouts, {} answered from the idempotency cache",
        fd.attempts,
        fd.requests,
        fd.retries,
        fd.retries_denied_by_budget,
        fd.breaker_fast_failures,
        fd.breaker_changes.len(),
        fd.timeouts,
        fd.cache_hits
    );
    let _ = writeln!(
        o,
        "- cancelled in the pool {}: {:.1} GPU-s of work wasted; {} preemptions: {:.1} GPU-s redone",
        fd.cancelled_in_pool, fd.wasted_gpu_s, fd.preemptions, fd.preempted_gpu_s
    );
    let degraded: u64 = fd.tenants.iter().map(|t| t.degraded).sum();
    if degraded > 0 {
        let _ = writeln!(
            o,
            "- degraded to the fallback pool: {degraded} requests; {} attempts completed there",
            fd.fallback_completed
        );
    }
    if let Some(t) = &fd.trigger {
        let _ = writeln!(
            o,
            "- {} ({:.0}-{:.0} s): goodput {:.2}/s before, {:.2}/s during, {:.2}/s after; attempts {:.2}/s before, {:.2}/s after: {}",
            t.label,
            t.at_s,
            t.until_s,
            t.goodput_before_per_s,
            t.goodput_during_per_s,
            t.goodput_after_per_s,
            t.attempts_before_per_s,
            t.attempts_after_per_s,
            if t.recovered { "recovered" } else { "**NOT RECOVERED** (metastable)" }
        );
    }
    o.push('\n');
}
