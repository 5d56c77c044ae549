//! Front-door metrics: what each tenant offered, what the gateway did with
//! it, what the clients did about that, and whether the pool was shared
//! fairly — the `frontdoor` section of `summary.json`.
//!
//! Definitions (a *request* is what a client wants; an *attempt* is one try
//! of it, each with its own terminal outcome in the recorder):
//! - per tenant, over requests whose first attempt arrived in the measured
//!   interval: `requests`, `attempts`, `retries`, `completed`, `slo_met`
//!   (completed within the tenant's TTFT and end-to-end targets, measured
//!   from the first attempt, as the caller sees it), `slo_attainment` =
//!   slo_met / requests (a rejected or abandoned request misses);
//!   `rejected` by gateway reason, `preempted`, `timeouts`, and the client
//!   view `e2e` of completed requests, and `rejected_after`: how long the
//!   gateway took to answer the attempts it rejected (rate limited or
//!   overloaded; 0 for a rejection on arrival).
//! - `gpu_s`: estimated GPU-seconds (the cost fair queuing charges) of
//!   attempts completed inside the measured interval while arrivals lasted;
//!   `gpu_share` = gpu_s / total, `weight_share` = weight / total weight.
//!   `jain_index` = (Σx)² / (n·Σx²) over x = gpu_share / weight_share (1 =
//!   every tenant got exactly its weight; 1/n = one tenant got everything).
//! - `degraded` (per tenant): requests the primary pool's admission refused
//!   and the fallback pool admitted; `fallback_completed`: attempts it
//!   completed. Their `gpu_s` is the primary model's estimate.
//! - `wasted_gpu_s`: estimated GPU-seconds of work thrown away by cancelled
//!   attempts (prefill if admitted, plus generated tokens); preempted work
//!   separately (`preempted_gpu_s`), recomputed later.
//! - `goodput_per_s`: requests meeting their SLO per second of the measured
//!   interval, by completion time. With a `[trigger]`: goodput and offered
//!   attempts per second before it, during it, and after it (from one
//!   trigger length after its end to the end of arrivals); `recovered` =
//!   goodput after >= 90% of goodput before.
//! - `timeline`: per window (the run's window width), requests, attempts,
//!   retries, goodput and gateway rejections, all by the time they happened.

