//! Capacity search: the cheapest configuration of a [`Space`] whose every
//! SLO holds, with a confidence interval over replications.
//!
//! **Verdict.** A point (a configuration with n replicas) is run
//! `replications` times, replication i with the seed
//! `RngStreams::new(seed).replication(i)`. For each SLO metric the p99s of
//! the replications give a Student-t interval at `confidence`
//! ([`replicate::interval`]); the point meets the SLO when the interval's
//! upper end is within target x (1 − margin). Its headroom is
//! 1 − upper / target; the SLO with the least headroom *binds*. A point
//! that leaves any measured request unanswered in any replication (failed,
//! overloaded, refused, rate-limited) meets nothing, whatever its latencies:
//! the p99s of the requests it did serve would flatter it.
//!
//! **Search.** More replicas never make a p99 worse: each replica serves a
//! share of the same arrivals, so its queue is no longer. Under that
//! assumption, "meets every SLO" is monotone in n, and per configuration
//! the smallest n is found by doubling from `min_replicas` until a count
//! meets, then bisecting the last gap: O(log n) points instead of every
//! count. If the assumption fails (replications too few for the noise, or
//! a router that concentrates load), the answer still meets every SLO — it
//! was evaluated — but a smaller count between the probes may also have,
//! so the cost is an upper bound; raising `replications` narrows that gap.
//! Points are cached, so no point runs twice.
//!
//! **Pruning.** Configurations run in waves of [`WAVE`], cheapest possible
//! cost (min replicas x tp x price) first; a wave's searches run in
//! parallel (rayon) and only read the best cost known when the wave began.
//! A configuration stops searching at the count whose cost exceeds that
//! best (it cannot win), and one whose cheapest possible cost already does
//! is not run at all. Waves are fixed in size and results collected in
//! configuration order, so the output is the same bytes for any number of
//! threads.

// A scenario error ends the plan before anything is written; it happens
// at most once, so it travels unboxed, as in the scenario module.
#![allow(clippy::result_large_err)]

use super::replicate;
use super::space::{Config, Space};
use crate::engine::RngStreams;
use crate::metrics::Summary;
use crate::scenario::{ScenarioError, Serving};
use crate::sim;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// Configurations searched in parallel between two updates of the best
/// cost. Fixed (not the thread count) so pruning, and so the output, does
/// not depend on the machine.
pub const WAVE: usize = 4;

/// One SLO metric at one point, over the replications.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloEstimate {
    /// `ttft_p99`, `tpot_p99` or `e2e_p99`.
    pub metric: String,
    pub target_s: f64,
    /// Mean of the replications' p99s.
    pub mean_s: f64,
    /// Half-width of the interval at the plan's confidence.
    pub half_width_s: f64,
    /// mean + half-width: what must be within target x (1 − margin).
    pub upper_s: f64,
    /// 1 − upper / target (negative when missed).
    pub headroom: f64,
    pub met: bool,
}

/// One evaluated point: a configuration with a replica count.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    /// Index into [`Space::configs`].
    pub config: usize,
    pub replicas: u32,
    pub gpus: u32,
    pub usd_per_hour: f64,
    pub slo: Vec<SloEstimate>,
    /// The most measured requests any replication left unanswered (every
    /// outcome but `completed`).
    pub unanswered: u64,
    /// Every SLO met (with the margin) and nothing left unanswered.
    pub meets: bool,
    /// Mean over replications of $ per million output tokens.
    pub usd_per_million_output_tokens: f64,
}

impl Point {
    /// The SLO with the least headroom.
    pub fn binding(&self) -> &SloEstimate {
        self.slo.iter().fold(&self.slo[0], |b, e| if e.headroom < b.headroom { e } else { b })
    }
}

/// How one configuration's search ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// The smallest count meeting every SLO.
    Found { replicas: u32 },
    /// No count up to `max_replicas` meets every SLO.
    Infeasible,
    /// Every count that could meet the SLOs costs more than the best found
    /// so far (`searched_to`: the last count that could still have won).
    Pruned { searched_to: Option<u32> },
}

/// One configuration's search.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Search {
    pub config: usize,
    pub outcome: Outcome,
    /// The points it evaluated, by replica count.
    pub points: Vec<Point>,
}

impl Search {
    /// The point of the answer, if the search found one.
    pub fn answer(&self) -> Option<&Point> {
        match self.outcome {
            Outcome::Found { replicas } => self.points.iter().find(|p| p.replicas == replicas),
            _ => None,
        }
    }
}

/// Seeds of the replications of a scenario with master seed `seed`.
pub fn replication_seeds(seed: u64, replications: u32) -> Vec<u64> {
    let streams = RngStreams::new(seed);
    (0..replications).map(|i| streams.replication(u64::from(i)).master_seed()).collect()
}

/// The `--set` overrides of configuration `config` at `replicas` (the
/// user's own come first, from the space's source).
pub fn point_overrides(config: &Config, replicas: u32) -> Vec<String> {
    let mut all = config.sets.clone();
    all.push(format!("replica.count={replicas}"));
    all
}

