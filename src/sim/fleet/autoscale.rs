//! Per-pool autoscalers: every `interval`, each autoscaled pool compares
//! its metric with its target and starts or drains replicas.
//!
//! The rule is Kubernetes' Horizontal Pod Autoscaler
//! (<https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/#algorithm-details>):
//! `desired = ceil(serving × metric / target)`, no change while
//! `metric / target` is within `1 ± tolerance` (default 0.1), clamped to
//! `[min, max]`. The metric is averaged over the serving replicas, so
//! replicas still starting count as capacity to come (HPA's "not yet ready
//! pods"); the recommendation never moves against the metric (above the
//! target it keeps replicas still starting, below it adds none).
//! Stabilization as HPA's `behavior`: the pool scales up to the
//! lowest recommendation of the last `scale_up_window` and down to the
//! highest of the last `scale_down_window`; `cooldown` holds any change
//! for that long after the last.
//!
//! A pool's core holds `max_replicas` slots. A slot is parked (released:
//! not billed, routed around as a failed replica is), starting (billed
//! from its provisioning start; parked in the core until ready), warm
//! (provisioned with the weights on disk, idle, billed), serving, or
//! draining (billed, taking no new work; released once idle). Scale-out
//! reopens draining replicas first, then takes warm nodes, then parked
//! slots whose node-local cache still holds the weights, then the rest
//! (which download, see `coldstart.rs`), and refills the warm pool.
//! Scale-in cancels the newest starts first, then drains the
//! highest-numbered serving replicas. A drained node refills the warm
//! pool if it is short; else it is released and its disk keeps the
//! weights for `cache_ttl`.
//!
//! Cost per event: O(1) per touched pool for the utilization integral and
//! the bill; O(slots) per evaluation and per scaling decision (every
//! `interval`, never per request).

use super::coldstart::{self, ColdStarts, StartTimes};
use crate::core::llm::Load;
use crate::metrics::autoscale::{AutoscalePoolSummary, AutoscaleSummary, ColdStartSummary, ScaleDecision};
use crate::metrics::Recorder;
use crate::scenario::schema::ScaleMetric;
use crate::scenario::{Autoscale, FleetConfig};
use crate::time::{SimDuration, SimTime};
use std::collections::VecDeque;

/// An autoscaler event on the fleet's clock.
#[derive(Debug, Clone, Copy)]
pub(super) enum ScaleEvent {
    /// Pool `pool`'s autoscaler evaluates.
    Evaluate { pool: u32 },
    /// Slot `slot` of `pool` finished starting (unless its start was
    /// cancelled since: `start` counts its starts).
    Ready { pool: u32, slot: u32, start: u32 },
}

/// What the driver does to a slot of a pool's core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotChange {
    /// It takes work: a start finished (it was parked).
    Open(u32),
    /// It takes work again: its drain was called off (it never parked).
    Undrain(u32),
    /// It takes no new work and finishes what it holds.
    Drain(u32),
    /// It is released (or joins the warm pool): routed around.
    Park(u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// Released; its node's disk holds the weights until `cached_until`.
    Parked {
        cached_until: Option<SimTime>,
    },
    /// Starting since `at`: to serve, or to join the warm pool (`refill`).
    Starting {
        refill: bool,
    },
    Warm,
    Serving,
    Draining,
}

struct PoolScaler<'a> {
    pool: u32,
    name: String,
    cfg: &'a Autoscale,
    gpus_per_replica: f64,
    price_per_gpu_hour_usd: f64,
    kv_blocks_per_replica: f64,
    slots: Vec<Slot>,
    /// Per slot: its starts so far (a `Ready` of an earlier one is stale),
    /// and its latest start's entry in the report.
    starts: Vec<u32>,
    record: Vec<usize>,
    serving: u32,
    /// Starting to serve (refills of the warm pool not counted).
    starting: u32,
    refilling: u32,
    warm: u32,
    draining: u32,
    peak: u32,
    /// `(when, recommendation)` over the longer stabilization window.
    history: VecDeque<(SimTime, u32)>,
    last_change: Option<SimTime>,
    /// Busy replica-seconds and in-flight request-seconds since the last
    /// evaluation, and both levels since `level_at`.
    busy_area: f64,
    in_flight_area: f64,
    busy: u32,
    in_flight: u64,
    level_at: SimTime,
    /// Billed slot-seconds over the measured interval, up to `billed_at`.
    billed_area: f64,
    billed_at: SimTime,
}

