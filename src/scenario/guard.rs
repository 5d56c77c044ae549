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
use crate::time::SimDuration;

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