/// Runs the replications of one point and judges its SLOs.
pub fn evaluate(space: &Space, config: usize, replicas: u32) -> Result<Point, ScenarioError> {
    let c = &space.configs[config];
    let s = space.source.load(&point_overrides(c, replicas))?;
    let summaries: Vec<Summary> = replication_seeds(space.base.seed, space.replications)
        .into_par_iter()
        .map(|seed| sim::run_with(&s, seed, &s.run).summary)
        .collect();
    let llm: Vec<_> = summaries.iter().filter_map(|s| s.llm.as_ref()).collect();
    let tp = match &s.serving {
        Serving::Llm(l) => l.tp,
        // The space admits single-pool scenarios only (`space.rs`).
        Serving::Station { .. } | Serving::Fleet(_) => 1,
    };
    let first = llm.first().map(|l| l.slo.clone()).unwrap_or_default();
    let slo: Vec<SloEstimate> = first
        .iter()
        .enumerate()
        .map(|(k, check)| {
            let values: Vec<f64> = llm.iter().map(|l| l.slo[k].actual_s).collect();
            let (mean_s, half_width_s) = replicate::interval(&values, space.confidence);
            let upper_s = mean_s + half_width_s;
            let bound = check.target_s * (1.0 - space.margin);
            SloEstimate {
                metric: check.metric.clone(),
                target_s: check.target_s,
                mean_s,
                half_width_s,
                upper_s,
                headroom: 1.0 - upper_s / check.target_s,
                met: upper_s <= bound,
            }
        })
        .collect();
    let per_million: Vec<f64> = llm.iter().map(|l| l.cost.usd_per_million_output_tokens).collect();
    let unanswered = summaries
        .iter()
        .map(|s| s.requests.measured - s.requests.measured_by_outcome.get("completed").copied().unwrap_or(0))
        .max()
        .unwrap_or(0);
    Ok(Point {
        config,
        replicas,
        gpus: replicas * tp,
        usd_per_hour: f64::from(replicas) * c.usd_per_replica_hour,
        unanswered,
        meets: unanswered == 0 && !slo.is_empty() && slo.iter().all(|e| e.met),
        slo,
        usd_per_million_output_tokens: per_million.iter().sum::<f64>() / per_million.len().max(1) as f64,
    })
}

/// Searches one configuration for its smallest count meeting every SLO,
/// never past a count costing more than `budget` $/h.
fn search(space: &Space, config: usize, budget: Option<f64>) -> Result<Search, ScenarioError> {
    let per = space.configs[config].usd_per_replica_hour;
    let affordable = budget.map_or(space.max_replicas, |b| {
        let n = (b / per * (1.0 + 1e-12)).floor();
        if n >= f64::from(space.max_replicas) {
            space.max_replicas
        } else {
            n.max(0.0) as u32
        }
    });
    let mut points: BTreeMap<u32, Point> = BTreeMap::new();
    let meets = |n: u32, points: &mut BTreeMap<u32, Point>| -> Result<bool, ScenarioError> {
        if let Some(p) = points.get(&n) {
            return Ok(p.meets);
        }
        let p = evaluate(space, config, n)?;
        let ok = p.meets;
        points.insert(n, p);
        Ok(ok)
    };
    let done =
        |outcome, points: BTreeMap<u32, Point>| Search { config, outcome, points: points.into_values().collect() };
    if affordable < space.min_replicas {
        return Ok(done(Outcome::Pruned { searched_to: None }, points));
    }
    // Double until a count meets every SLO: `lo` is the smallest count not yet ruled out.
    let mut lo = space.min_replicas;
    let mut n = space.min_replicas;
    loop {
        if meets(n, &mut points)? {
            break;
        }
        if n >= affordable {
            let outcome = if affordable < space.max_replicas {
                Outcome::Pruned { searched_to: Some(affordable) }
            } else {
                Outcome::Infeasible
            };
            return Ok(done(outcome, points));
        }
        lo = n + 1;
        n = n.saturating_mul(2).min(affordable);
    }
    // Bisect [lo, n]: n meets, everything below lo does not.
    let mut hi = n;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if meets(mid, &mut points)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(done(Outcome::Found { replicas: hi }, points))
}

/// Searches every configuration of `space` (waves of [`WAVE`], cheapest
/// possible cost first) and returns the searches in configuration order.
pub fn plan(space: &Space) -> Result<Vec<Search>, ScenarioError> {
    let floor = |i: usize| f64::from(space.min_replicas) * space.configs[i].usd_per_replica_hour;
    let mut order: Vec<usize> = (0..space.configs.len()).collect();
    order.sort_by(|&a, &b| floor(a).total_cmp(&floor(b)).then(a.cmp(&b)));
    let mut best: Option<f64> = None;
    let mut searches: Vec<Search> = Vec::new();
    for wave in order.chunks(WAVE) {
        let budget = best;
        let done: Vec<Search> = wave.par_iter().map(|&i| search(space, i, budget)).collect::<Result<_, _>>()?;
        for s in &done {
            if let Some(p) = s.answer() {
                best = Some(best.map_or(p.usd_per_hour, |b: f64| b.min(p.usd_per_hour)));
            }
        }
        searches.extend(done);
    }
    searches.sort_by_key(|s| s.config);
    Ok(searches)
}
