//! The `fleet.performability` section of `summary.json`: a long run with
//! random failures, as the performability method measures it (see
//! `sim/fleet/performability.rs` for the method and why).
//!
//! Why expected counts, not integers: requests are counted as the sum over
//! capacity levels of the time spent at a level times the rate and the
//! within-SLO fraction measured at that level, so `offered`, `within_slo`
//! and `failed_in_flight` are expectations given the drawn failures, not
//! the tally of one request-by-request run.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PerformabilitySummary {
    /// The measured interval the failures are drawn over (run.warmup to
    /// run.duration), hours.
    pub horizon_h: f64,
    /// Each capacity level's request-level run, after the warm-up, seconds.
    pub level_run_s: f64,
    /// Request-level runs made (the most capacity levels any pool reached).
    pub level_runs: u32,
    /// Requests answered within every SLO target / requests offered.
    pub availability: f64,
    /// Expected requests offered over the horizon.
    pub offered: f64,
    /// Expected requests answered within every SLO target.
    pub within_slo: f64,
    /// Expected requests held by replicas when they failed (answered `failed`).
    pub failed_in_flight: f64,
    /// GPU-hours of the fleet over the horizon.
    pub gpu_hours: f64,
    /// GPU-hours GPUs were down (their own failure or their node's or rack's).
    pub gpu_hours_failed: f64,
    /// GPU-hours of capacity lost: every GPU of a replica that is down,
    /// working or not (a TP-8 replica with one failed GPU idles all 8).
    pub gpu_hours_lost: f64,
    pub failures: FailureCounts,
    /// In the scenario's order (region by region).
    pub pools: Vec<PoolPerformability>,
}

/// Failures drawn over the horizon: down intervals starting inside it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Default)]
pub struct FailureCounts {
    pub gpus: u64,
    pub nodes: u64,
    pub racks: u64,
    /// Replicas going down (a node failure counts once per replica on it).
    pub replicas: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PoolPerformability {
    pub region: String,
    pub model: String,
    pub replicas: u32,
    pub tp: u32,
    /// Within SLO / offered for this pool's requests.
    pub availability: f64,
    pub offered: f64,
    pub within_slo: f64,
    pub failed_in_flight: f64,
    /// Time-average and least replicas up over the horizon.
    pub mean_replicas_up: f64,
    pub min_replicas_up: u32,
    /// Hours with fewer than N - k replicas up, for k = 0, 1, 2, 3 (N the
    /// pool's replicas): `[0]` is the time below full strength.
    pub hours_below_n_minus_k: Vec<f64>,
    pub gpu_hours_failed: f64,
    pub gpu_hours_lost: f64,
    pub failures: FailureCounts,
    /// Each number of replicas up the failures reached, most first.
    pub levels: Vec<CapacityLevel>,
}

/// One capacity level of a pool and what its request-level run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CapacityLevel {
    pub replicas_up: u32,
    /// Time spent at this level over the horizon.
    pub hours: f64,
    /// Requests routed to the pool per second (measured).
    pub offered_per_s: f64,
    /// Of those, the fraction answered within every SLO target (measured).
    pub within_slo_fraction: f64,
    /// Time-average requests held per replica up (measured): what a
    /// replica failing at a random instant fails.
    pub in_flight_per_replica: f64,
    /// Replicas that failed while the pool was at this level.
    pub replicas_failed: u64,
}
