//! A fleet with random failures over a long horizon (a month), by
//! performability decomposition (Meyer's performability, a Markov reward
//! model): the failures are drawn exactly over the whole run, and
//! requests are simulated only for a short run at each capacity level the
//! failures reach.
//!
//! Why: request by request, a busy 2,000-GPU fleet costs about a tenth of
//! a CPU-second per simulated second (every busy replica steps every
//! 10-30 ms whatever else happens), so a month is days of CPU. The
//! failures themselves are cheap (a few dozen over a month), and between
//! two of them the fleet is a fixed set of replicas serving a steady
//! demand: what its requests get there is a property of that capacity
//! level, which a short request-level run measures.
//!
//! What is exact and what is not:
//! - The failure history is exact: each pool's GPU, node and rack failures
//!   drawn from the same stream as a request-level run of the scenario
//!   (`failures::drawn`), so both see the same failures, and the time each
//!   pool spends at each number of replicas up is summed from it.
//! - At each level the within-SLO fraction, the rate routed to the pool
//!   and the requests held per replica are measured by a request-level run
//!   of the fleet with that many replicas up, `level_run` long after the
//!   warm-up, every run with the scenario's seed (common random numbers:
//!   the same arrivals at every level, so levels differ by capacity only).
//!   One run sets every pool at once (run j: each pool at its j-th level,
//!   most up first), which assumes pools do not share load: true while no
//!   pool spills over to another region (the level runs' `offered_per_s`
//!   show it).
//! - A replica failing fails what it held (the core's `ReplicaFailed`).
//!   Failures do not depend on load, so a failure strikes at a random
//!   instant and fails on average the time-average held per replica up at
//!   its level (measured): the expected count, not one draw's.
//! - Not modeled: the transient after a level change (queues refilling or
//!   emptying, a repaired replica starting empty), which lasts about a
//!   request's time against hours between failures; and which of the
//!   failed requests would have met the SLO (each counts as the level's
//!   within-SLO fraction of one). `tests/it/fleet_month.rs` bounds both
//!   against a request-level run with failures thousands of times as
//!   frequent.
//!
//! Cost: the failure draws (O(failures) per component), one request-level
//! run of `warmup + level_run` per level of the pool with the most levels
//! (run in parallel), and nothing per request beyond a level run's own.

use super::failures::drawn;
use crate::engine::RngStreams;
use crate::metrics::performability::{CapacityLevel, FailureCounts, PerformabilitySummary, PoolPerformability};
use crate::metrics::recorder::Recorded;
use crate::model::failure::{Interval, PoolFailures};
use crate::scenario::{FleetConfig, FleetPool, RunConfig};
use crate::sim::limits;
use crate::time::{SimDuration, SimTime};
use rayon::prelude::*;
use std::collections::BTreeMap;

/// One request-level run of a fleet at one capacity level: the fleet, the
/// run, and the replicas held down per pool; its report and what each pool
/// measured.
pub(super) type CapacityLevelRun<'a> =
    dyn Fn(&FleetConfig, &RunConfig, &[u32]) -> (Recorded, Vec<Measured>) + Sync + 'a;

/// Runs `fleet` over `run` by performability decomposition, each capacity
/// level for `level_run`: the report is that of the run with every pool
/// at its most replicas up, with the `fleet.performability` section.
/// `capacity_level(steady, level, down)` is one request-level run of the
/// fleet `steady` over `level` with `down[p]` replicas of pool `p` held
/// down (the driver's, so this module needs nothing of it but this).
pub(super) fn run(
    fleet: &FleetConfig,
    seed: u64,
    run: &RunConfig,
    level_run: SimDuration,
    capacity_level: &CapacityLevelRun<'_>,
) -> Recorded {
    let streams = RngStreams::new(seed);
    // The resolver gives a fleet with random failures a duration.
    let stop = limits::stop(run).unwrap_or(SimTime::ZERO + run.warmup);
    let horizon = Interval { from: SimTime::ZERO + run.warmup, to: stop.max(SimTime::ZERO + run.warmup) };
    let histories: Vec<History> = (0..fleet.pools.len())
        .map(|p| History::of(&fleet.pools[p], drawn(fleet, p, &streams, stop), horizon))
        .collect();
    let runs = histories.iter().map(|h| h.levels.len()).max().unwrap_or(1);
    let steady = FleetConfig {
        pools: fleet.pools.iter().map(|p| FleetPool { failures: None, ..p.clone() }).collect(),
        ..fleet.clone()
    };
    let until = run.warmup + level_run;
    let level = RunConfig { duration: Some(until), measure_until: Some(until), max_requests: None, ..run.clone() };
    let mut measured: Vec<(Recorded, Vec<Measured>)> = (0..runs)
        .into_par_iter()
        .map(|j| {
            let down: Vec<u32> = histories.iter().map(|h| h.replicas - h.level(j).0).collect();
            capacity_level(&steady, &level, &down)
        })
        .collect();
    let per_pool: Vec<Vec<&Measured>> =
        (0..fleet.pools.len()).map(|p| measured.iter().map(|(_, m)| &m[p]).collect()).collect();
    let summary = summarize(fleet, &histories, &per_pool, horizon, level_run, runs as u32);
    let mut recorded = measured.swap_remove(0).0;
    if let Some(section) = recorded.summary.fleet.as_mut() {
        section.performability = Some(summary);
    }
    recorded
}

