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
//! region at the router once detected.
//!
//! With `[[tenants]]`, the front door (`frontdoor.rs`) stands before the
//! global router: populations' requests become their tenants' requests,
//! its clients time out and retry (a request failed by a failure
//! included), and each attempt is routed as a request of its own.
//! Without, a failed request is not retried: it counts as failed.
//!
//! The report: each measured request (each attempt, behind a front door)
//! is counted, O(1), in the fleet's breakdown by region and model and in
//! its SLO window as it is answered (`metrics::fleet_breakdown`,
//! `metrics::fleet_windows`).
//!
//! Autoscaling (`autoscale.rs`, `coldstart.rs`): an autoscaled pool's core
//! holds its every slot; a parked slot is held down as a failure holds a
//! replica (so the two compose), a scale-in drains (`ReplicaDrain`) and
//! parks the replica once idle, and a finished cold start opens its slot.

mod autoscale;
mod coldstart;
mod failures;
mod frontdoor;
mod performability;
mod pool;
mod router;
mod users;

use super::limits::{self, run_end, window};
use super::llm::summary;
use crate::core::llm::{Action, Input, Served, StepShape};
use crate::core::{Outcome, RequestId, Slab};
use crate::engine::{Clock, RngStreams};
use crate::metrics::fleet::{FleetPoolSummary, FleetSummary};
use crate::metrics::fleet_breakdown::FleetBreakdown;
use crate::metrics::fleet_windows::SloWindows;
use crate::metrics::recorder::Recorded;
use crate::metrics::timeline::Levels;
use crate::metrics::Recorder;
use crate::scenario::schema::FailureKind;
use crate::scenario::{FleetConfig, RunConfig, Scenario};
use crate::sim::frontdoor::{self as door, FrontDoor};
use crate::time::{SimDuration, SimTime};
use crate::workload::tenants::TenantArrival;
use autoscale::{Autoscaler, ScaleEvent, SlotChange};
use failures::{FailureEvent, Failures};
use frontdoor::{Asked, Doorway, Placed};
use pool::{Level, PoolRun};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use router::GlobalRouter;
use std::collections::HashMap;
use users::{Sent, Users};

/// Runs the fleet over its populations' arrivals, with modeled step times.
pub(crate) fn run(scenario: &Scenario, fleet: &FleetConfig, seed: u64, run: &RunConfig) -> Recorded {
    match fleet.performability {
        Some(level_run) => performability::run(fleet, seed, run, level_run, &|steady, level, down| {
            capacity_level(scenario, steady, seed, level, down)
        }),
        None => FleetRun::new(scenario, fleet, seed, run).run(),
    }
}

/// One capacity level of a performability run: the fleet request by
/// request with `down[p]` replicas of pool `p` held down, and what each
/// pool measured.
fn capacity_level(
    scenario: &Scenario,
    fleet: &FleetConfig,
    seed: u64,
    run: &RunConfig,
    down: &[u32],
) -> (Recorded, Vec<performability::Measured>) {
    let mut r = FleetRun::new(scenario, fleet, seed, run);
    for (p, &d) in down.iter().enumerate() {
        r.hold_down(p as u32, d);
    }
    r.simulate();
    let end = r.clock.end();
    let pools = r
        .pools
        .iter_mut()
        .map(|p| {
            p.integrate(end, &r.recorder);
            performability::Measured {
                routed: p.routed_measured,
                good: p.tokens.good(),
                outstanding_s: p.outstanding_s,
            }
        })
        .collect();
    (r.finish(), pools)
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
    FrontDoor(door::Event),
    Scale(ScaleEvent),
}

/// What a request answered without being served had: nothing but its prompt.
fn refused(now: SimTime, input: &Input) -> Served {
    let prompt_tokens = match *input {
        Input::Arrival { prompt_tokens, .. } => prompt_tokens,
        _ => 0,
    };
    Served { arrived: now, admitted: None, first_token: None, last_token: None, prompt_tokens, output_tokens: 0 }
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
    transient: bool,
}

