//! Replaying a measured run: its arrivals and lengths through the engine
//! configuration of a scenario, and the simulated TTFT, TPOT and latency
//! distributions against the measured ones
//! (`servesim fidelity SCENARIO --measured RUN.csv`).
//!
//! Why a replay and not only the closed-loop benchmarks: a benchmark row
//! is one mean per shape; a production-like run has mixed lengths, bursts
//! and queues, and a planner reads its tails. The replay sends each
//! request when the measured client sent it (open loop: the send times are
//! what they were, whatever the simulated server does), so the difference
//! is the model's. Both sides go through the same statistics
//! ([`LatencyStat`]: exact mean, HDR percentiles), so a percentile differs
//! only where the latencies do.

use crate::live::fidelity::{compare_latencies, latencies, Row};
use crate::metrics::latency::{LatencyStat, LatencySummary};
use crate::metrics::Summary;
use crate::workload::measured::MeasuredRequest;

/// The measured side: one distribution per latency, named like
/// [`latencies`] names a summary's.
pub struct Measured {
    pub ttft: LatencyStat,
    pub tpot: LatencyStat,
    pub e2e: LatencyStat,
}

impl Measured {
    /// The run's requests as distributions (nanoseconds, rounded).
    pub fn of(run: &[MeasuredRequest]) -> Measured {
        let ns = |s: f64| (s * 1e9).round() as u64;
        let mut m = Measured { ttft: LatencyStat::new(), tpot: LatencyStat::new(), e2e: LatencyStat::new() };
        for r in run {
            m.ttft.record(ns(r.ttft_s));
            m.e2e.record(ns(r.latency_s));
            if let Some(t) = r.tpot_s {
                m.tpot.record(ns(t));
            }
        }
        m
    }

    fn summaries(&self) -> [(&'static str, LatencySummary); 3] {
        [("ttft", self.ttft.summary()), ("tpot", self.tpot.summary()), ("e2e", self.e2e.summary())]
    }
}

/// Each latency at mean/p50/p90/p99, measured against simulated, then
/// the completed requests (the replay offers exactly the measured ones, so
/// fewer simulated completions mean the simulated server refused or
/// dropped some).
pub fn compare(measured: &Measured, sim: &Summary) -> Vec<Row> {
    let mut rows = compare_latencies(measured.summaries(), latencies(sim));
    let completed = sim.requests.by_outcome.get("completed").copied().unwrap_or(0);
    rows.push(Row::new("completed".into(), measured.e2e.count() as f64, completed as f64));
    rows
}
