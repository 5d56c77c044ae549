//! The sim driver for a fleet: pools of several models in several regions,
//! each its own LLM core (routing within a pool as in a single-pool run),
//! behind a global router, under one virtual clock.
//!
//! A population's request draws its user's region and its model; the
//! [`router::GlobalRouter`] picks a pool serving that model, nearest
//! first, spilling over to the next region above a load limit. A request
//! served in another region than its user's crosses the RTT between them:
//! it reaches the pool half an RTT after it was sent, and its answer (and
//! every token) reaches the user half an RTT after the pool produced it,
//! so TTFT and end-to-end latency grow by the RTT and TPOT does not; its
//! prompt and output bytes are billed at the serving region's egress
//! price. Within a region the RTT is 0 and nothing is added.
//!
//! Per event the work is the touched pool's (its core, its KV integral,
//! the fleet's level totals updated from its change), never a pass over
//! every pool; pending events are one arrival per population, a step and
//! a timer per busy replica, and one per request or answer crossing
//! regions. A fleet of one pool in one region runs the same events in the
//! same order as the single-pool driver, so its summary's common sections
//! are that run's.
//!
//! Failures (`failures.rs`): a replica going down is a `ReplicaFailed`
//! input to its pool's core (its requests answered `failed`), counted per
//! replica so overlapping failures (an outage during a drawn GPU failure)
//! bring it back only when the last ends; a region outage drains the
//! region at the router once detected. No front door sits in front of a
//! fleet, so a failed request is not retried: it counts as failed.
//!
//! Autoscaling (`autoscale.rs`, `coldstart.rs`): an autoscaled pool's core
//! holds its every slot; a parked slot is held down as a failure holds a
//! replica (so the two compose), a scale-in drains (`ReplicaDrain`) and
//! parks the replica once idle, and a finished cold start opens its slot.

mod autoscale;
mod coldstart;
mod failures;
mod pool;
mod router;
mod users;

use super::limits::{self, run_end, window};
use super::llm::summary;
use crate::core::llm::{Action, Input, Served, StepShape};
use crate::core::{Outcome, RequestId, Slab};
use crate::engine::{Clock, RngStreams};
use crate::metrics::fleet::{FleetPoolSummary, FleetSummary};
use crate::metrics::recorder::Recorded;
use crate::metrics::timeline::Levels;
use crate::metrics::Recorder;
use crate::scenario::{FleetConfig, RunConfig, Scenario};
use crate::time::{SimDuration, SimTime};
use autoscale::{Autoscaler, ScaleEvent, SlotChange};
use failures::{FailureEvent, Failures};
use pool::{Level, PoolRun};
use router::GlobalRouter;
use std::collections::HashMap;
use users::Users;

/// Runs the fleet over its populations' arrivals, with modeled step times.
pub(crate) fn run(scenario: &Scenario, fleet: &FleetConfig, seed: u64, run: &RunConfig) -> Recorded {
    FleetRun::new(scenario, fleet, seed, run).run()
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Arrival {
        population: u32,
    },
    StepDone {
        pool: u32,
        replica: u32,
    },
    Timer {
        pool: u32,
        replica: u32,
        at: SimTime,
    },
    /// A request crossing regions reaches its pool (held in `travelling`).
    Reach {
        slot: u32,
    },
    /// An answer crossing back reaches its user (held in `returning`).
    Deliver {
        slot: u32,
    },
    Failure(FailureEvent),
    Scale(ScaleEvent),
}

/// A request served in another region than its user's.
#[derive(Debug, Clone, Copy)]
struct Crossing {
    /// When its user sent it.
    sent: SimTime,
    rtt: SimDuration,
}

/// An answer on its way back to its user.
struct Returning {
    pool: u32,
    request: RequestId,
    outcome: Outcome,
    served: Served,
}