impl PoolScaler<'_> {
    fn billed(&self) -> u32 {
        self.serving + self.starting + self.refilling + self.warm + self.draining
    }

    /// Brings the bill up to `now` (before its billed count changes).
    fn bill(&mut self, now: SimTime, recorder: &Recorder) {
        self.billed_area += f64::from(self.billed()) * recorder.measured_overlap(self.billed_at, now);
        self.billed_at = now;
    }

    /// Replicas serving or on their way.
    fn current(&self) -> u32 {
        self.serving + self.starting
    }

    /// The metric over the serving replicas (the utilization since the
    /// last evaluation, the others now).
    fn metric(&mut self, now: SimTime, load: Load) -> f64 {
        self.observe(now, self.busy, self.in_flight);
        let serving = f64::from(self.serving.max(1));
        let value = match self.cfg.metric {
            ScaleMetric::Utilization => {
                let live = f64::from((self.serving + self.draining).max(1));
                self.busy_area / (self.cfg.interval.as_secs_f64() * live)
            }
            ScaleMetric::QueueDepth => load.waiting as f64 / serving,
            ScaleMetric::KvUse => load.kv_used_blocks as f64 / (serving * self.kv_blocks_per_replica),
            ScaleMetric::Concurrency => self.in_flight_area / (self.cfg.interval.as_secs_f64() * serving),
        };
        (self.busy_area, self.in_flight_area) = (0.0, 0.0);
        value
    }

    fn observe(&mut self, now: SimTime, busy: u32, in_flight: u64) {
        let held = now.since(self.level_at).as_secs_f64();
        self.busy_area += f64::from(self.busy) * held;
        self.in_flight_area += self.in_flight as f64 * held;
        (self.busy, self.in_flight, self.level_at) = (busy, in_flight, now);
    }

    /// HPA's recommendation for `value`, clamped to `[min, max]`. It
    /// never moves against the metric: above the target it keeps the
    /// replicas still starting (whose capacity the serving ones' metric
    /// does not see yet), below it adds none.
    fn recommend(&self, value: f64) -> u32 {
        let ratio = value / self.cfg.target;
        let current = f64::from(self.current());
        let desired = match ratio {
            r if (r - 1.0).abs() <= self.cfg.tolerance => current,
            r if r > 1.0 => (f64::from(self.serving) * r).ceil().max(current),
            r => (f64::from(self.serving) * r).ceil().min(current),
        };
        (desired.clamp(0.0, f64::from(u32::MAX)) as u32).clamp(self.cfg.min, self.cfg.max)
    }

    /// The stabilized target given the recommendations so far (the
    /// newest is now's).
    fn stabilized(&mut self, now: SimTime, recommended: u32) -> u32 {
        self.history.push_back((now, recommended));
        let longest = self.cfg.scale_up_window.max(self.cfg.scale_down_window);
        while self.history.front().is_some_and(|&(t, _)| now.since(t) > longest) {
            self.history.pop_front();
        }
        let within = |w: SimDuration| self.history.iter().filter(move |&&(t, _)| now.since(t) <= w).map(|&(_, r)| r);
        let up = within(self.cfg.scale_up_window).min().unwrap_or(recommended);
        let down = within(self.cfg.scale_down_window).max().unwrap_or(recommended);
        let current = self.current();
        match current {
            c if c < up => up,
            c if c > down => down,
            c => c,
        }
    }
}

/// Every autoscaled pool's autoscaler, and what they did.
pub(super) struct Autoscaler<'a> {
    /// Per fleet pool: its scaler's index, if autoscaled.
    of_pool: Vec<Option<usize>>,
    scalers: Vec<PoolScaler<'a>>,
    cold: ColdStarts,
    decisions: Vec<ScaleDecision>,
    cold_starts: Vec<ColdStartSummary>,
    stop: Option<SimTime>,
}

