//! A fleet's requests broken down by where they were served, where their
//! users are and which model they asked for: offered, outcomes, answers
//! within SLO (availability), goodput, TTFT/TPOT, GPU-hours and cost.
//!
//! Which requests: those arriving in the measured interval (as
//! `requests.measured`), each counted once in every view. "Within SLO" is
//! what goodput counts: a completed request whose own TTFT, TPOT and
//! end-to-end latency are each within the `[slo]` target set for it (a p99
//! target read as a per-request bound; an unset target always holds); a
//! request answered any other way (`failed`, `overloaded`) is not, and
//! neither is one still unanswered at the end. Availability is answers
//! within SLO over offered requests.
//!
//! Why dense tables: the views are fixed by the scenario (pools; users'
//! region x model), so each request's cells are indices resolved when it
//! arrives, and recording an answer is O(1) — a counter and two histogram
//! records per view, never a lookup by name. The only per-request state is
//! the users' cell of each request in flight, by id. Rows per region or per
//! model are sums of cells at the end (histograms merged).

use super::latency::{LatencyStat, LatencySummary};
use super::llm::{RequestLatency, Slo};
use crate::core::llm::Served;
use crate::core::{IdMap, Outcome, RequestId};
use crate::time::SimTime;
use serde::Serialize;

/// One group of requests (the fleet, a region, a model), as reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetGroupSummary {
    /// The region or model; "fleet" for the whole fleet.
    pub name: String,
    /// Measured requests offered (for a serving region: routed there).
    pub offered: u64,
    pub completed: u64,
    /// Answered `failed` (their replica failed under them).
    pub failed: u64,
    /// Refused otherwise (`overloaded`: a full queue).
    pub refused: u64,
    /// Without an answer when the run stopped.
    pub in_flight_at_end: u64,
    /// Without an answer in a run that drained: must be 0.
    pub lost: u64,
    /// Completed within every SLO target set.
    pub within_slo: u64,
    /// within_slo / offered (0 when nothing was offered).
    pub availability: f64,
    /// within_slo per second of the measured interval.
    pub goodput_per_s: f64,
    /// As their users saw them (a crossing's RTT included).
    pub ttft: LatencySummary,
    pub tpot: LatencySummary,
    /// The pools serving the group (absent for users' regions, which own
    /// no GPUs): their GPU-hours and cost over the measured interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_hours: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
}

/// One cell's running counts.
#[derive(Debug, Clone, Default)]
struct Tally {
    offered: u64,
    completed: u64,
    failed: u64,
    refused: u64,
    within_slo: u64,
    ttft: LatencyStat,
    tpot: LatencyStat,
}

impl Tally {
    fn answer(&mut self, outcome: Outcome, latency: Option<&RequestLatency>, within: bool) {
        match outcome {
            Outcome::Completed => self.completed += 1,
            Outcome::Failed => self.failed += 1,
            _ => self.refused += 1,
        }
        if let Some(l) = latency {
            self.ttft.record(l.ttft.0);
            if let Some(tpot) = l.tpot {
                self.tpot.record(tpot.0);
            }
        }
        self.within_slo += u64::from(within);
    }

    fn add(&mut self, other: &Tally) {
        self.offered += other.offered;
        self.completed += other.completed;
        self.failed += other.failed;
        self.refused += other.refused;
        self.within_slo += other.within_slo;
        self.ttft.add(&other.ttft);
        self.tpot.add(&other.tpot);
    }

    fn summary(&self, name: String, span_s: f64, drained: bool, cost: Option<(f64, f64)>) -> FleetGroupSummary {
        let unanswered = self.offered - self.completed - self.failed - self.refused;
        FleetGroupSummary {
            name,
            offered: self.offered,
            completed: self.completed,
            failed: self.failed,
            refused: self.refused,
            in_flight_at_end: unanswered,
            lost: if drained { unanswered } else { 0 },
            within_slo: self.within_slo,
            availability: if self.offered > 0 { self.within_slo as f64 / self.offered as f64 } else { 0.0 },
            goodput_per_s: if span_s > 0.0 { self.within_slo as f64 / span_s } else { 0.0 },
            ttft: self.ttft.summary(),
            tpot: self.tpot.summary(),
            gpu_hours: cost.map(|c| c.0),
            usd: cost.map(|c| c.1),
        }
    }
}

