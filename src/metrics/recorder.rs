//! The recorder: everything a driver observes, turned into a [`Summary`] and
//! a timeline. It is also the checker (TigerBeetle style: separate from the
//! system it checks): it tracks requests in flight by id and counts outcomes
//! for unknown or already-answered requests, so "every offered request has
//! exactly one terminal outcome" is verified, not assumed.
//!
//! Memory: O(requests in flight + windows + GPUs). Each observation is O(1)
//! amortized.

use super::audit::{Audit, RequestWindow, StepLedger};
use super::summary::*;
use super::timeline::{Levels, Timeline, WindowRow};
use super::LatencyStat;
use crate::core::{IdMap, Outcome, RequestId};
use crate::time::{SimDuration, SimTime};
use crate::workload::Arrival;
use std::collections::BTreeMap;

/// Everything `finish` returns.
pub struct Recorded {
    pub summary: Summary,
    pub timeline: Vec<WindowRow>,
    /// Latency distributions to plot as CDFs: end-to-end, and for LLM
    /// serving TTFT and TPOT.
    pub cdfs: Vec<(&'static str, LatencyStat)>,
    /// The safety pipeline's audit log and timeline (with `[safety]` only).
    pub safety: Option<Box<super::safety::SafetyRecorded>>,
    /// A fleet's SLO attainment per window (fleets only; else empty).
    pub slo_windows: Vec<super::fleet_windows::SloWindowRow>,
    /// Ledgers for checkers, beside the report (not written to it).
    pub audit: Audit,
}

/// Facts about the run only the driver knows.
pub struct RunEnd {
    pub end: SimTime,
    /// When arrivals stopped: the run's duration, or the last arrival.
    pub arrivals_end: SimTime,
    pub events: u64,
    pub events_in_past: u64,
    pub drained: bool,
}

pub struct Recorder {
    /// The measured interval is [warmup, until): requests arriving in it
    /// and batches starting in it are measured; levels are averaged over it.
    warmup: SimTime,
    until: SimTime,
    servers: u32,
    /// Arrival time of each request without an outcome yet (membership and
    /// integer sums only: hash order never reaches the output).
    in_flight: IdMap<SimTime>,
    duplicate_outcomes: u64,
    offered: u64,
    measured: u64,
    outcomes: BTreeMap<&'static str, u64>,
    measured_outcomes: BTreeMap<&'static str, u64>,
    prompt_tokens: u64,
    output_tokens: u64,
    queue_wait: LatencyStat,
    service: LatencyStat,
    e2e: LatencyStat,
    waited: u64,
    admitted: u64,
    admitted_sojourn_ns: u128,
    batches: u64,
    batch_items: u64,
    batch_sizes: Vec<u64>,
    busy_since: Vec<Option<SimTime>>,
    busy_ns: Vec<u64>,
    steps: StepLedger,
    window: RequestWindow,
    levels: Levels,
    last: SimTime,
    whole_run_in_system: f64,
    measured_levels: Levels,
    depth_max: u64,
    timeline: Timeline,
}

impl Recorder {
    /// `until` ends the measured interval (None: the end of the run).
    pub fn new(warmup: SimDuration, until: Option<SimDuration>, servers: u32, window: SimDuration) -> Self {
        let outcomes: BTreeMap<&'static str, u64> = Outcome::ALL.iter().map(|o| (o.name(), 0)).collect();
        Recorder {
            warmup: SimTime::ZERO + warmup,
            until: until.map_or(SimTime::MAX, |u| SimTime::ZERO + u),
            servers,
            in_flight: IdMap::default(),
            duplicate_outcomes: 0,
            offered: 0,
            measured: 0,
            measured_outcomes: outcomes.clone(),
            outcomes,
            prompt_tokens: 0,
            output_tokens: 0,
            queue_wait: LatencyStat::new(),
            service: LatencyStat::new(),
            e2e: LatencyStat::new(),
            waited: 0,
            admitted: 0,
            admitted_sojourn_ns: 0,
            batches: 0,
            batch_items: 0,
            batch_sizes: Vec::new(),
            busy_since: vec![None; servers as usize],
            busy_ns: vec![0; servers as usize],
            steps: StepLedger::new(servers as usize),
            window: RequestWindow::default(),
            levels: Levels::default(),
            last: SimTime::ZERO,
            whole_run_in_system: 0.0,
            measured_levels: Levels::default(),
            depth_max: 0,
            timeline: Timeline::new(window, servers),
        }
    }

    /// Integrates the levels held since the last call up to `now`, then holds
    /// `levels` from `now` on.
    pub fn levels(&mut self, now: SimTime, levels: Levels) {
        let dt = now.since(self.last).as_secs_f64();
        self.whole_run_in_system += self.levels.in_system * dt;
        let from = self.last.max(self.warmup);
        let to = now.min(self.until);
        if to > from {
            let mdt = to.since(from).as_secs_f64();
            self.measured_levels.add_held(&self.levels, mdt);
        }
        self.timeline.integrate(self.last, now, &self.levels);
        self.last = now;
        self.levels = levels;
        if self.measures(now) {
            self.depth_max = self.depth_max.max(levels.waiting as u64);
        }
    }