/// What a level run measured of one pool.
pub(super) struct Measured {
    /// Requests routed to it that arrived in the measured interval.
    pub(super) routed: u64,
    /// Of those, completed within every SLO target.
    pub(super) good: u64,
    /// ∫ requests held dt over the measured interval.
    pub(super) outstanding_s: f64,
}

/// One pool's failures over the horizon, as capacity levels.
struct History {
    replicas: u32,
    tp: u32,
    /// (replicas up, seconds at it, replicas failed while at it), most up
    /// first: every level with time or a failure in the horizon.
    levels: Vec<(u32, f64, u64)>,
    failures: FailureCounts,
    /// Seconds GPUs were down (own or domain failure), summed over GPUs.
    gpu_s_failed: f64,
}

impl History {
    fn of(pool: &FleetPool, drawn: Option<PoolFailures>, horizon: Interval) -> Self {
        let replicas = pool.llm.replicas;
        let span = horizon.len().as_secs_f64();
        let mut history = History {
            replicas,
            tp: pool.llm.tp,
            levels: vec![(replicas, span, 0)],
            failures: FailureCounts::default(),
            gpu_s_failed: 0.0,
        };
        let (Some(model), Some(drawn)) = (pool.failures, drawn) else { return history };
        // Replica down-interval ends before the horizon's end are repairs.
        let mut changes: Vec<(SimTime, i64)> = Vec::new();
        for down in drawn.replicas.iter().flatten() {
            changes.push((down.from, -1));
            if down.to < horizon.to {
                changes.push((down.to, 1));
            }
        }
        changes.sort_unstable();
        let mut at: BTreeMap<u32, (f64, u64)> = BTreeMap::new();
        let (mut up, mut since, mut i) = (i64::from(replicas), SimTime::ZERO, 0);
        while i < changes.len() {
            let t = changes[i].0;
            at.entry(up as u32).or_default().0 += overlap(since, t, horizon);
            let (mut failed, mut delta) = (0, 0);
            while i < changes.len() && changes[i].0 == t {
                failed += u64::from(changes[i].1 < 0);
                delta += changes[i].1;
                i += 1;
            }
            if failed > 0 && starts_inside(t, horizon) {
                at.entry(up as u32).or_default().1 += failed;
                history.failures.replicas += failed;
            }
            up += delta;
            since = t;
        }
        at.entry(up as u32).or_default().0 += overlap(since, horizon.to, horizon);
        history.levels =
            at.into_iter().rev().filter(|(_, (s, f))| *s > 0.0 || *f > 0).map(|(k, (s, f))| (k, s, f)).collect();
        let count =
            |lists: &[Vec<Interval>]| lists.iter().flatten().filter(|d| starts_inside(d.from, horizon)).count() as u64;
        history.failures.gpus = count(&drawn.gpus);
        history.failures.nodes = count(&drawn.nodes);
        history.failures.racks = count(&drawn.racks);
        history.gpu_s_failed =
            (0..drawn.gpus.len()).flat_map(|g| drawn.gpu_down(&model, g)).map(|d| overlap(d.from, d.to, horizon)).sum();
        history
    }

