//! Facts a run keeps for checkers beside its report, never written to it:
//! two independent accountings of the same quantities, in integer
//! nanoseconds, so that a checker (`servesim swarm`) can demand they agree
//! exactly instead of within a tolerance.
//!
//! Why kept apart from the summary: these are ledgers, not results. The
//! report says how busy each GPU was (from the driver's step-start and
//! step-end events) and how many requests were in the system (from the
//! levels the driver records after each event); the audit holds what the
//! same run did seen from the other side — each step's modeled duration
//! from its start, each request's own arrival and answer time — and what
//! the KV ledger held when the run ended.

use crate::time::{SimDuration, SimTime};

/// What a run did, for checkers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audit {
    /// Per server (a station's GPU, an LLM replica): nanoseconds of the
    /// measured interval the report counts it busy (its `servers.utilization`
    /// times the span, before rounding). Zero for processor sharing, whose
    /// utilization comes from its level.
    pub busy_ns: Vec<u64>,
    /// Per server: nanoseconds of the measured interval covered by the steps
    /// (batches) it executed, from each one's start and modeled duration,
    /// cut at the run's end. Steps timed by a live executor are not
    /// modeled and not counted.
    pub step_ns: Vec<u64>,
    /// Per LLM replica, at the end of the run (empty for a station).
    pub kv_end: Vec<KvAtEnd>,
    /// The requests as they saw the measured interval.
    pub window: RequestWindow,
}

/// One replica's KV ledger when the run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KvAtEnd {
    /// Blocks in use, cached prefixes included.
    pub used_blocks: u64,
    /// Blocks held by cached prefixes (free to evict when unreferenced).
    pub prefix_blocks: u64,
    /// References to cached prefixes by sequences still holding them.
    pub prefix_refs: u64,
}

impl KvAtEnd {
    /// Blocks held for sequences rather than by the prefix cache: zero once
    /// every sequence has left.
    pub fn sequence_blocks(&self) -> u64 {
        self.used_blocks.saturating_sub(self.prefix_blocks)
    }
}

/// The measured interval from the requests' own timestamps: each request's
/// time in the system `[arrival, answer]` (or `[arrival, end]` while still in
/// flight) cut to the interval. `area_ns` is the area under N(t) over the
/// interval, so mean number in system = `area_ns / span_ns` exactly, and
/// with λ = `requests / span` and W = `area_ns / requests` it is λW.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestWindow {
    /// The measured interval's length.
    pub span_ns: u64,
    /// Requests in the system for part of the interval.
    pub requests: u64,
    /// Σ over requests of their time in the system within the interval.
    pub area_ns: u128,
}

impl RequestWindow {
    /// Adds a request in the system for `ns` of the interval.
    pub(super) fn add(&mut self, ns: u64) {
        if ns > 0 {
            self.requests += 1;
            self.area_ns += u128::from(ns);
        }
    }

    /// Arrival rate λ over the interval, per second.
    pub fn lambda_per_s(&self) -> f64 {
        if self.span_ns == 0 {
            return 0.0;
        }
        self.requests as f64 / (self.span_ns as f64 / 1e9)
    }

    /// Mean time in the system within the interval, W, in seconds.
    pub fn w_s(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        self.area_ns as f64 / 1e9 / self.requests as f64
    }
}

/// Per server, the step in flight (start, modeled duration) and the
/// nanoseconds of the measured interval its finished steps covered.
#[derive(Debug, Clone, Default)]
pub(super) struct StepLedger {
    in_flight: Vec<Option<(SimTime, SimDuration)>>,
    settled: Vec<u64>,
}

impl StepLedger {
    pub(super) fn new(servers: usize) -> Self {
        StepLedger { in_flight: vec![None; servers], settled: vec![0; servers] }
    }

    /// `server` started a step of modeled duration `took` at `at`; the step
    /// before it on that server is settled with `measured` (nanoseconds of
    /// `[from, to]` in the measured interval).
    pub(super) fn started(
        &mut self,
        server: usize,
        at: SimTime,
        took: SimDuration,
        measured: impl Fn(SimTime, SimTime) -> u64,
    ) {
        let Some(slot) = self.in_flight.get_mut(server) else { return };
        if let Some((start, took)) = slot.replace((at, took)) {
            self.settled[server] += measured(start, start + took);
        }
    }

    /// The per-server totals, steps still in flight cut at `end`.
    pub(super) fn finish(self, end: SimTime, measured: impl Fn(SimTime, SimTime) -> u64) -> Vec<u64> {
        self.in_flight
            .into_iter()
            .zip(self.settled)
            .map(|(step, settled)| settled + step.map_or(0, |(start, took)| measured(start, (start + took).min(end))))
            .collect()
    }
}