impl<'a> Autoscaler<'a> {
    /// The autoscalers at time zero: each pool's first `replicas` slots
    /// serve, the next `warm_pool` are warm, the rest parked (returned as
    /// changes for the cores); first evaluations scheduled.
    pub(super) fn new(
        fleet: &'a FleetConfig,
        stop: Option<SimTime>,
        changes: &mut Vec<(u32, SlotChange)>,
        mut schedule: impl FnMut(SimTime, ScaleEvent),
    ) -> Self {
        let mut of_pool = vec![None; fleet.pools.len()];
        let mut scalers = Vec::new();
        for (i, p) in fleet.pools.iter().enumerate() {
            let Some(cfg) = &p.autoscale else { continue };
            of_pool[i] = Some(scalers.len());
            let warm = cfg.warm_pool.min(cfg.max - cfg.initial);
            let slots: Vec<Slot> = (0..cfg.max)
                .map(|s| match s {
                    s if s < cfg.initial => Slot::Serving,
                    s if s < cfg.initial + warm => Slot::Warm,
                    _ => Slot::Parked { cached_until: None },
                })
                .collect();
            changes.extend((cfg.initial..cfg.max).map(|s| (i as u32, SlotChange::Park(s))));
            let pool = i as u32;
            schedule(SimTime::ZERO + cfg.interval, ScaleEvent::Evaluate { pool });
            scalers.push(PoolScaler {
                pool,
                name: format!("{}/{}", fleet.regions[p.region].name, fleet.models[p.model]),
                cfg,
                gpus_per_replica: f64::from(p.llm.tp),
                price_per_gpu_hour_usd: p.llm.price_per_gpu_hour_usd,
                kv_blocks_per_replica: p.llm.replica.kv_blocks.max(1) as f64,
                starts: vec![0; slots.len()],
                record: vec![0; slots.len()],
                slots,
                serving: cfg.initial,
                starting: 0,
                refilling: 0,
                warm,
                draining: 0,
                peak: cfg.initial,
                history: VecDeque::new(),
                last_change: None,
                busy_area: 0.0,
                in_flight_area: 0.0,
                busy: 0,
                in_flight: 0,
                level_at: SimTime::ZERO,
                billed_area: 0.0,
                billed_at: SimTime::ZERO,
            });
        }
        Autoscaler {
            of_pool,
            scalers,
            cold: ColdStarts::default(),
            decisions: Vec::new(),
            cold_starts: Vec::new(),
            stop,
        }
    }

    /// Whether pool `pool` is autoscaled.
    pub(super) fn scales(&self, pool: u32) -> bool {
        self.of_pool[pool as usize].is_some()
    }

    /// Pool `pool` has `busy` replicas stepping and `in_flight` requests
    /// from now on. O(1).
    pub(super) fn levels(&mut self, pool: u32, now: SimTime, busy: u32, in_flight: u64) {
        if let Some(i) = self.of_pool[pool as usize] {
            self.scalers[i].observe(now, busy, in_flight);
        }
    }

    /// Serving replicas of an autoscaled pool (None for a fixed pool).
    pub(super) fn serving(&self, pool: u32) -> Option<u32> {
        self.of_pool[pool as usize].map(|i| self.scalers[i].serving)
    }

    /// An autoscaler event: its changes for pool `pool`'s core.
    pub(super) fn event(
        &mut self,
        now: SimTime,
        event: ScaleEvent,
        load: Load,
        recorder: &Recorder,
        changes: &mut Vec<SlotChange>,
        mut schedule: impl FnMut(SimTime, ScaleEvent),
    ) {
        match event {
            ScaleEvent::Evaluate { pool } => {
                let i = self.of_pool[pool as usize].expect("only autoscaled pools evaluate");
                let next = now + self.scalers[i].cfg.interval;
                if self.stop.is_none_or(|s| next < s) {
                    schedule(next, ScaleEvent::Evaluate { pool });
                }
                self.evaluate(i, now, load, recorder, changes, schedule);
            }
            ScaleEvent::Ready { pool, slot, start } => {
                let i = self.of_pool[pool as usize].expect("only autoscaled pools start replicas");
                let s = &mut self.scalers[i];
                let (k, Slot::Starting { refill }) = (slot as usize, s.slots[slot as usize]) else { return };
                if s.starts[k] != start {
                    return;
                }
                s.bill(now, recorder);
                if refill {
                    s.refilling -= 1;
                    s.warm += 1;
                    s.slots[k] = Slot::Warm;
                } else {
                    s.starting -= 1;
                    s.serving += 1;
                    s.peak = s.peak.max(s.serving);
                    s.slots[k] = Slot::Serving;
                    changes.push(SlotChange::Open(slot));
                }
            }
        }
    }