use super::latency::{LatencyStat, LatencySummary};
use crate::time::{SimDuration, SimTime};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FrontDoorSummary {
    pub tenants: Vec<TenantSummary>,
    pub jain_index: f64,
    pub requests: u64,
    pub attempts: u64,
    pub retries: u64,
    pub retries_denied_by_budget: u64,
    pub breaker_fast_failures: u64,
    pub breaker_changes: Vec<BreakerChange>,
    pub timeouts: u64,
    pub cancelled_in_pool: u64,
    pub wasted_gpu_s: f64,
    pub preemptions: u64,
    pub preempted_gpu_s: f64,
    pub cache_hits: u64,
    /// Attempts completed by the fallback pool (degradation).
    pub fallback_completed: u64,
    pub goodput_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<TriggerSummary>,
    pub timeline: Vec<FrontDoorWindow>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TenantSummary {
    pub name: String,
    pub tier: String,
    pub class: String,
    pub weight: f64,
    pub weight_share: f64,
    pub requests: u64,
    pub attempts: u64,
    pub retries: u64,
    pub admitted: u64,
    pub completed: u64,
    pub slo_met: u64,
    pub slo_attainment: f64,
    pub rejected: BTreeMap<String, u64>,
    pub preempted: u64,
    /// Admitted to the fallback pool after the primary refused them.
    pub degraded: u64,
    pub timeouts: u64,
    pub gpu_s: f64,
    pub gpu_share: f64,
    pub wasted_gpu_s: f64,
    pub e2e: LatencySummary,
    /// Attempt to answer, of attempts the gateway rejected (rate limited or overloaded).
    pub rejected_after: LatencySummary,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BreakerChange {
    pub t_s: f64,
    pub tenant: String,
    pub state: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TriggerSummary {
    pub label: String,
    pub at_s: f64,
    pub until_s: f64,
    pub goodput_before_per_s: f64,
    pub goodput_during_per_s: f64,
    pub goodput_after_per_s: f64,
    pub attempts_before_per_s: f64,
    pub attempts_after_per_s: f64,
    pub recovered: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FrontDoorWindow {
    pub t_start_s: f64,
    pub requests: u64,
    pub attempts: u64,
    pub retries: u64,
    pub goodput: u64,
    pub rejected: u64,
}

/// What the driver counts per tenant.
#[derive(Debug, Clone, Default)]
pub struct TenantCounts {
    pub requests: u64,
    pub attempts: u64,
    pub retries: u64,
    pub completed: u64,
    pub slo_met: u64,
    pub timeouts: u64,
    pub gpu_s: f64,
    pub wasted_gpu_s: f64,
    pub e2e: LatencyStat,
    pub rejected_after: LatencyStat,
}

/// Fixed facts about a tenant and the gateway's counts for it.
pub struct TenantInfo<'a> {
    pub name: &'a str,
    pub tier: &'a str,
    pub class: &'a str,
    pub weight: f64,
    pub admitted: u64,
    pub preempted: u64,
    pub degraded: u64,
    pub rejected: BTreeMap<String, u64>,
}

/// Phases of a run around a trigger.
#[derive(Debug, Clone)]
pub struct Phases {
    pub measure_from: SimTime,
    pub at: SimTime,
    pub until: SimTime,
    pub after: SimTime,
    pub end: SimTime,
    pub label: String,
}

/// Counts events by window and, with a trigger, by phase.
pub struct FrontDoorRecorder {
    pub tenants: Vec<TenantCounts>,
    pub totals: FrontDoorTotals,
    width: SimDuration,
    windows: Vec<FrontDoorWindow>,
    /// (goodput, attempts) before, during, after the trigger.
    phases: [(u64, u64); 3],
    /// (measurement start, trigger at, until, after).
    trigger: Option<(SimTime, SimTime, SimTime, SimTime)>,
}

/// Run-wide counters the driver keeps.
#[derive(Debug, Clone, Default)]
pub struct FrontDoorTotals {
    pub retries_denied_by_budget: u64,
    pub breaker_fast_failures: u64,
    pub cancelled_in_pool: u64,
    pub preemptions: u64,
    pub preempted_gpu_s: f64,
    pub cache_hits: u64,
    pub fallback_completed: u64,
    pub good: u64,
}

impl FrontDoorRecorder {
    /// `trigger`: (at, until) of the marked interval; `measure_from`: the
    /// measured interval's start (the "before" phase starts there).
    pub fn new(tenants: usize, width: SimDuration, measure_from: SimTime, trigger: Option<(SimTime, SimTime)>) -> Self {
        FrontDoorRecorder {
            tenants: vec![TenantCounts::default(); tenants],
            totals: FrontDoorTotals::default(),
            width: SimDuration(width.0.max(1)),
            windows: Vec::new(),
            phases: [(0, 0); 3],
            trigger: trigger.map(|(at, until)| (measure_from, at, until, until + until.since(at))),
        }
    }

    fn window(&mut self, now: SimTime) -> &mut FrontDoorWindow {
        let i = (now.0 / self.width.0) as usize;
        while self.windows.len() <= i {
            let t = self.windows.len() as u64 * self.width.0;
            self.windows.push(FrontDoorWindow { t_start_s: SimTime(t).as_secs_f64(), ..Default::default() });
        }
        &mut self.windows[i]
    }

    fn phase(&self, now: SimTime) -> Option<usize> {
        let (from, at, until, after) = self.trigger?;
        match now {
            t if t < from => None,
            t if t < at => Some(0),
            t if t < until => Some(1),
            t if t >= after => Some(2),
            _ => None,
        }
    }

    pub fn request(&mut self, now: SimTime) {
        self.window(now).requests += 1;
    }

    pub fn attempt(&mut self, now: SimTime, retry: bool) {
        let w = self.window(now);
        w.attempts += 1;
        w.retries += u64::from(retry);
        if let Some(p) = self.phase(now) {
            self.phases[p].1 += 1;
        }
    }

    pub fn rejected(&mut self, now: SimTime) {
        self.window(now).rejected += 1;
    }

    /// A request met its SLO at `now`; `measured`: in the measured interval.
    pub fn good(&mut self, now: SimTime, measured: bool) {
        self.window(now).goodput += 1;
        if let Some(p) = self.phase(now) {
            self.phases[p].0 += 1;
        }
        self.totals.good += u64::from(measured);
    }

    pub fn finish(
        self,
        info: &[TenantInfo],
        changes: Vec<BreakerChange>,
        phases: Option<(Phases, f64)>,
        span_s: f64,
    ) -> FrontDoorSummary {
        let total_weight: f64 = info.iter().map(|t| t.weight).sum();
        let total_gpu: f64 = self.tenants.iter().map(|t| t.gpu_s).sum();
        let share = |x: f64, total: f64| if total > 0.0 { x / total } else { 0.0 };
        let tenants: Vec<TenantSummary> = info
            .iter()
            .zip(&self.tenants)
            .map(|(i, c)| TenantSummary {
                name: i.name.into(),
                tier: i.tier.into(),
                class: i.class.into(),
                weight: i.weight,
                weight_share: share(i.weight, total_weight),
                requests: c.requests,
                attempts: c.attempts,
                retries: c.retries,
                admitted: i.admitted,
                completed: c.completed,
                slo_met: c.slo_met,
                slo_attainment: share(c.slo_met as f64, c.requests as f64),
                rejected: i.rejected.clone(),
                preempted: i.preempted,
                degraded: i.degraded,
                timeouts: c.timeouts,
                gpu_s: c.gpu_s,
                gpu_share: share(c.gpu_s, total_gpu),
                wasted_gpu_s: c.wasted_gpu_s,
                e2e: c.e2e.summary(),
                rejected_after: c.rejected_after.summary(),
            })
            .collect();
        let x: Vec<f64> = tenants.iter().map(|t| share(t.gpu_share, t.weight_share)).collect();
        let (sum, sum_sq) = (x.iter().sum::<f64>(), x.iter().map(|v| v * v).sum::<f64>());
        let jain_index = if sum_sq > 0.0 { sum * sum / (x.len() as f64 * sum_sq) } else { 0.0 };
        let per_s = |n: u64, from: SimTime, to: SimTime| share(n as f64, to.since(from).as_secs_f64());
        let trigger = phases.map(|(p, recovered_at)| {
            let [before, during, after] = self.phases;
            let before_rate = per_s(before.0, p.measure_from.min(p.at), p.at);
            let after_rate = per_s(after.0, p.after, p.end);
            TriggerSummary {
                label: p.label.clone(),
                at_s: p.at.as_secs_f64(),
                until_s: p.until.as_secs_f64(),
                goodput_before_per_s: before_rate,
                goodput_during_per_s: per_s(during.0, p.at, p.until),
                goodput_after_per_s: after_rate,
                attempts_before_per_s: per_s(before.1, p.measure_from.min(p.at), p.at),
                attempts_after_per_s: per_s(after.1, p.after, p.end),
                recovered: after_rate >= recovered_at * before_rate,
            }
        });
        let t = self.totals;
        FrontDoorSummary {
            requests: self.tenants.iter().map(|c| c.requests).sum(),
            attempts: self.tenants.iter().map(|c| c.attempts).sum(),
            retries: self.tenants.iter().map(|c| c.retries).sum(),
            timeouts: self.tenants.iter().map(|c| c.timeouts).sum(),
            wasted_gpu_s: self.tenants.iter().map(|c| c.wasted_gpu_s).sum(),
            tenants,
            jain_index,
            retries_denied_by_budget: t.retries_denied_by_budget,
            breaker_fast_failures: t.breaker_fast_failures,
            breaker_changes: changes,
            cancelled_in_pool: t.cancelled_in_pool,
            preemptions: t.preemptions,
            preempted_gpu_s: t.preempted_gpu_s,
            cache_hits: t.cache_hits,
            fallback_completed: t.fallback_completed,
            goodput_per_s: share(t.good as f64, span_s),
            trigger,
            timeline: self.windows,
        }
    }
}
