//! `[workload]`'s arrivals: a renewal process (poisson, deterministic,
//! gamma; with a rate schedule) or a trace replay, whose keys exclude each
//! other (`scv` only with gamma, `time_scale` only with a trace); or
//! closed-loop clients (`workload.clients`), which replace them. Tenants'
//! arrivals are resolved with the front door.

use super::check::{forbid, load_trace, renewal};
use super::error::ScenarioError;
use super::locate::Locator;
use super::schema::{ArrivalKind, ClientStart, ClientsSpec, WorkloadSection};
use crate::time::SimDuration;
use crate::workload::closed_loop::ClosedLoopSpec;
use crate::workload::ArrivalSpec;
use std::path::Path;
use std::sync::Arc;

/// The arrival process `[workload]` describes (a scenario without tenants).
pub(super) fn arrivals(w: &WorkloadSection, path: &Path, loc: &Locator) -> Result<ArrivalSpec, ScenarioError> {
    if let Some(c) = &w.clients {
        return closed_loop(w, c, loc).map(ArrivalSpec::ClosedLoop);
    }
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

/// `workload.clients`: closed-loop clients replace every arrival key and
/// conversations; `concurrency` is required and every count is >= 1.
fn closed_loop(w: &WorkloadSection, c: &ClientsSpec, loc: &Locator) -> Result<ClosedLoopSpec, ScenarioError> {
    let why = "closed-loop clients send when answers arrive, not on an arrival clock";
    forbid(loc, "workload.arrival", &w.arrival, why)?;
    forbid(loc, "workload.rate_per_s", &w.rate_per_s, why)?;
    forbid(loc, "workload.scv", &w.scv, why)?;
    forbid(loc, "workload.trace", &w.trace, why)?;
    forbid(loc, "workload.time_scale", &w.time_scale, why)?;
    forbid(loc, "workload.conversations", &w.conversations, "closed-loop clients send single-turn requests")?;
    if !w.schedule.is_empty() {
        return Err(loc.error("workload.schedule", format!("not allowed here: {why}"), "remove the schedule"));
    }
    let key = "workload.clients";
    let example = "e.g. clients = { concurrency = 16, requests_per_client = 10 }";
    let concurrency = match c.concurrency {
        Some(0) => return Err(loc.error(&format!("{key}.concurrency"), "expected an integer >= 1, got 0", example)),
        Some(n) => n,
        None => return Err(loc.error(key, "missing `concurrency`: how many clients send at once", example)),
    };
    let requests_per_client = c.requests_per_client.unwrap_or(10);
    if requests_per_client == 0 {
        return Err(loc.error(
            &format!("{key}.requests_per_client"),
            "expected an integer >= 1, got 0",
            "a benchmark's num_prompts / concurrency; 10 is the default",
        ));
    }
    let ramp = match c.start {
        None | Some(ClientStart::Named(_)) => SimDuration::ZERO,
        Some(ClientStart::Ramp(r)) => r.ramp,
    };
    Ok(ClosedLoopSpec {
        concurrency,
        requests_per_client,
        think_time: c.think_time.unwrap_or_default(),
        ramp,
        warmup_requests: c.warmup_requests.unwrap_or(0),
    })
}