    /// Moves the start of the measured interval to `at` (closed-loop
    /// clients: `SimTime::MAX` until their warm-up ends, then that
    /// instant). Call it only before anything at or after `at` is recorded.
    pub fn measure_from(&mut self, at: SimTime) {
        self.warmup = at;
    }

    /// Whether a request arriving (or a batch starting) at `t` is measured.
    pub fn measures(&self, t: SimTime) -> bool {
        t >= self.warmup && t < self.until
    }

    /// Seconds of `[from, to]` inside the measured interval.
    pub fn measured_overlap(&self, from: SimTime, to: SimTime) -> f64 {
        SimDuration(self.measured_ns(from, to)).as_secs_f64()
    }

    /// Nanoseconds of `[from, to]` inside the measured interval.
    fn measured_ns(&self, from: SimTime, to: SimTime) -> u64 {
        to.min(self.until).since(from.max(self.warmup)).0
    }

    pub fn arrival(&mut self, request: RequestId, arrival: &Arrival) {
        self.offered += 1;
        if self.measures(arrival.at) {
            self.measured += 1;
        }
        self.prompt_tokens += u64::from(arrival.prompt_tokens);
        self.output_tokens += u64::from(arrival.output_tokens);
        self.in_flight.insert(request.0, arrival.at);
        self.timeline.row().arrivals += 1;
    }

    pub fn respond(
        &mut self,
        now: SimTime,
        request: RequestId,
        outcome: Outcome,
        arrived: SimTime,
        started: Option<SimTime>,
    ) {
        if self.in_flight.remove(&request.0).is_none() {
            self.duplicate_outcomes += 1;
            return;
        }
        self.window.add(self.measured_ns(arrived, now));
        *self.outcomes.entry(outcome.name()).or_default() += 1;
        let measured = self.measures(arrived);
        if measured {
            *self.measured_outcomes.entry(outcome.name()).or_default() += 1;
        }
        let row = self.timeline.row();
        let sojourn = now.since(arrived).0;
        match outcome {
            Outcome::Completed => row.completed += 1,
            _ => {
                row.rejected += 1;
                // Time spent in the system before a non-completion (a
                // cancelled, expired or refused request, a stopped stream)
                // counts in L and so in W.
                if sojourn > 0 {
                    self.admitted += 1;
                    self.admitted_sojourn_ns += u128::from(sojourn);
                }
                return;
            }
        }
        self.admitted += 1;
        self.admitted_sojourn_ns += u128::from(sojourn);
        self.timeline.record_e2e(sojourn);
        if measured {
            let started = started.unwrap_or(arrived);
            let wait = started.since(arrived).0;
            self.queue_wait.record(wait);
            self.service.record(now.since(started).0);
            self.e2e.record(sojourn);
            self.waited += u64::from(wait > 0);
        }
    }

    pub fn batch_started(&mut self, now: SimTime, server: u32, size: u32) {
        self.timeline.row().batches += 1;
        if let Some(since) = self.busy_since.get_mut(server as usize) {
            *since = Some(now);
        }
        if self.measures(now) {
            self.batches += 1;
            self.batch_items += u64::from(size);
            let i = size as usize;
            if self.batch_sizes.len() <= i {
                self.batch_sizes.resize(i + 1, 0);
            }
            self.batch_sizes[i] += 1;
        }
    }

    /// `server`'s step (batch) that started now runs for the modeled
    /// `took`: the audit's own account of busy time, beside the step-end
    /// events [`Recorder::batch_finished`] reports.
    pub fn step_modeled(&mut self, now: SimTime, server: u32, took: SimDuration) {
        let (warmup, until) = (self.warmup, self.until);
        let measured = |from: SimTime, to: SimTime| to.min(until).since(from.max(warmup)).0;
        self.steps.started(server as usize, now, took, measured);
    }

    /// A FCFS GPU went idle (per-GPU busy time; processor sharing uses levels).
    pub fn batch_finished(&mut self, now: SimTime, server: u32) {
        let i = server as usize;
        if let Some(since) = self.busy_since.get_mut(i).and_then(Option::take) {
            self.busy_ns[i] += now.min(self.until).since(since.max(self.warmup)).0;
        }
    }

