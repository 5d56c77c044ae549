//! The `summary.json` document. Its schema is stable and documented field by
//! field in `docs/reference/summary-json.md`; add fields, never rename them, and bump
//! `schema_version` when a meaning changes. Maps are `BTreeMap`s and floats
//! are printed by serde_json's shortest round-trip formatter, so the bytes
//! depend only on the scenario and seed.

use super::latency::LatencySummary;
use serde::Serialize;
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    pub schema_version: u32,
    pub scenario: String,
    pub seed: u64,
    /// "sim" for the virtual-clock driver.
    pub backend: String,
    pub run: RunInfo,
    pub requests: RequestCounts,
    pub latency: Latencies,
    pub throughput: Throughput,
    pub servers: ServerStats,
    pub batching: BatchStats,
    pub queue: QueueStats,
    pub littles_law: LittlesLaw,
    pub invariants: Invariants,
    /// Token-level metrics, SLO verdicts and cost (LLM serving only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<super::llm::LlmSummary>,
    /// The safety pipeline (scenarios with a `[safety]` table only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety: Option<super::safety::SafetySummary>,
    /// Tenants, gateway and clients (scenarios with `[[tenants]]` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontdoor: Option<super::frontdoor::FrontDoorSummary>,
    /// Pools by region and model, and cross-region traffic (fleets only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<super::fleet::FleetSummary>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunInfo {
    /// Simulated time when the run ended (last event), seconds.
    pub end_s: f64,
    /// Start of the measured interval (the warm-up), seconds.
    pub measure_start_s: f64,
    /// Length of the measured interval, seconds.
    pub measure_span_s: f64,
    /// Events the engine processed.
    pub events: u64,
    /// Whether arrivals stopped and the station emptied before the end.
    pub drained: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestCounts {
    /// Every request that arrived, warm-up included.
    pub offered: u64,
    /// Terminal outcomes of all offered requests, by outcome name.
    pub by_outcome: BTreeMap<String, u64>,
    /// Requests still queued or running when the run stopped (drain = false).
    pub in_flight_at_end: u64,
    /// Requests that arrived after the warm-up (the measured population).
    pub measured: u64,
    /// Outcomes of the measured requests, by outcome name.
    pub measured_by_outcome: BTreeMap<String, u64>,
    /// Sum of prompt / output tokens of offered requests (trace workloads).
    pub prompt_tokens: u64,
    pub output_tokens: u64,
}

/// Latencies of measured, completed requests, in seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latencies {
    /// Arrival to batch start.
    pub queue_wait: LatencySummary,
    /// Batch start to response.
    pub service: LatencySummary,
    /// Arrival to response.
    pub end_to_end: LatencySummary,
    /// Fraction of measured completed requests that waited at all.
    pub waited_fraction: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Throughput {
    /// Measured arrivals per second while arrivals lasted (from the warm-up
    /// to the run's duration, or to the last arrival).
    pub offered_per_s: f64,
    /// Measured completions per second of the measured interval.
    pub completed_per_s: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ServerStats {
    pub count: u32,
    /// Mean fraction of time the GPUs were busy over the measured interval.
    pub utilization_mean: f64,
    /// Per GPU, in index order.
    pub utilization: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchStats {
    /// Batches started in the measured interval.
    pub batches: u64,
    pub mean_size: f64,
    /// `(size, count)` for every size that occurred, ascending.
    pub size_histogram: Vec<SizeCount>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SizeCount {
    pub size: u32,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueueStats {
    /// Time-average number of waiting requests over the measured interval.
    pub depth_mean: f64,
    pub depth_max: u64,
    /// Time-average number in system (waiting + in service), measured interval.
    pub in_system_mean: f64,
}

/// L = λW over the whole run [0, end] (all admitted requests, warm-up
/// included; requests still in flight count with their sojourn so far): both
/// sides count the same requests over the same interval, so they agree to
/// rounding; a gap means the time-average and per-request bookkeeping differ.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LittlesLaw {
    /// Time-average number of admitted requests in the system.
    pub l: f64,
    /// Admitted requests per second.
    pub lambda_per_s: f64,
    /// Mean time in system of admitted requests, seconds.
    pub w_s: f64,
    pub lambda_w: f64,
    pub relative_error: f64,
    /// relative_error <= 1e-6.
    pub holds: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Invariants {
    /// offered == sum(by_outcome) + in_flight_at_end, and no request
    /// received two outcomes.
    pub every_request_one_outcome: bool,
    pub terminal_outcomes: u64,
    /// Outcomes delivered for a request that already had one (must be 0).
    pub duplicate_outcomes: u64,
    /// Requests without an outcome in a drained run (must be 0).
    pub lost: u64,
    /// Events scheduled before the current time (must be 0).
    pub events_in_past: u64,
    pub all_hold: bool,
}
