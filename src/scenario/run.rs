//! `[run]` and `[validation]`: when arrivals stop, what is measured, and
//! how `servesim validate` replicates. A run must end: a duration, a
//! request cap, a trace that runs out, or closed-loop clients' last answer.

use super::error::ScenarioError;
use super::guard::{self, MAX_DURATION, MAX_EXPECTED_REQUESTS, MAX_TIMELINE_ROWS};
use super::locate::Locator;
use super::schema::{RunSection, ValidationSection};
use crate::time::SimDuration;
use crate::workload::{ArrivalSpec, ArrivalStream};

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
        return Err(loc.error("run.max_requests", "expected an integer >= 1", "e.g. max_requests = 10000, or omit it"));
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
        return Err(loc.error(
            "validation.requests",
            "expected at least 1 request per replication",
            "e.g. requests = 20000",
        ));
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
    guard::count(
        loc,
        "validation.replications",
        u64::from(validation.replications),
        guard::MAX_REPLICATIONS,
        "20 replications give a tight interval",
    )?;
    Ok(validation)
}

/// The run's own limits: a duration the clock can hold, a timeline of at
/// most [`MAX_TIMELINE_ROWS`], and (unless `allow_large`) an expected
/// amount of work within [`MAX_EXPECTED_REQUESTS`].
pub(super) fn check_limits(
    run: &RunConfig,
    arrivals: &ArrivalSpec,
    allow_large: bool,
    loc: &Locator,
) -> Result<(), ScenarioError> {
    if run.duration.is_some_and(|d| d >= MAX_DURATION) {
        return Err(loc.error(
            "run.duration",
            "longer than the simulator's clock holds (about 292 years)",
            "use a duration of hours or days, e.g. duration = \"1h\"",
        ));
    }
    if let Some(d) = run.duration.filter(|&d| run.warmup >= d) {
        return Err(loc.error(
            "run.warmup",
            format!("the warm-up ({}) is not shorter than run.duration ({d}): nothing would be measured", run.warmup),
            "shorten run.warmup or lengthen run.duration",
        ));
    }
    let horizon_s = match arrivals {
        ArrivalSpec::Trace { records, time_scale } => {
            records.last().map_or(0.0, |r| r.offset_ns as f64 / 1e9) / time_scale
        }
        ArrivalSpec::Renewal { .. } => run.duration.map_or(0.0, |d| d.as_secs_f64()),
        // A closed loop's length is not known before it runs; the
        // timeline's row cap bounds it at run time.
        ArrivalSpec::ClosedLoop(_) => 0.0,
    };
    let horizon_s = run.duration.map_or(horizon_s, |d| horizon_s.min(d.as_secs_f64()));
    if let Some(w) = run.window {
        let rows = horizon_s / w.as_secs_f64();
        if rows > MAX_TIMELINE_ROWS as f64 {
            return Err(loc.error(
                "run.window",
                format!("gives {rows:.3e} timeline rows over the run's {horizon_s} s, more than {MAX_TIMELINE_ROWS}"),
                format!(
                    "use a window of at least {:.3e} s, or omit run.window for about 100 rows",
                    horizon_s / MAX_TIMELINE_ROWS as f64
                ),
            ));
        }
    }
    if allow_large {
        return Ok(());
    }
    if let ArrivalSpec::ClosedLoop(clients) = arrivals {
        let expected = f64::from(clients.concurrency) * f64::from(clients.requests_per_client);
        if expected > MAX_EXPECTED_REQUESTS {
            return Err(loc.error(
                "workload.clients.requests_per_client",
                format!(
                    "the clients would send {expected:.3e} requests, more than the {MAX_EXPECTED_REQUESTS:.0e} a run \
                     may offer unless it allows large runs"
                ),
                "lower workload.clients.concurrency or requests_per_client; to run it anyway pass --allow-large or \
                 set run.allow_large = true",
            ));
        }
        return Ok(());
    }
    let ArrivalSpec::Renewal { .. } = arrivals else { return Ok(()) };
    let by_time =
        run.duration.map_or(f64::INFINITY, |d| ArrivalStream::mean_rate(arrivals, d.as_secs_f64()) * d.as_secs_f64());
    let by_count = run.max_requests.map_or(f64::INFINITY, |m| m as f64);
    let (expected, key) = if by_count <= by_time { (by_count, "run.max_requests") } else { (by_time, "run.duration") };
    if expected > MAX_EXPECTED_REQUESTS {
        return Err(loc.error(
            key,
            format!(
                "the run would offer about {expected:.3e} requests, more than the {MAX_EXPECTED_REQUESTS:.0e} a run \
                 may offer unless it allows large runs"
            ),
            "lower the rate, run.duration or run.max_requests; to run it anyway pass --allow-large or set \
             run.allow_large = true",
        ));
    }
    Ok(())
}