    /// Level run `j`'s level: the j-th, or the last for a pool with fewer.
    fn level(&self, j: usize) -> (u32, f64, u64) {
        self.levels[j.min(self.levels.len() - 1)]
    }
}

/// Seconds of `[from, to)` inside `horizon`.
fn overlap(from: SimTime, to: SimTime, horizon: Interval) -> f64 {
    to.min(horizon.to).0.saturating_sub(from.max(horizon.from).0) as f64 / 1e9
}

/// A failure at `t` counts when it strikes inside the horizon (not a
/// component found down at time zero).
fn starts_inside(t: SimTime, horizon: Interval) -> bool {
    t > SimTime::ZERO && horizon.contains(t)
}

fn summarize(
    fleet: &FleetConfig,
    histories: &[History],
    measured: &[Vec<&Measured>],
    horizon: Interval,
    level_run: SimDuration,
    runs: u32,
) -> PerformabilitySummary {
    let run_s = level_run.as_secs_f64();
    let span = horizon.len().as_secs_f64();
    let pools: Vec<PoolPerformability> = fleet
        .pools
        .iter()
        .zip(histories)
        .zip(measured)
        .map(|((config, h), m)| {
            let (mut offered, mut within, mut failed_in_flight) = (0.0, 0.0, 0.0);
            let mut levels = Vec::with_capacity(h.levels.len());
            for (&(up, secs, failed), m) in h.levels.iter().zip(m) {
                let rate = m.routed as f64 / run_s;
                let fraction = if m.routed > 0 { m.good as f64 / m.routed as f64 } else { 0.0 };
                let held = if up > 0 { m.outstanding_s / run_s / f64::from(up) } else { 0.0 };
                let lost = failed as f64 * held;
                offered += secs * rate;
                within += secs * rate * fraction - lost * fraction;
                failed_in_flight += lost;
                levels.push(CapacityLevel {
                    replicas_up: up,
                    hours: secs / 3600.0,
                    offered_per_s: rate,
                    within_slo_fraction: fraction,
                    in_flight_per_replica: held,
                    replicas_failed: failed,
                });
            }
            let n = h.replicas;
            let below = |k: u32| h.levels.iter().filter(|l| l.0 + k < n).map(|l| l.1).sum::<f64>() / 3600.0;
            let lost_s: f64 = h.levels.iter().map(|l| l.1 * f64::from(n - l.0) * f64::from(h.tp)).sum();
            PoolPerformability {
                region: fleet.regions[config.region].name.clone(),
                model: fleet.models[config.model].clone(),
                replicas: n,
                tp: h.tp,
                availability: ratio(within, offered),
                offered,
                within_slo: within,
                failed_in_flight,
                mean_replicas_up: ratio(h.levels.iter().map(|l| l.1 * f64::from(l.0)).sum(), span),
                min_replicas_up: h.levels.iter().filter(|l| l.1 > 0.0).map(|l| l.0).min().unwrap_or(n),
                hours_below_n_minus_k: (0..=3.min(n)).map(below).collect(),
                gpu_hours_failed: h.gpu_s_failed / 3600.0,
                gpu_hours_lost: lost_s / 3600.0,
                failures: h.failures,
                levels,
            }
        })
        .collect();
    let sum = |f: &dyn Fn(&PoolPerformability) -> f64| pools.iter().map(f).sum::<f64>();
    let (offered, within) = (sum(&|p| p.offered), sum(&|p| p.within_slo));
    let count = |f: &dyn Fn(&FailureCounts) -> u64| pools.iter().map(|p| f(&p.failures)).sum::<u64>();
    PerformabilitySummary {
        horizon_h: span / 3600.0,
        level_run_s: run_s,
        level_runs: runs,
        availability: ratio(within, offered),
        offered,
        within_slo: within,
        failed_in_flight: sum(&|p| p.failed_in_flight),
        gpu_hours: histories.iter().map(|h| f64::from(h.replicas * h.tp)).sum::<f64>() * span / 3600.0,
        gpu_hours_failed: sum(&|p| p.gpu_hours_failed),
        gpu_hours_lost: sum(&|p| p.gpu_hours_lost),
        failures: FailureCounts {
            gpus: count(&|f| f.gpus),
            nodes: count(&|f| f.nodes),
            racks: count(&|f| f.racks),
            replicas: count(&|f| f.replicas),
        },
        pools,
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}