    fn evaluate(
        &mut self,
        i: usize,
        now: SimTime,
        load: Load,
        recorder: &Recorder,
        changes: &mut Vec<SlotChange>,
        schedule: impl FnMut(SimTime, ScaleEvent),
    ) {
        let s = &mut self.scalers[i];
        let value = s.metric(now, load);
        let recommended = s.recommend(value);
        let to = s.stabilized(now, recommended);
        let from = s.current();
        if to == from || s.last_change.is_some_and(|t| now.since(t) < s.cfg.cooldown) {
            return;
        }
        s.last_change = Some(now);
        s.bill(now, recorder);
        self.decisions.push(ScaleDecision {
            t_s: now.since(SimTime::ZERO).as_secs_f64(),
            pool: s.name.clone(),
            from,
            to,
            metric: s.cfg.metric.name().to_string(),
            value,
            recommended,
        });
        match to > from {
            true => self.scale_out(i, now, to - from, changes, schedule),
            false => self.scale_in(i, from - to, changes),
        }
    }

    /// `n` more replicas: drains called off, warm nodes, cached slots,
    /// then cold ones; the warm pool refilled.
    fn scale_out(
        &mut self,
        i: usize,
        now: SimTime,
        mut n: u32,
        changes: &mut Vec<SlotChange>,
        mut schedule: impl FnMut(SimTime, ScaleEvent),
    ) {
        let s = &mut self.scalers[i];
        let c = &s.cfg.cold_start;
        // Starts as (slot, kind, times); cold ones get their download below.
        let mut started: Vec<(usize, &'static str, Option<StartTimes>)> = Vec::new();
        for k in 0..s.slots.len() {
            if n > 0 && s.slots[k] == Slot::Draining {
                s.slots[k] = Slot::Serving;
                (s.draining, s.serving, n) = (s.draining - 1, s.serving + 1, n - 1);
                s.peak = s.peak.max(s.serving);
                changes.push(SlotChange::Undrain(k as u32));
            }
        }
        for k in 0..s.slots.len() {
            if n > 0 && s.slots[k] == Slot::Warm {
                s.warm -= 1;
                n -= 1;
                started.push((k, "warm", Some(coldstart::warm(c))));
            }
        }
        let cached = |slot: Slot| matches!(slot, Slot::Parked { cached_until: Some(t) } if t > now);
        for k in 0..s.slots.len() {
            if n > 0 && cached(s.slots[k]) {
                n -= 1;
                started.push((k, "cached", Some(coldstart::cached(c))));
            }
        }
        let taken = |started: &[(usize, &str, Option<StartTimes>)], k: usize| started.iter().any(|x| x.0 == k);
        let parked = |slot: Slot| matches!(slot, Slot::Parked { .. });
        let mut refill = s.cfg.warm_pool.saturating_sub(s.warm + s.refilling);
        for k in 0..s.slots.len() {
            if (n > 0 || refill > 0) && parked(s.slots[k]) && !taken(&started, k) {
                let kind = match n {
                    0 => "warm_refill",
                    _ => "cold",
                };
                match n {
                    0 => refill -= 1,
                    _ => n -= 1,
                }
                started.push((k, kind, None));
            }
        }
        let batch = started.iter().filter(|x| x.2.is_none()).count() as u32;
        let downloads = match batch {
            0 => Vec::new(),
            b => self.cold.downloads(i, c, b).to_vec(),
        };
        let s = &mut self.scalers[i];
        let mut node = 0;
        for (k, kind, times) in started {
            let times = times.unwrap_or_else(|| {
                node += 1;
                coldstart::cold(c, downloads[node - 1], batch)
            });
            let refill = kind == "warm_refill";
            s.slots[k] = Slot::Starting { refill };
            s.starts[k] += 1;
            match refill {
                true => s.refilling += 1,
                false => s.starting += 1,
            }
            let ready = now + times.total();
            // A start not ready when arrivals stop never serves (as failures past the stop never strike).
            if self.stop.is_none_or(|stop| ready < stop) {
                schedule(ready, ScaleEvent::Ready { pool: s.pool, slot: k as u32, start: s.starts[k] });
            }
            let secs = |t: SimTime| t.since(SimTime::ZERO).as_secs_f64();
            s.record[k] = self.cold_starts.len();
            self.cold_starts.push(ColdStartSummary {
                pool: s.name.clone(),
                replica: k as u32,
                kind: kind.to_string(),
                start_s: secs(now),
                ready_s: secs(ready),
                provision_s: times.provision.as_secs_f64(),
                container_s: times.container.as_secs_f64(),
                download_s: times.download.as_secs_f64(),
                load_s: times.load.as_secs_f64(),
                download_nodes: times.batch,
                weight_strategy: if times.batch > 0 { c.strategy.name().to_string() } else { String::new() },
                cancelled: false,
            });
        }
    }

    /// `n` fewer replicas: the newest starts cancelled, then the
    /// highest-numbered serving replicas drained.
    fn scale_in(&mut self, i: usize, mut n: u32, changes: &mut Vec<SlotChange>) {
        let s = &mut self.scalers[i];
        for k in (0..s.slots.len()).rev() {
            if n > 0 && s.slots[k] == (Slot::Starting { refill: false }) {
                s.slots[k] = Slot::Parked { cached_until: None };
                (s.starting, n) = (s.starting - 1, n - 1);
                self.cold_starts[s.record[k]].cancelled = true;
            }
        }
        for k in (0..s.slots.len()).rev() {
            if n > 0 && s.slots[k] == Slot::Serving {
                s.slots[k] = Slot::Draining;
                (s.serving, s.draining, n) = (s.serving - 1, s.draining + 1, n - 1);
                changes.push(SlotChange::Drain(k as u32));
            }
        }
    }

    /// Slot `slot` of `pool` holds nothing now: a draining one is released
    /// (or joins the warm pool when it is short).
    pub(super) fn idle(&mut self, pool: u32, slot: u32, now: SimTime, recorder: &Recorder) -> Option<SlotChange> {
        let s = &mut self.scalers[self.of_pool[pool as usize]?];
        let k = slot as usize;
        if s.slots[k] != Slot::Draining {
            return None;
        }
        s.bill(now, recorder);
        s.draining -= 1;
        match s.warm + s.refilling < s.cfg.warm_pool {
            true => {
                s.warm += 1;
                s.slots[k] = Slot::Warm;
            }
            false => s.slots[k] = Slot::Parked { cached_until: Some(now + s.cfg.cold_start.cache_ttl) },
        }
        Some(SlotChange::Park(slot))
    }

    /// The `fleet.autoscaling` section (None without autoscaled pools),
    /// the bills brought up to `end`.
    pub(super) fn finish(mut self, end: SimTime, recorder: &Recorder) -> Option<AutoscaleSummary> {
        let span_s = recorder.measured_overlap(SimTime::ZERO, end);
        if self.scalers.is_empty() {
            return None;
        }
        let pools = self
            .scalers
            .iter_mut()
            .map(|s| {
                s.bill(end, recorder);
                let gpu_hours = s.billed_area * s.gpus_per_replica / 3600.0;
                AutoscalePoolSummary {
                    pool: s.name.clone(),
                    min_replicas: s.cfg.min,
                    max_replicas: s.cfg.max,
                    peak_replicas: s.peak,
                    final_replicas: s.serving,
                    gpu_hours,
                    usd: gpu_hours * s.price_per_gpu_hour_usd,
                    static_peak_gpu_hours: f64::from(s.cfg.max) * s.gpus_per_replica * span_s / 3600.0,
                }
            })
            .collect();
        Some(AutoscaleSummary { decisions: self.decisions, cold_starts: self.cold_starts, pools })
    }
}