struct FleetRun<'a> {
    scenario: &'a Scenario,
    fleet: &'a FleetConfig,
    seed: u64,
    populations: Vec<Users<'a>>,
    router: GlobalRouter,
    pools: Vec<PoolRun<'a>>,
    /// Requests offered so far (the next request's id).
    offered: u64,
    max_requests: Option<u64>,
    travelling: Slab<(u32, Input)>,
    returning: Slab<Returning>,
    crossing: HashMap<u64, Crossing>,
    /// Requests and answers between regions.
    in_transit: u64,
    /// Σ of every pool's level, updated from the touched pool's change.
    totals: Level,
    kv_total: f64,
    egress: (u64, f64, f64),
    actions: Vec<Action>,
    answers: Vec<(u32, RequestId, Outcome, Served)>,
    recorder: Recorder,
    failures: Failures<'a>,
    autoscale: Autoscaler<'a>,
    slot_changes: Vec<SlotChange>,
    clock: Clock<Event>,
}

impl<'a> FleetRun<'a> {
    fn new(scenario: &'a Scenario, fleet: &'a FleetConfig, seed: u64, run: &RunConfig) -> Self {
        let streams = RngStreams::new(seed);
        let width = window(scenario, run);
        let mut clock = Clock::new(limits::stop(run), run.drain).with_event_cap(run.max_events);
        let recorder = Recorder::new(run.warmup, run.measure_until, fleet.replicas(), width);
        let populations: Vec<Users> =
            fleet.populations.iter().enumerate().map(|(i, p)| Users::new(i, p, &streams, run)).collect();
        for (i, u) in populations.iter().enumerate() {
            if let Some(at) = u.next_at() {
                clock.schedule(at, Event::Arrival { population: i as u32 });
            }
        }
        let mut offset = 0;
        let pools = fleet
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let pool = PoolRun::new(i, &p.llm, offset, &streams);
                offset += p.llm.replicas;
                pool
            })
            .collect();
        let failures = Failures::new(fleet, &streams, limits::stop(run), |at, e| clock.schedule(at, Event::Failure(e)));
        let mut parked = Vec::new();
        let autoscale =
            Autoscaler::new(fleet, limits::stop(run), &mut parked, |at, e| clock.schedule(at, Event::Scale(e)));
        let kv_total = fleet.pools.iter().map(|p| p.llm.replica.kv_blocks * u64::from(p.llm.replicas)).sum::<u64>();
        let mut fleet_run = FleetRun {
            scenario,
            fleet,
            seed,
            populations,
            router: GlobalRouter::new(fleet),
            pools,
            offered: 0,
            max_requests: run.max_requests,
            travelling: Slab::default(),
            returning: Slab::default(),
            crossing: HashMap::new(),
            in_transit: 0,
            totals: Level::default(),
            kv_total: kv_total.max(1) as f64,
            egress: (0, 0.0, 0.0),
            actions: Vec::new(),
            answers: Vec::new(),
            recorder,
            failures,
            autoscale,
            slot_changes: Vec::new(),
            clock,
        };
        for (pool, change) in parked {
            fleet_run.apply(SimTime::ZERO, pool, change);
        }
        fleet_run
    }

    fn run(mut self) -> Recorded {
        while let Some((now, event)) = self.clock.pop() {
            if !self.clock.advance(now) {
                break;
            }
            self.handle(now, event);
            self.record_levels(now);
        }
        self.finish()
    }

    fn handle(&mut self, now: SimTime, event: Event) {
        match event {
            Event::Arrival { population } => self.arrival(now, population as usize),
            Event::StepDone { pool, replica } => {
                self.step_done(now, pool, replica);
                self.settle(now, pool, replica);
            }
            Event::Timer { pool, replica, at } => {
                self.touch(now, pool, |run| run.input(now, pool, Input::Timer { replica, at }))
            }
            Event::Reach { slot } => {
                let Some((pool, input)) = self.travelling.remove(slot) else { return };
                self.in_transit -= 1;
                self.touch(now, pool, |run| run.input(now, pool, input));
            }
            Event::Deliver { slot } => {
                let Some(r) = self.returning.remove(slot) else { return };
                self.in_transit -= 1;
                self.record_answer(now, r.pool, r.request, r.outcome, &r.served, true);
            }
            Event::Failure(f) => self.failure(now, f),
            Event::Scale(e) => self.scale(now, e),
        }
        self.answer(now);
    }

    /// `replica` of `pool` finished its step.
    fn step_done(&mut self, now: SimTime, pool: u32, replica: u32) {
        self.touch(now, pool, |run| {
            let p = &mut run.pools[pool as usize];
            if let Some((took, decode_seqs)) = p.usage.step_done(now, replica) {
                p.tokens.step(took, decode_seqs);
            }
            run.recorder.batch_finished(now, p.offset + replica);
            run.input(now, pool, Input::StepDone { replica });
        });
    }

    fn failure(&mut self, now: SimTime, event: FailureEvent) {
        match event {
            FailureEvent::Start { failure } | FailureEvent::End { failure } => {
                let starts = matches!(event, FailureEvent::Start { .. });
                let f = self.failures.failure(failure);
                if f.kind == crate::scenario::schema::FailureKind::RegionOutage {
                    self.failures.outage(failure, starts);
                }
                for &(pool, replica) in &f.replicas {
                    self.replica(now, pool as u32, replica, starts);
                }
            }
            FailureEvent::Detected { failure } => {
                self.router.drain(self.failures.failure(failure).region);
                self.failures.detected(failure, now);
            }
            FailureEvent::Readmitted { failure } => self.router.readmit(self.failures.failure(failure).region),
            FailureEvent::ReplicaDown { pool, replica } => {
                self.failures.drawn += 1;
                self.replica(now, pool, replica, true);
            }
            FailureEvent::ReplicaUp { pool, replica } => self.replica(now, pool, replica, false),
        }
    }

    /// One more failure holds `replica` of `pool` down (`down`), or one
    /// fewer: it fails on the first and is repaired after the last.
    fn replica(&mut self, now: SimTime, pool: u32, replica: u32, down: bool) {
        self.touch(now, pool, |run| {
            let held = &mut run.pools[pool as usize].down[replica as usize];
            let input = match down {
                true => {
                    *held += 1;
                    (*held == 1).then_some(Input::ReplicaFailed { replica })
                }
                false => {
                    *held -= 1;
                    (*held == 0).then_some(Input::ReplicaRepaired { replica })
                }
            };
            if let Some(input) = input {
                run.input(now, pool, input);
            }
        });
        if down {
            self.settle(now, pool, replica);
        }
    }

    /// An autoscaler event, its changes carried out on its pool.
    fn scale(&mut self, now: SimTime, event: ScaleEvent) {
        let (ScaleEvent::Evaluate { pool } | ScaleEvent::Ready { pool, .. }) = event;
        let load = self.pools[pool as usize].core.load();
        let mut changes = std::mem::take(&mut self.slot_changes);
        let clock = &mut self.clock;
        self.autoscale
            .event(now, event, load, &self.recorder, &mut changes, |at, e| clock.schedule(at, Event::Scale(e)));
        for change in changes.drain(..) {
            self.apply(now, pool, change);
        }
        self.slot_changes = changes;
    }

    /// A slot change for pool `pool`'s core: a parked slot is held down
    /// as a failure holds it, so a slot failed and parked opens only when
    /// both are over.
    fn apply(&mut self, now: SimTime, pool: u32, change: SlotChange) {
        match change {
            SlotChange::Open(slot) => self.replica(now, pool, slot, false),
            SlotChange::Park(slot) => self.replica(now, pool, slot, true),
            SlotChange::Undrain(slot) => {
                self.touch(now, pool, |run| run.input(now, pool, Input::ReplicaRepaired { replica: slot }))
            }
            SlotChange::Drain(slot) => {
                self.touch(now, pool, |run| run.input(now, pool, Input::ReplicaDrain { replica: slot }));
                self.settle(now, pool, slot);
            }
        }
        if let Some(serving) = self.autoscale.serving(pool) {
            self.router.resize(pool, serving);
        }
    }

    /// A draining replica of an autoscaled pool that holds nothing now is released.
    fn settle(&mut self, now: SimTime, pool: u32, replica: u32) {
        if !self.autoscale.scales(pool) || self.pools[pool as usize].core.replicas()[replica as usize].outstanding() > 0
        {
            return;
        }
        if let Some(change) = self.autoscale.idle(pool, replica, now, &self.recorder) {
            self.apply(now, pool, change);
        }
    }

    /// The population's request due now: offered, recorded, its next
    /// arrival scheduled, then routed.
    fn arrival(&mut self, now: SimTime, population: usize) {
        let users = &mut self.populations[population];
        let Some(sent) = users.send() else { return };
        let request = RequestId(self.offered);
        self.offered += 1;
        self.clock.arrived();
        self.recorder.arrival(request, &sent.arrival);
        if self.max_requests.is_some_and(|max| self.offered >= max) {
            self.populations.iter_mut().for_each(Users::stop);
        }
        if let Some(at) = self.populations[population].next_at() {
            self.clock.schedule(at, Event::Arrival { population: population as u32 });
        }
        let input = Input::Arrival {
            request,
            prompt_tokens: sent.arrival.prompt_tokens,
            output_tokens: sent.arrival.output_tokens,
            prefix: None,
            session: None,
        };
        let pools = &self.pools;
        let Some(pool) = self.router.route(sent.region, sent.model, |p| pools[p as usize].core.outstanding()) else {
            return;
        };
        self.pools[pool as usize].routed += 1;
        self.failures.routed(self.fleet.pools[pool as usize].region, now);
        let rtt = self.fleet.rtt[sent.region][self.fleet.pools[pool as usize].region];
        if rtt == SimDuration::ZERO {
            self.touch(now, pool, |run| run.input(now, pool, input));
            return;
        }
        self.crossing.insert(request.0, Crossing { sent: now, rtt });
        self.in_transit += 1;
        let slot = self.travelling.insert((pool, input));
        self.clock.schedule(now + SimDuration(rtt.0 / 2), Event::Reach { slot });
    }

    /// Runs `f`, which changes pool `pool` only: its KV use is integrated
    /// up to now first, and the fleet's totals follow its change.
    fn touch(&mut self, now: SimTime, pool: u32, f: impl FnOnce(&mut Self)) {
        let p = &mut self.pools[pool as usize];
        p.integrate(now, &self.recorder);
        let before = p.level();
        f(self);
        let p = &mut self.pools[pool as usize];
        let after = p.level();
        p.usage.hold_kv(after.load.kv_used_blocks, self.recorder.measures(now));
        self.autoscale.levels(pool, now, after.busy, after.load.outstanding);
        self.totals = Level {
            load: self.totals.load.replace(before.load, after.load),
            busy: self.totals.busy + after.busy - before.busy,
        };
    }

    /// An input for pool `pool`'s core, and its actions carried out.
    fn input(&mut self, now: SimTime, pool: u32, input: Input) {
        let mut actions = std::mem::take(&mut self.actions);
        self.pools[pool as usize].core.handle(now, input, &mut actions);
        for action in actions.drain(..) {
            match action {
                Action::StartStep { replica, shape, swap_bytes } => {
                    self.start_step(now, pool, replica, shape, swap_bytes)
                }
                Action::Respond { request, outcome, served } => self.answers.push((pool, request, outcome, served)),
                Action::ArmTimer { replica, at } => self.clock.schedule(at, Event::Timer { pool, replica, at }),
                // The resolver refuses disaggregated pools in a fleet.
                Action::TransferKv { .. } => {}
            }
        }
        self.actions = actions;
    }

    /// `replica` of `pool` starts a step of its modeled time (step model
    /// plus KV swap over PCIe).
    fn start_step(&mut self, now: SimTime, pool: u32, replica: u32, shape: StepShape, swap_bytes: u64) {
        let p = &mut self.pools[pool as usize];
        let cost = p.llm.step.cost(&shape);
        let swap = SimDuration::from_secs_f64(swap_bytes as f64 / p.llm.gpu.pcie_bandwidth_bytes_per_s);
        let measured_bytes = self.recorder.measures(now).then_some(cost.bytes_per_gpu);
        let running = p.core.replicas()[replica as usize].running();
        self.recorder.batch_started(now, p.offset + replica, running as u32);
        p.usage.step_started(now, replica, shape.decode_seqs, measured_bytes);
        self.clock.schedule(now + (cost.time + swap), Event::StepDone { pool, replica });
    }

    /// The cores' answers: recorded now, or, for requests from another
    /// region, sent back over the second half of the RTT.
    fn answer(&mut self, now: SimTime) {
        let mut answers = std::mem::take(&mut self.answers);
        for (pool, request, outcome, mut served) in answers.drain(..) {
            match self.crossing.remove(&request.0) {
                None => self.record_answer(now, pool, request, outcome, &served, false),
                Some(c) => {
                    let back = SimDuration(c.rtt.0 - c.rtt.0 / 2);
                    served.arrived = c.sent;
                    served.first_token = served.first_token.map(|t| t + back);
                    self.in_transit += 1;
                    let slot = self.returning.insert(Returning { pool, request, outcome, served });
                    self.clock.schedule(now + back, Event::Deliver { slot });
                }
            }
        }
        self.answers = answers;
    }

    /// Records a caller's answer as it reaches its user now; a completed
    /// request served from another region adds its bytes to the egress.
    fn record_answer(
        &mut self,
        now: SimTime,
        pool: u32,
        request: RequestId,
        outcome: Outcome,
        served: &Served,
        crossed: bool,
    ) {
        self.recorder.respond(now, request, outcome, served.arrived, served.admitted);
        if outcome == Outcome::Failed {
            self.failures.failed(pool as usize, now);
        }
        if outcome != Outcome::Completed || !self.recorder.measures(served.arrived) {
            return;
        }
        let p = &mut self.pools[pool as usize];
        p.tokens.completed(now, served, &p.llm.slo);
        if crossed {
            let bytes = f64::from(served.prompt_tokens + served.output_tokens) * self.fleet.bytes_per_token;
            let price = self.fleet.regions[self.fleet.pools[pool as usize].region].egress_usd_per_gb;
            self.egress = (self.egress.0 + 1, self.egress.1 + bytes, self.egress.2 + bytes / 1e9 * price);
        }
    }

    /// The fleet's levels from now on.
    fn record_levels(&mut self, now: SimTime) {
        let Level { load, busy } = self.totals;
        let levels = Levels {
            in_system: (load.outstanding + self.in_transit) as f64,
            waiting: load.waiting as f64,
            busy: f64::from(busy),
            kv_used: load.kv_used_blocks as f64 / self.kv_total,
            running: load.running as f64,
        };
        self.recorder.levels(now, levels);
    }

    /// The recorder's summary with the `fleet` section (each pool's own
    /// `llm` section), and, for a fleet of one pool, its `llm` section.
    fn finish(mut self) -> Recorded {
        let end = self.clock.end();
        for p in &mut self.pools {
            p.integrate(end, &self.recorder);
        }
        let ending = self.clock.ending();
        let idle = self.in_transit == 0 && self.pools.iter().all(PoolRun::idle);
        let FleetRun { scenario, fleet, seed, pools, recorder, egress, failures, autoscale, .. } = self;
        let autoscaling = autoscale.finish(end, &recorder);
        let mut recorded = recorder.finish(&scenario.name, seed, run_end(ending, idle), false);
        let span = recorded.summary.run.measure_span_s;
        let servers = &recorded.summary.servers;
        let one_pool = pools.len() == 1;
        let mut summaries = Vec::with_capacity(pools.len());
        for (p, config) in pools.iter().zip(&fleet.pools) {
            // One pool is the whole fleet: its busy fraction is the recorder's, as a single-pool run reports it.
            let busy = match one_pool {
                true => servers.utilization_mean,
                false => {
                    let own = &servers.utilization[p.offset as usize..(p.offset + p.llm.replicas) as usize];
                    own.iter().sum::<f64>() / own.len().max(1) as f64
                }
            };
            let totals = summary::totals(p.llm, &p.core, &p.usage, busy, span);
            let mut llm = p.tokens.finish(&summary::pool_info(p.llm, &p.usage), &totals);
            llm.kv_transfer = p.usage.kv_transfer(p.llm);
            llm.prefix_cache = summary::prefix_cache(p.llm, &p.core);
            summaries.push(FleetPoolSummary {
                region: fleet.regions[config.region].name.clone(),
                model: fleet.models[config.model].clone(),
                routed: p.routed,
                llm,
            });
        }
        if let (true, Some(only)) = (one_pool, pools.into_iter().next()) {
            recorded.summary.llm = Some(summaries[0].llm.clone());
            recorded.cdfs.extend(only.tokens.cdfs());
        }
        recorded.summary.fleet = Some(FleetSummary {
            cross_region_requests: egress.0,
            egress_bytes: egress.1,
            egress_usd: egress.2,
            pools: summaries,
            replica_failures: failures.drawn,
            incidents: failures.summaries(),
            autoscaling,
        });
        recorded.summary.backend = "sim".into();
        recorded
    }
}