/// A measured request's answer, as the SLO windows count it.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub within_slo: bool,
    pub failed: bool,
}

/// The running breakdown of a fleet run.
pub struct FleetBreakdown {
    /// The fleet's regions and models, by name, in the scenario's order.
    regions: Vec<String>,
    model_names: Vec<String>,
    models: usize,
    /// Each pool's (region, model).
    layout: Vec<(usize, usize)>,
    /// Per pool (its serving region and model).
    pools: Vec<Tally>,
    /// Per `users' region * models + model`.
    users: Vec<Tally>,
    /// The users' cell of each measured request without an answer yet.
    in_flight: IdMap<u32>,
}

/// The breakdown's rows, for the `fleet` section.
pub struct FleetBreakdownSummary {
    pub total: FleetGroupSummary,
    pub by_region: Vec<FleetGroupSummary>,
    pub by_users_region: Vec<FleetGroupSummary>,
    pub by_model: Vec<FleetGroupSummary>,
}

impl FleetBreakdown {
    /// A fleet of `regions` and `models` (names, in the scenario's
    /// order) whose pool `p` serves model `layout[p].1` in region `layout[p].0`.
    pub fn new(regions: Vec<String>, model_names: Vec<String>, layout: Vec<(usize, usize)>) -> Self {
        let models = model_names.len();
        FleetBreakdown {
            pools: vec![Tally::default(); layout.len()],
            users: vec![Tally::default(); regions.len() * models],
            in_flight: IdMap::default(),
            regions,
            model_names,
            models,
            layout,
        }
    }

    /// A measured request from users near `region`, for `model`, routed to `pool`.
    pub fn offered(&mut self, request: RequestId, region: usize, model: usize, pool: usize) {
        let cell = region * self.models + model;
        self.users[cell].offered += 1;
        self.pools[pool].offered += 1;
        self.in_flight.insert(request.0, cell as u32);
    }

    /// `request`, served by `pool` under `slo`, answered as it reaches its
    /// user at `now`; `None` when it was not measured.
    pub fn answered(
        &mut self,
        now: SimTime,
        request: RequestId,
        pool: usize,
        outcome: Outcome,
        served: &Served,
        slo: &Slo,
    ) -> Option<Verdict> {
        let cell = self.in_flight.remove(&request.0)? as usize;
        let latency = (outcome == Outcome::Completed).then(|| RequestLatency::of(now, served));
        let within_slo = latency.as_ref().is_some_and(|l| slo.met_by(l));
        self.pools[pool].answer(outcome, latency.as_ref(), within_slo);
        self.users[cell].answer(outcome, latency.as_ref(), within_slo);
        Some(Verdict { within_slo, failed: outcome == Outcome::Failed })
    }

    /// The rows: the fleet, each region (serving, then users'), each model,
    /// in the scenario's order; `cost[p]` is pool `p`'s (GPU-hours, USD).
    pub fn finish(&self, cost: &[(f64, f64)], span_s: f64, drained: bool) -> FleetBreakdownSummary {
        let served = |name: &str, keep: &dyn Fn(&(usize, usize)) -> bool| {
            let (mut sum, mut spent) = (Tally::default(), (0.0, 0.0));
            for ((tally, pool), c) in self.pools.iter().zip(&self.layout).zip(cost) {
                if keep(pool) {
                    sum.add(tally);
                    spent = (spent.0 + c.0, spent.1 + c.1);
                }
            }
            sum.summary(name.to_string(), span_s, drained, Some(spent))
        };
        let users = |r: usize| {
            let mut sum = Tally::default();
            self.users[r * self.models..(r + 1) * self.models].iter().for_each(|t| sum.add(t));
            sum.summary(self.regions[r].clone(), span_s, drained, None)
        };
        FleetBreakdownSummary {
            total: served("fleet", &|_| true),
            by_region: (0..self.regions.len()).map(|r| served(&self.regions[r], &|p| p.0 == r)).collect(),
            by_users_region: (0..self.regions.len()).map(users).collect(),
            by_model: (0..self.models).map(|m| served(&self.model_names[m], &|p| p.1 == m)).collect(),
        }
    }
}
