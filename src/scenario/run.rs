//! `[run]` and `[validation]`: when arrivals stop, what is measured, and
//! how `servesim validate` replicates. A run must end: a duration, a
//! request cap, a trace that runs out, or closed-loop clients' last answer.

use super::error::ScenarioError;
use super::locate::Locator;
use super::schema::{RunSection, ValidationSection};
use crate::time::SimDuration;
use crate::workload::ArrivalSpec;

/// When arrivals stop and what is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    pub duration: Option<SimDuration>,
    pub max_requests: Option<u64>,
    pub warmup: SimDuration,
    /// End of the measured interval (None: the end of the run). Set by
    /// replications so the run's tail (a last partial batch, the drain)
    /// does not bias the measurement.
    pub measure_until: Option<SimDuration>,
    pub drain: bool,
    pub window: Option<SimDuration>,
    /// A cap on the events a run handles (None from a scenario file):
    /// `servesim swarm` sets one so a livelock ends as a failure, not a hang.
    pub max_events: Option<u64>,
}

/// Replication settings for `servesim validate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationConfig {
    pub replications: u32,
    pub requests: u64,
    pub warmup_requests: u64,
}

/// `[run]`: a run that ends (a duration, a request cap, or a trace) with
/// positive durations and counts.
pub(super) fn run(r: &RunSection, arrivals: &ArrivalSpec, loc: &Locator) -> Result<RunConfig, ScenarioError> {
    if r.duration == Some(SimDuration::ZERO) {
        return Err(loc.error("run.duration", "expected a duration > 0", "e.g. duration = \"10m\""));
    }
    if r.max_requests == Some(0) {
        return Err(loc.error("run.max_requests", "expected an integer >= 1", ""));
    }
    if r.window == Some(SimDuration::ZERO) {
        return Err(loc.error("run.window", "expected a duration > 0", "e.g. window = \"1s\"; omit for automatic"));
    }
    if matches!(arrivals, ArrivalSpec::ClosedLoop(_)) {
        closed_loop_run(r, loc)?;
    }
    let is_trace = matches!(arrivals, ArrivalSpec::Trace { .. });
    let ends = is_trace || matches!(arrivals, ArrivalSpec::ClosedLoop(_));
    if r.duration.is_none() && r.max_requests.is_none() && !ends {
        return Err(loc.error(
            "run.duration",
            "missing: arrivals would never stop",
            "set run.duration (e.g. \"10m\") or run.max_requests",
        ));
    }
    if r.drain == Some(false) && r.duration.is_none() {
        return Err(loc.error(
            "run.drain",
            "`drain = false` stops the run at run.duration, which is not set",
            "set run.duration, or remove drain to run until every request finishes",
        ));
    }
    Ok(RunConfig {
        duration: r.duration,
        max_requests: r.max_requests,
        warmup: r.warmup.unwrap_or_default(),
        measure_until: None,
        drain: r.drain.unwrap_or(true),
        window: r.window,
        max_events: None,
    })
}

/// Closed-loop clients end the run themselves (when their requests are all
/// answered) and measure after their own warm-up.
fn closed_loop_run(r: &RunSection, loc: &Locator) -> Result<(), ScenarioError> {
    let hint = "closed-loop clients send workload.clients.requests_per_client each, and the run ends when all are \
                answered; remove the key";
    forbid_with(loc, "run.duration", r.duration.is_some(), hint)?;
    forbid_with(loc, "run.max_requests", r.max_requests.is_some(), hint)?;
    forbid_with(loc, "run.drain", r.drain.is_some(), hint)?;
    forbid_with(
        loc,
        "run.warmup",
        r.warmup.is_some(),
        "closed-loop clients warm up by request count: use workload.clients.warmup_requests",
    )
}

fn forbid_with(loc: &Locator, key: &str, set: bool, hint: &str) -> Result<(), ScenarioError> {
    match set {
        true => Err(loc.error(key, "not allowed with workload.clients", hint)),
        false => Ok(()),
    }
}

/// `[validation]`: at least 2 replications of at least 1 request each.
pub(super) fn validation(v: &ValidationSection, loc: &Locator) -> Result<ValidationConfig, ScenarioError> {
    let validation = ValidationConfig {
        replications: v.replications.unwrap_or(20),
        requests: v.requests.unwrap_or(50_000),
        warmup_requests: v.warmup_requests.unwrap_or(5_000),
    };
    if validation.replications < 2 {
        return Err(loc.error(
            "validation.replications",
            "expected at least 2 replications",
            "a confidence interval needs >= 2 independent runs; 20 is typical",
        ));
    }
    if validation.requests == 0 {
        return Err(loc.error("validation.requests", "expected at least 1 request per replication", ""));
    }
    if validation.warmup_requests > validation.requests {
        return Err(loc.error(
            "validation.warmup_requests",
            format!(
                "expected at most validation.requests ({}), got {}",
                validation.requests, validation.warmup_requests
            ),
            "the warm-up discards the start of each replication; 10% of the requests is typical",
        ));
    }
    super::guard::count(
        loc,
        "validation.replications",
        u64::from(validation.replications),
        super::guard::MAX_REPLICATIONS,
        "20 replications give a tight interval",
    )?;
    Ok(validation)
}
