//! Markdown table rows shared by the sections of `summary.md`.
//!
//! Why apart: the run's section and the safety section both print latency
//! rows; neither section should depend on the other for it.

use crate::metrics::latency::LatencySummary;
use std::fmt::Write;

/// Seconds as milliseconds, three decimals.
pub(super) fn ms(s: f64) -> String {
    format!("{:.3}", s * 1e3)
}

/// One `| name | count | mean | p50 | p90 | p99 | p99.9 | max |` row, in ms.
pub(super) fn latency_row(out: &mut String, name: &str, l: &LatencySummary) {
    let _ = writeln!(
        out,
        "| {name} | {} | {} | {} | {} | {} | {} | {} |",
        l.count,
        ms(l.mean_s),
        ms(l.p50_s),
        ms(l.p90_s),
        ms(l.p99_s),
        ms(l.p999_s),
        ms(l.max_s)
    );
}