    pub fn finish(mut self, scenario: &str, seed: u64, end: RunEnd, processor_sharing: bool) -> Recorded {
        self.levels(end.end, self.levels);
        if !processor_sharing {
            // A run stopped before draining: steps still running were busy
            // up to the stop.
            for server in 0..self.servers {
                self.batch_finished(end.end, server);
            }
        }
        let span = end.end.min(self.until).since(self.warmup).as_secs_f64();
        let per_span = |x: f64| if span > 0.0 { x / span } else { 0.0 };
        let c = f64::from(self.servers);
        let utilization_mean = per_span(self.measured_levels.busy) / c;
        let utilization = if processor_sharing {
            vec![utilization_mean; self.servers as usize]
        } else {
            self.busy_ns.iter().map(|ns| per_span(*ns as f64 / 1e9)).collect()
        };
        let in_flight = self.in_flight.len() as u64;
        let terminal: u64 = self.outcomes.values().sum();
        let lost = if end.drained { in_flight } else { 0 };
        let one_outcome = self.duplicate_outcomes == 0 && lost == 0 && terminal + in_flight == self.offered;
        let littles_law = self.littles_law(end.end);
        let audit = self.audit(end.end);
        let completed = self.e2e.count();
        let summary = Summary {
            schema_version: SCHEMA_VERSION,
            scenario: scenario.to_string(),
            seed,
            backend: "sim".into(),
            run: RunInfo {
                end_s: end.end.as_secs_f64(),
                measure_start_s: self.warmup.as_secs_f64(),
                measure_span_s: span.max(0.0),
                events: end.events,
                drained: end.drained,
            },
            requests: RequestCounts {
                offered: self.offered,
                by_outcome: names(&self.outcomes),
                in_flight_at_end: in_flight,
                measured: self.measured,
                measured_by_outcome: names(&self.measured_outcomes),
                prompt_tokens: self.prompt_tokens,
                output_tokens: self.output_tokens,
            },
            latency: Latencies {
                queue_wait: self.queue_wait.summary(),
                service: self.service.summary(),
                end_to_end: self.e2e.summary(),
                waited_fraction: if completed > 0 { self.waited as f64 / completed as f64 } else { 0.0 },
            },
            throughput: Throughput {
                offered_per_s: {
                    let window = end.arrivals_end.min(self.until).since(self.warmup).as_secs_f64();
                    if window > 0.0 {
                        self.measured as f64 / window
                    } else {
                        0.0
                    }
                },
                completed_per_s: per_span(completed as f64),
            },
            servers: ServerStats { count: self.servers, utilization_mean, utilization },
            batching: BatchStats {
                batches: self.batches,
                mean_size: if self.batches > 0 { self.batch_items as f64 / self.batches as f64 } else { 0.0 },
                size_histogram: self
                    .batch_sizes
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(size, count)| SizeCount { size: size as u32, count: *count })
                    .collect(),
            },
            queue: QueueStats {
                depth_mean: per_span(self.measured_levels.waiting),
                depth_max: self.depth_max,
                in_system_mean: per_span(self.measured_levels.in_system),
            },
            invariants: Invariants {
                every_request_one_outcome: one_outcome,
                terminal_outcomes: terminal,
                duplicate_outcomes: self.duplicate_outcomes,
                lost,
                events_in_past: end.events_in_past,
                all_hold: one_outcome && end.events_in_past == 0 && littles_law.holds,
            },
            littles_law,
            llm: None,
            safety: None,
            frontdoor: None,
            fleet: None,
        };
        Recorded {
            summary,
            timeline: self.timeline.finish(end.end),
            cdfs: vec![("end-to-end", self.e2e)],
            safety: None,
            slo_windows: Vec::new(),
            audit,
        }
    }

    /// The ledgers at `end`: requests still in flight count up to it.
    fn audit(&mut self, end: SimTime) -> Audit {
        let mut window = self.window;
        for arrived in self.in_flight.values() {
            window.add(self.measured_ns(*arrived, end));
        }
        window.span_ns = self.measured_ns(SimTime::ZERO, end);
        let steps = std::mem::take(&mut self.steps);
        Audit {
            busy_ns: self.busy_ns.clone(),
            step_ns: steps.finish(end, |from, to| self.measured_ns(from, to)),
            kv_end: Vec::new(),
            window,
        }
    }

    /// Requests still in flight count with their sojourn so far, so the
    /// identity is exact on a finite horizon whether or not the run drained.
    fn littles_law(&self, end: SimTime) -> LittlesLaw {
        let t = end.as_secs_f64();
        let unfinished_ns: u128 = self.in_flight.values().map(|arrived| u128::from(end.since(*arrived).0)).sum();
        let admitted = self.admitted + self.in_flight.len() as u64;
        let (l, lambda) = if t > 0.0 { (self.whole_run_in_system / t, admitted as f64 / t) } else { (0.0, 0.0) };
        let sojourn_s = (self.admitted_sojourn_ns + unfinished_ns) as f64 / 1e9;
        let w = if admitted > 0 { sojourn_s / admitted as f64 } else { 0.0 };
        let lambda_w = lambda * w;
        let relative_error = if l > 0.0 { (l - lambda_w).abs() / l } else { lambda_w.abs() };
        LittlesLaw { l, lambda_per_s: lambda, w_s: w, lambda_w, relative_error, holds: relative_error <= 1e-6 }
    }
}

fn names(map: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    map.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}