/// A core's answer: the pool, the request, its outcome, what it was
/// served, and whether it is a `failed` its server's loss caused.
type Answer = (u32, RequestId, Outcome, Served, bool);

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
    answers: Vec<Answer>,
    recorder: Recorder,
    breakdown: FleetBreakdown,
    slo_windows: SloWindows,
    failures: Failures<'a>,
    /// The front door, with `[[tenants]]`; what it asks of the fleet, and
    /// where each request it dispatched is.
    door: Option<FrontDoor<'a>>,
    doorway: Doorway,
    placed: HashMap<u64, Placed>,
    /// Draws which requests a bad rollout answers `failed`.
    errors: ChaCha8Rng,
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
        let measured = (SimTime::ZERO + run.warmup, SimTime::ZERO + run.duration.unwrap_or_default());
        let door = fleet.frontdoor.as_deref().map(|f| FrontDoor::new(f, &streams, measured, width, kv_total));
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
            breakdown: FleetBreakdown::new(
                fleet.regions.iter().map(|r| r.name.clone()).collect(),
                fleet.models.clone(),
                fleet.pools.iter().map(|p| (p.region, p.model)).collect(),
            ),
            slo_windows: SloWindows::new(fleet.slo_window, fleet.slo_target, fleet.failures.len()),
            failures,
            door,
            doorway: Doorway::default(),
            placed: HashMap::new(),
            errors: streams.stream("failures/errors"),
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
        self.simulate();
        self.finish()
    }

    /// Handles every event until the clock stops.
    fn simulate(&mut self) {
        while let Some((now, event)) = self.clock.pop() {
            if !self.clock.advance(now) {
                break;
            }
            self.handle(now, event);
            self.record_levels(now);
        }
    }

    /// Pool `pool`'s first `count` replicas are down from the start, for
    /// the whole run.
    fn hold_down(&mut self, pool: u32, count: u32) {
        for replica in 0..count {
            self.replica(SimTime::ZERO, pool, replica, true);
        }
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
                if let (true, Input::Arrival { request, .. }) = (self.door.is_some(), input) {
                    self.placed.insert(request.0, Placed::InPool { pool });
                }
                self.enter(now, pool, input);
            }
            Event::Deliver { slot } => {
                let Some(r) = self.returning.remove(slot) else { return };
                self.in_transit -= 1;
                self.record_answer(now, (r.pool, r.request, r.outcome, r.served, r.transient), true);
            }
            Event::Failure(f) => self.failure(now, f),
            Event::FrontDoor(e) => self.door_event(now, e),
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
                self.slo_windows.incident(failure as usize, starts);
                self.failures.mark(failure, starts);
                match (f.kind, f.pool) {
                    (FailureKind::RegionOutage, _) => self.failures.outage(failure, starts),
                    (FailureKind::BadRollout | FailureKind::Stragglers, Some(pool)) => {
                        let p = &mut self.pools[pool];
                        (p.slowdown, p.error_rate) = self.failures.degraded(pool, p.llm.replicas);
                        return;
                    }
                    _ => {}
                }
                for &(pool, replica) in &f.replicas {
                    self.replica(now, pool as u32, replica, starts);
                }
            }
            FailureEvent::Detected { failure } => {
                let f = self.failures.failure(failure);
                match f.users {
                    Some(users) => self.router.partition(users, f.region, true),
                    None => self.router.drain(f.region),
                }
                self.failures.detected(failure, now);
            }
            FailureEvent::Readmitted { failure } => {
                let f = self.failures.failure(failure);
                match f.users {
                    Some(users) => self.router.partition(users, f.region, false),
                    None => self.router.readmit(f.region),
                }
            }
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
            let p = &mut run.pools[pool as usize];
            let held = &mut p.down[replica as usize];
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
            match input {
                Some(Input::ReplicaFailed { .. }) => p.replicas_down += 1,
                Some(_) => p.replicas_down -= 1,
                None => {}
            }
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
    /// arrival scheduled, then routed. Behind a front door, it is its tenant's request there, whose
    /// attempts the door numbers and routes.
    fn arrival(&mut self, now: SimTime, population: usize) {
        let users = &mut self.populations[population];
        let Some(sent) = users.send() else { return };
        let request = RequestId(self.offered);
        self.offered += 1;
        self.clock.arrived();
        if self.door.is_none() {
            self.recorder.arrival(request, &sent.arrival);
        }
        if self.max_requests.is_some_and(|max| self.offered >= max) {
            self.populations.iter_mut().for_each(Users::stop);
        }
        if let Some(at) = self.populations[population].next_at() {
            self.clock.schedule(at, Event::Arrival { population: population as u32 });
        }
        if self.door.is_some() {
            let tenant = self.fleet.populations[population].tenant;
            self.knock(now, sent, tenant);
            return;
        }
        let input = Input::Arrival {
            request,
            prompt_tokens: sent.arrival.prompt_tokens,
            output_tokens: sent.arrival.output_tokens,
            prefix: None,
            session: None,
        };
        self.dispatch(now, input, sent.region, sent.model);
    }

    /// Routes a request of `model` from users near `region` to a pool:
    /// into it now in the same region, else half an RTT later.
    fn dispatch(&mut self, now: SimTime, input: Input, region: usize, model: usize) {
        let Input::Arrival { request, .. } = input else { return };
        let pools = &self.pools;
        let Some(pool) = self.router.route(region, model, |p| pools[p as usize].core.outstanding()) else {
            return;
        };
        let p = &mut self.pools[pool as usize];
        p.routed += 1;
        p.routed_measured += u64::from(self.recorder.measures(now));
        if self.recorder.measures(now) {
            self.breakdown.offered(request, region, model, pool as usize);
        }
        let serving = self.fleet.pools[pool as usize].region;
        self.failures.routed(serving, now);
        if self.failures.cut_off(region, serving, now) {
            // Its connection fails at once: it never leaves its users' region.
            self.answers.push((pool, request, Outcome::Failed, refused(now, &input), true));
            return;
        }
        let rtt = self.fleet.rtt[region][serving];
        let behind_door = self.door.is_some();
        if rtt == SimDuration::ZERO {
            if behind_door {
                self.placed.insert(request.0, Placed::InPool { pool });
            }
            self.enter(now, pool, input);
            return;
        }
        self.crossing.insert(request.0, Crossing { sent: now, rtt });
        self.in_transit += 1;
        let slot = self.travelling.insert((pool, input));
        if behind_door {
            self.placed.insert(request.0, Placed::Travelling { slot });
        }
        self.clock.schedule(now + SimDuration(rtt.0 / 2), Event::Reach { slot });
    }

    /// A request reaches pool `pool`: its core takes it, unless a bad
    /// rollout there answers it `failed` (drawn at its error rate).
    fn enter(&mut self, now: SimTime, pool: u32, input: Input) {
        let rate = self.pools[pool as usize].error_rate;
        if let (true, Input::Arrival { request, .. }) = (rate > 0.0, input) {
            if self.errors.random::<f64>() < rate {
                self.answers.push((pool, request, Outcome::Failed, refused(now, &input), true));
                return;
            }
        }
        self.touch(now, pool, |run| run.input(now, pool, input));
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

    /// An input for pool `pool`'s core, and its actions carried out. A
    /// `failed` answer is transient when its replica failed, or when it
    /// arrived with every replica of its pool down.
    fn input(&mut self, now: SimTime, pool: u32, input: Input) {
        let mut actions = std::mem::take(&mut self.actions);
        self.pools[pool as usize].core.handle(now, input, &mut actions);
        for action in actions.drain(..) {
            match action {
                Action::StartStep { replica, shape, swap_bytes } => {
                    self.start_step(now, pool, replica, shape, swap_bytes)
                }
                Action::Respond { request, outcome, served } => {
                    let transient = outcome == Outcome::Failed
                        && match input {
                            Input::ReplicaFailed { .. } => true,
                            Input::Arrival { .. } => {
                                let p = &self.pools[pool as usize];
                                p.replicas_down == p.llm.replicas
                            }
                            _ => false,
                        };
                    self.answers.push((pool, request, outcome, served, transient))
                }
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
        let took = match p.slowdown[replica as usize] {
            1.0 => cost.time + swap,
            slower => SimDuration::from_secs_f64((cost.time + swap).as_secs_f64() * slower),
        };
        self.clock.schedule(now + took, Event::StepDone { pool, replica });
    }

    /// The cores' answers: recorded now, or, for requests from another
    /// region, sent back over the second half of the RTT.
    fn answer(&mut self, now: SimTime) {
        let mut answers = std::mem::take(&mut self.answers);
        for (pool, request, outcome, mut served, transient) in answers.drain(..) {
            match self.crossing.remove(&request.0) {
                None => self.record_answer(now, (pool, request, outcome, served, transient), false),
                Some(c) => {
                    let back = SimDuration(c.rtt.0 - c.rtt.0 / 2);
                    served.arrived = c.sent;
                    served.first_token = served.first_token.map(|t| t + back);
                    self.in_transit += 1;
                    let slot = self.returning.insert(Returning { pool, request, outcome, served, transient });
                    self.clock.schedule(now + back, Event::Deliver { slot });
                }
            }
        }
        self.answers = answers;
    }

    /// Records a caller's answer as it reaches its user now; a completed
    /// request served from another region adds its bytes to the egress.
    /// Behind a front door, the door sees it first: its attempt arrived at
    /// the gateway, and a preempted request's answer is not terminal.
    fn record_answer(&mut self, now: SimTime, answer: Answer, crossed: bool) {
        let (pool, request, outcome, mut served, transient) = answer;
        match self.door_answer(now, request, outcome, &served, transient) {
            Some(sent) => served.arrived = sent,
            None => return,
        }
        let served = &served;
        self.recorder.respond(now, request, outcome, served.arrived, served.admitted);
        let slo = &self.pools[pool as usize].llm.slo;
        if let Some(verdict) = self.breakdown.answered(now, request, pool as usize, outcome, served, slo) {
            self.slo_windows.answered(now, verdict);
        }
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
        let held = self.door.as_ref().map_or(0, FrontDoor::queued);
        let levels = Levels {
            in_system: (load.outstanding + self.in_transit + held) as f64,
            waiting: (load.waiting + held) as f64,
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
        let kv_free = self.totals.load.kv_used_blocks == 0;
        let FleetRun {
            scenario,
            fleet,
            seed,
            pools,
            recorder,
            egress,
            failures,
            breakdown,
            slo_windows,
            door,
            autoscale,
            ..
        } = self;
        let autoscaling = autoscale.finish(end, &recorder);
        let run_end = run_end(ending, idle);
        let drained = run_end.drained;
        let mut recorded = recorder.finish(&scenario.name, seed, run_end, false);
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
        let mut cost: Vec<(f64, f64)> = summaries.iter().map(|p| (p.llm.cost.gpu_hours, p.llm.cost.usd)).collect();
        // An autoscaled pool's section describes its every slot; what it
        // billed is its nodes' time from provisioning to release.
        // Bills come per autoscaled pool in the scenario's order; matched by
        // index, as two pools may serve one model in one region.
        let autoscaled = fleet.pools.iter().enumerate().filter(|(_, p)| p.autoscale.is_some()).map(|(i, _)| i);
        for (i, bill) in autoscaled.zip(autoscaling.iter().flat_map(|a| &a.pools)) {
            cost[i] = (bill.gpu_hours, bill.usd);
        }
        let groups = breakdown.finish(&cost, span, recorded.summary.run.drained);
        let mut incidents = failures.summaries();
        let (slo_windows, rows) = slo_windows.finish(end, &mut incidents);
        recorded.slo_windows = rows;
        recorded.summary.fleet = Some(FleetSummary {
            cross_region_requests: egress.0,
            egress_bytes: egress.1,
            egress_usd: egress.2,
            pools: summaries,
            total: groups.total,
            by_region: groups.by_region,
            by_users_region: groups.by_users_region,
            by_model: groups.by_model,
            slo_windows,
            replica_failures: failures.drawn,
            incidents,
            performability: None,
            autoscaling,
        });
        if let Some(d) = door {
            let (frontdoor, holds) = d.finish(idle && kv_free, drained, span);
            recorded.summary.invariants.all_hold &= holds;
            recorded.summary.frontdoor = Some(frontdoor);
        }
        recorded.summary.backend = "sim".into();
        recorded
    }
}

impl FleetRun<'_> {
    /// A population's request, sent through the front door as `tenant`'s.
    pub(super) fn knock(&mut self, now: SimTime, sent: Sent, tenant: u32) {
        let origin = (sent.region * self.fleet.models.len() + sent.model) as u32;
        let arrival = TenantArrival {
            at: now,
            tenant,
            prompt_tokens: sent.arrival.prompt_tokens,
            output_tokens: sent.arrival.output_tokens,
        };
        self.with_door(now, |door, doorway, recorder, mut sched| {
            door.arrive(now, arrival, origin, doorway, recorder, &mut sched)
        });
    }

    /// One of the front door's own events (a retry, a client's timeout).
    pub(super) fn door_event(&mut self, now: SimTime, event: door::Event) {
        self.with_door(now, |door, doorway, recorder, mut sched| {
            door.handle(now, event, doorway, recorder, &mut sched)
        });
    }

    /// Runs `f` on the front door, then carries out what it asked.
    fn with_door(
        &mut self,
        now: SimTime,
        f: impl FnOnce(
            &mut crate::sim::frontdoor::FrontDoor<'_>,
            &mut Doorway,
            &mut crate::metrics::Recorder,
            &mut dyn FnMut(SimTime, door::Event),
        ),
    ) {
        let Some(door) = self.door.as_mut() else { return };
        let mut doorway = std::mem::take(&mut self.doorway);
        doorway.kv_used_blocks = self.totals.load.kv_used_blocks;
        let clock = &mut self.clock;
        f(door, &mut doorway, &mut self.recorder, &mut |at, e| clock.schedule(at, Event::FrontDoor(e)));
        for asked in doorway.asked.drain(..) {
            match asked {
                Asked::Submit { input, origin } => {
                    let models = self.fleet.models.len();
                    let (region, model) = (origin as usize / models, origin as usize % models);
                    self.dispatch(now, input, region, model);
                }
                Asked::Cancel { request } => self.cancel(now, request),
            }
        }
        self.doorway = doorway;
    }

    /// Stops `request` wherever it is: on its way, it is answered
    /// `cancelled` now; in its pool, the core answers it.
    fn cancel(&mut self, now: SimTime, request: RequestId) {
        match self.placed.get(&request.0).copied() {
            Some(Placed::Travelling { slot }) => {
                let Some((pool, input)) = self.travelling.remove(slot) else { return };
                self.in_transit -= 1;
                self.placed.remove(&request.0);
                let sent = self.crossing.remove(&request.0).map_or(now, |c| c.sent);
                self.answers.push((pool, request, Outcome::Cancelled, refused(sent, &input), false));
            }
            Some(Placed::InPool { pool }) => {
                self.touch(now, pool, |run| run.input(now, pool, Input::Cancel { request }))
            }
            None => {}
        }
    }

    /// The front door's view of an answer reaching its user: when its
    /// attempt reached the gateway, or None when it is not terminal (a
    /// preempted request, requeued).
    pub(super) fn door_answer(
        &mut self,
        now: SimTime,
        request: RequestId,
        outcome: Outcome,
        served: &Served,
        transient: bool,
    ) -> Option<SimTime> {
        let Some(door) = self.door.as_mut() else { return Some(served.arrived) };
        self.placed.remove(&request.0);
        let clock = &mut self.clock;
        let mut sched = |at, e| clock.schedule(at, Event::FrontDoor(e));
        door.on_response(now, request, outcome, served, transient, &mut sched)
    }
}
