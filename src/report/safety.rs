//! The safety pipeline's part of the report: its `summary.md` section, the
//! safety timeline plot (outages shaded as a "classifier down" line) and
//! the JSONL audit log.
//!
//! Why the fail-open banner: a what-if run that let unchecked tokens
//! through must never be mistaken for a safe configuration, so its count
//! opens the section, in red.

use super::plots::{self, TimeSeries};
use super::table::latency_row;
use super::ReportError;
use crate::metrics::safety::{SafetyRecorded, SafetySummary};
use std::fmt::Write;

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The `summary.md` section.
pub fn markdown(o: &mut String, s: &SafetySummary) {
    let _ = writeln!(o, "## Safety pipeline\n");
    if s.fail_open {
        let _ = writeln!(
            o,
            "<span style=\"color:red\">**FAIL-OPEN what-if: {} tokens were delivered without passing the output check, \
             and {} requests were let in unchecked. Not a safe configuration.**</span>\n",
            s.unchecked_tokens_delivered, s.unchecked_inputs
        );
    }
    let mode = match s.chunk_tokens {
        Some(n) => format!("streaming, chunks of {n} tokens"),
        None => "whole response".into(),
    };
    let _ = writeln!(
        o,
        "Input: pass < {}, block >= {}; output ({mode}): flag >= {}; checks fail {}.\n",
        s.input_pass_threshold,
        s.input_block_threshold,
        s.output_block_threshold,
        if s.fail_open { "open (what-if)" } else { "closed" }
    );
    let _ = writeln!(
        o,
        "| (ms) | count | mean | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    latency_row(o, "input safety latency (SLI)", &s.input_latency);
    latency_row(o, "TTFT added (hold-back + checks)", &s.ttft_added);
    latency_row(o, "output added after generation", &s.output_added_latency);
    if let Some(slo) = &s.latency_slo {
        let verdict = if slo.met { "met" } else { "**MISSED**" };
        let _ = writeln!(
            o,
            "\nSafety latency SLO: p99 {:.3} ms against {:.3} ms: {verdict}.",
            slo.actual_p99_s * 1e3,
            slo.target_p99_s * 1e3
        );
    }
    let _ = writeln!(
        o,
        "\n| class | offered | rules | input block | escalated | escalation block | review block | output flagged | completed | refused | unavailable | pass rate | block rate |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, c) in &s.by_class {
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.offered,
            c.rule_blocked,
            c.input_blocked,
            c.escalated,
            c.escalation_blocked,
            c.review_blocked,
            c.output_flagged,
            c.completed,
            c.refused,
            c.safety_unavailable,
            pct(c.pass_rate),
            pct(c.block_rate)
        );
    }
    let _ = writeln!(
        o,
        "\n- false positives (benign refused): {} ({}); false negatives (harmful completed): {} ({})",
        s.false_positives,
        pct(s.false_positive_rate),
        s.false_negatives,
        pct(s.false_negative_rate)
    );
    let _ = writeln!(
        o,
        "- early stops: {} streams, {} tokens not generated; GPU time saved (est.): {:.3} s by input blocking, {:.3} s by early stops",
        s.early_stops, s.tokens_not_generated_by_early_stops, s.gpu_s_saved_by_input_blocking, s.gpu_s_saved_by_early_stops
    );
    if let Some(r) = &s.review {
        let _ = writeln!(
            o,
            "- human review: {} reviewers, {} reviews, wait p50 {:.3} s / p99 {:.3} s, backlog mean {:.2}, max {}",
            r.reviewers, r.reviews, r.wait.p50_s, r.wait.p99_s, r.backlog_mean, r.backlog_max
        );
    }
    for o_ in &s.outages {
        let _ = writeln!(o, "- outage: `{}` down from {:.3} s to {:.3} s", o_.classifier, o_.start_s, o_.end_s);
    }
    let _ = writeln!(o, "\n| classifier | servers | max batch | batches | checks | mean batch | utilization | failed checks |\n|---|---:|---:|---:|---:|---:|---:|---:|");
    for c in &s.classifiers {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} |",
            c.name,
            c.servers,
            c.max_batch,
            c.batches,
            c.checks,
            c.mean_batch,
            pct(c.utilization),
            c.failed_checks
        );
    }
    o.push('\n');
}

/// The Checks line of the invariant.
pub fn check_line(o: &mut String, s: &SafetySummary) {
    let verdict = match (s.unchecked_tokens_delivered, s.fail_open) {
        (0, _) => "holds".to_string(),
        (n, true) => format!("<span style=\"color:red\">**{n} unchecked tokens delivered (fail-open what-if)**</span>"),
        (_, false) => "**VIOLATED**".to_string(),
    };
    let _ = writeln!(
        o,
        "- no token delivered without passing the output check ({} unchecked): {verdict}",
        s.unchecked_tokens_delivered
    );
}

/// `safety_timeline.svg` and, when asked for, `audit.jsonl`.
pub fn files(
    scenario: &str,
    summary: &SafetySummary,
    r: &SafetyRecorded,
) -> Result<Vec<(&'static str, Vec<u8>)>, ReportError> {
    let w = r.width.as_secs_f64();
    let series = |f: fn(&crate::metrics::safety::SafetyWindow) -> u64| -> Vec<(f64, f64)> {
        r.windows.iter().enumerate().map(|(i, x)| (i as f64 * w, f(x) as f64)).collect()
    };
    let (completed, refused, unavailable) = (series(|x| x.completed), series(|x| x.refused), series(|x| x.unavailable));
    let top = completed.iter().chain(&refused).chain(&unavailable).fold(1.0f64, |m, p| m.max(p.1));
    let down: Vec<(f64, f64)> = (0..r.windows.len())
        .map(|i| {
            let (a, b) = (i as f64 * w, (i + 1) as f64 * w);
            let hit = summary.outages.iter().any(|o| o.start_s < b && a < o.end_s);
            (a, if hit { top } else { 0.0 })
        })
        .collect();
    let mut lines = vec![
        TimeSeries { label: "completed", points: &completed },
        TimeSeries { label: "refused", points: &refused },
        TimeSeries { label: "safety_unavailable", points: &unavailable },
    ];
    if !summary.outages.is_empty() {
        lines.push(TimeSeries { label: "classifier down", points: &down });
    }
    let svg = plots::time_series_svg(&format!("{scenario}: safety outcomes over time"), "answers per window", &lines)?;
    let mut files = vec![("safety_timeline.svg", svg.into_bytes())];
    if let Some(audit) = &r.audit {
        files.push(("audit.jsonl", audit.clone().into_bytes()));
    }
    Ok(files)
}
