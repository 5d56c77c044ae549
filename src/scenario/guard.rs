//! Resource guards: the documented limits that keep a valid-looking
//! scenario from running for hours or exhausting memory, checked after
//! parsing and before anything is allocated or simulated.
//!
//! Why limits and not "run it and see": a count of 4294967295 servers
//! aborts on allocation, a rate of 1e15 requests per second or a duration
//! of a million hours runs for days, and the user learns nothing. Each
//! guard is a located error that says what the scenario asks for, the
//! limit, and how to change either. Only the work estimate has an
//! override (`run.allow_large = true`, or `--allow-large`): a large run is
//! legitimate when meant; the count limits are far beyond any real
//! deployment and protect allocations, so they have none.

use super::error::ScenarioError;
use super::locate::Locator;
use super::run::RunConfig;
use crate::time::SimDuration;
use crate::workload::{ArrivalSpec, ArrivalStream};

/// Requests a run may be expected to offer without `run.allow_large`
/// (about a minute of simulation for the LLM driver).
pub const MAX_EXPECTED_REQUESTS: f64 = 20_000_000.0;
/// Rows an explicit `run.window` may give over the run's span; past it
/// at run time (a long drain) windows are merged pairwise instead.
pub const MAX_TIMELINE_ROWS: u64 = crate::metrics::timeline::MAX_ROWS as u64;
/// The longest `run.duration`: half the clock's range (~292 years).
pub const MAX_DURATION: SimDuration = SimDuration(u64::MAX / 2);
/// Limits on counts that size allocations.
pub const MAX_SERVERS: u64 = 100_000;
pub const MAX_REPLICAS: u64 = 10_000;
pub const MAX_BLOCK_TOKENS: u64 = 65_536;
pub const MAX_NODES: u64 = 1_000_000;
pub const MAX_REPLICATIONS: u64 = 10_000;
/// The largest gap scv of gamma arrivals (beyond it the sampler's gaps
/// are all but zero or all but infinite).
pub const MAX_SCV: f64 = 1e4;
/// The largest token count a size distribution may ask for.
pub const MAX_TOKENS: f64 = 10_000_000.0;
/// The slowest disaggregation link (1 MB/s; real links are 1e9 to 1e12).
pub const MIN_LINK_BYTES_PER_S: f64 = 1e6;

/// A count at `key` within `1..=max`, or a located error naming the limit.
pub fn count(loc: &Locator, key: &str, value: u64, max: u64, hint: &str) -> Result<(), ScenarioError> {
    if value <= max {
        return Ok(());
    }
    Err(loc.error(key, format!("expected an integer in 1..={max}, got {value}"), hint))
}

/// The run's own limits: a duration the clock can hold, a timeline of at
/// most [`MAX_TIMELINE_ROWS`], and (unless `allow_large`) an expected
/// amount of work within [`MAX_EXPECTED_REQUESTS`].
pub(super) fn run(
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
