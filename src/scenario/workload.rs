//! `[workload]`'s arrivals: a renewal process (poisson, deterministic,
//! gamma; with a rate schedule) or a trace replay, whose keys exclude each
//! other (`scv` only with gamma, `time_scale` only with a trace). Tenants'
//! arrivals are resolved with the front door.

use super::check::{forbid, load_trace, renewal};
use super::error::ScenarioError;
use super::locate::Locator;
use super::schema::{ArrivalKind, WorkloadSection};
use crate::workload::ArrivalSpec;
use std::path::Path;
use std::sync::Arc;

/// The arrival process `[workload]` describes (a scenario without tenants).
pub(super) fn arrivals(w: &WorkloadSection, path: &Path, loc: &Locator) -> Result<ArrivalSpec, ScenarioError> {
    let kind = w.arrival.unwrap_or_default();
    if kind == ArrivalKind::Trace {
        forbid(
            loc,
            "workload.rate_per_s",
            &w.rate_per_s,
            "a trace sets its own arrival times (use time_scale to speed it up)",
        )?;
        forbid(loc, "workload.scv", &w.scv, "scv is for gamma arrivals")?;
        if !w.schedule.is_empty() {
            return Err(loc.error(
                "workload.schedule",
                "not allowed with a trace",
                "use time_scale to replay faster or slower",
            ));
        }
        let Some(trace) = &w.trace else {
            return Err(loc.error(
                "workload.trace",
                "missing: `arrival = \"trace\"` needs a trace file",
                "e.g. trace = \"../../shared/data/azure-llm-2023/code.csv\"",
            ));
        };
        let time_scale = w.time_scale.unwrap_or(1.0);
        if !(time_scale.is_finite() && time_scale > 0.0) {
            return Err(loc.error(
                "workload.time_scale",
                format!("expected a number > 0, got {time_scale}"),
                "2.0 replays twice as fast",
            ));
        }
        let records = load_trace(trace, path, loc, "workload.trace")?;
        return Ok(ArrivalSpec::Trace { records: Arc::new(records), time_scale });
    }
    forbid(loc, "workload.trace", &w.trace, "only `arrival = \"trace\"` reads a trace")?;
    forbid(loc, "workload.time_scale", &w.time_scale, "only trace replay has a time scale")?;
    renewal(loc, "workload", kind, w.rate_per_s, w.scv, &w.schedule)
}
