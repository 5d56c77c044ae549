//! The sim driver for LLM serving: the LLM core's replicas against the
//! roofline step-time model, under the virtual clock.
//!
//! A `StartStep` becomes a `StepDone` after `StepModel::cost(shape)` plus
//! any KV swap traffic over PCIe. Pending events are O(replicas): one
//! arrival, one step per busy replica, one flush timer per replica — plus,
//! disaggregated, one per KV transfer in flight. A `TransferKv` becomes a
//! `KvArrived` after the link's latency + bytes / bandwidth; transfers do
//! not contend for the link.
//!
//! One run is an [`LlmRun`]: each event is handled, then the core's actions
//! carried out, the safety gate pumped, callers answered and the levels
//! recorded. Where requests come from is [`requests`]; the pool (core and
//! gate) is [`pool`]; what the GPUs did is [`usage`]; the `llm` summary
//! section's parts are [`summary`]; how steps end (modeled or live) is
//! [`steps`]. The front door and the safety gate are stages with their own
//! events, wrapped in [`event::Event`].

mod event;
mod pool;
mod requests;
mod steps;
pub(super) mod summary;
pub(super) mod usage;

pub(crate) use steps::{Steps, Waited};

use super::frontdoor::{self, FrontDoor};
use super::limits::{self, run_end, window};
use super::safety::{Answer, GateEvent};
use crate::core::llm::{Action, Input, Replica, Served, StepShape};
use crate::core::{Outcome, RequestId};
use crate::engine::{Clock, RngStreams};
use crate::metrics::audit::KvAtEnd;
use crate::metrics::llm::LlmRecorder;
use crate::metrics::recorder::Recorded;
use crate::metrics::timeline::Levels;
use crate::metrics::Recorder;
use crate::scenario::{LlmConfig, RunConfig, Scenario};
use crate::time::{SimDuration, SimTime};
use event::Event;
use pool::Primary;
use requests::Requests;
use usage::PoolUsage;

/// Runs the LLM core over the scenario's arrivals, with modeled step times.
pub(crate) fn run(scenario: &Scenario, llm: &LlmConfig, seed: u64, run: &RunConfig) -> Recorded {
    drive(scenario, llm, seed, run, &mut steps::Modeled)
}

/// Runs the LLM core over the scenario's arrivals, with step ends from
/// `steps`.
pub(crate) fn drive(
    scenario: &Scenario,
    llm: &LlmConfig,
    seed: u64,
    run: &RunConfig,
    steps: &mut dyn Steps,
) -> Recorded {
    LlmRun::new(scenario, llm, seed, run, steps).run()
}

/// One LLM run: the pool, the stages in front of it, where its requests
/// come from, what it recorded, and the clock.
struct LlmRun<'a, 's> {
    scenario: &'a Scenario,
    llm: &'a LlmConfig,
    seed: u64,
    steps: &'s mut dyn Steps,
    pool: Primary<'a>,
    /// The multi-tenant front door: with `[[tenants]]`, their arrivals
    /// replace the scenario's.
    door: Option<FrontDoor<'a>>,
    requests: Requests<'a>,
    /// Callers' answers, from the core or the gate, to record.
    answers: Vec<Answer>,
    usage: PoolUsage,
    recorder: Recorder,
    tokens: LlmRecorder,
    clock: Clock<Event>,
}

impl<'a, 's> LlmRun<'a, 's> {
    fn new(scenario: &'a Scenario, llm: &'a LlmConfig, seed: u64, run: &RunConfig, steps: &'s mut dyn Steps) -> Self {
        let streams = RngStreams::new(seed);
        let width = window(scenario, run);
        let mut clock = Clock::new(limits::stop(run), run.drain).with_event_cap(run.max_events);
        let kv_blocks = llm.replica.kv_blocks * u64::from(llm.replicas);
        let measured = (SimTime::ZERO + run.warmup, SimTime::ZERO + run.duration.unwrap_or_default());
        let mut door = llm.frontdoor.as_ref().map(|f| FrontDoor::new(f, &streams, measured, width, kv_blocks));
        let mut requests = Requests::new(scenario, llm, &streams, run);
        let mut recorder = Recorder::new(run.warmup, run.measure_until, llm.replicas, width);
        if requests.warming_up() {
            recorder.measure_from(SimTime::MAX);
        }
        match door.as_mut() {
            Some(d) => d.start(&mut |at, e| clock.schedule(at, Event::FrontDoor(e))),
            None => requests.start(&mut clock),
        }
        LlmRun {
            pool: Primary::new(scenario, llm, &streams, width),
            door,
            requests,
            answers: Vec::new(),
            usage: PoolUsage::new(llm),
            recorder,
            tokens: LlmRecorder::default(),
            clock,
            scenario,
            llm,
            seed,
            steps,
        }
    }

    fn run(mut self) -> Recorded {
        while let Some((now, event)) = self.next_event() {
            self.handle(now, event);
            self.carry_out(now);
            self.pump_gate(now);
            self.answer(now);
            self.record_levels(now);
        }
        self.finish()
    }

    /// The next event (queued, or a step's end reported by the steps),
    /// with the KV cache's use integrated up to it; `None` when the run is
    /// over.
    fn next_event(&mut self) -> Option<(SimTime, Event)> {
        let (now, event) = match self.steps.wait(self.clock.peek_time()) {
            Waited::Due => self.clock.pop()?,
            Waited::StepDone { at, replica } => (at, Event::StepDone { replica }),
            Waited::Stop => {
                self.clock.halt();
                return None;
            }
        };
        let from = self.clock.end();
        let handled = self.clock.advance(now);
        self.usage.integrate_kv(self.recorder.measured_overlap(from, self.clock.end()));
        handled.then_some((now, event))
    }

    fn handle(&mut self, now: SimTime, event: Event) {
        match event {
            Event::Arrival => {
                if let Some(input) = self.requests.arrival(&mut self.clock, &mut self.recorder) {
                    self.submit(now, input);
                }
            }
            Event::Turn { slot } => {
                if let Some(input) = self.requests.turn(now, slot, &mut self.clock, &mut self.recorder) {
                    self.submit(now, input);
                }
            }
            Event::ClientSend { client } => self.requests.client_send(now, client, &mut self.clock, &mut self.recorder),
            Event::Ingress { slot } => {
                if let Some(input) = self.requests.ingress(slot) {
                    self.submit(now, input);
                }
            }
            Event::StepDone { replica } => {
                if let Some((took, decode_seqs)) = self.usage.step_done(now, replica) {
                    self.tokens.step(took, decode_seqs);
                }
                self.recorder.batch_finished(now, replica);
                self.pool.input(now, Input::StepDone { replica });
            }
            Event::Timer { replica, at } => self.pool.input(now, Input::Timer { replica, at }),
            Event::KvArrived { request, from, to, handle } => {
                self.pool.input(now, Input::KvArrived { request, from, to, handle })
            }
            Event::Safety(e) => {
                if let Some(g) = self.pool.gate.as_mut() {
                    g.event(now, e);
                }
            }
            Event::FrontDoor(e) => {
                let Some(d) = self.door.as_mut() else { return };
                let clock = &mut self.clock;
                let mut sched = |at, e| clock.schedule(at, Event::FrontDoor(e));
                d.handle(now, e, &mut self.pool, &mut self.recorder, &mut sched);
            }
        }
    }

    /// A request of the scenario's own (an arrival or a turn) for the pool.
    fn submit(&mut self, now: SimTime, input: Input) {
        frontdoor::PrimaryPool::submit(&mut self.pool, now, input, None, 0);
    }

    /// Carries out the core's actions.
    fn carry_out(&mut self, now: SimTime) {
        let mut actions = std::mem::take(&mut self.pool.actions);
        for action in actions.drain(..) {
            match action {
                Action::StartStep { replica, shape, swap_bytes } => self.start_step(now, replica, shape, swap_bytes),
                Action::Respond { request, outcome, served } => match self.pool.gate.as_mut() {
                    Some(g) => g.llm_done(now, request, outcome, served),
                    None => self.answers.push((request, outcome, served)),
                },
                Action::ArmTimer { replica, at } => self.clock.schedule(at, Event::Timer { replica, at }),
                Action::TransferKv { request, from, to, handle, bytes } => {
                    let Some(d) = &self.llm.disaggregation else { continue };
                    let time = d.transfer_time(bytes);
                    if self.recorder.measures(now) {
                        self.usage.transfer(bytes, time);
                    }
                    self.clock.schedule(now + time, Event::KvArrived { request, from, to, handle });
                }
            }
        }
        self.pool.actions = actions;
    }

    /// `replica` starts a step: its modeled time (step model plus KV swap
    /// over PCIe) goes to the steps, which end it.
    fn start_step(&mut self, now: SimTime, replica: u32, shape: StepShape, swap_bytes: u64) {
        let cost = self.llm.step.cost(&shape);
        let swap = SimDuration::from_secs_f64(swap_bytes as f64 / self.llm.gpu.pcie_bandwidth_bytes_per_s);
        let measured_bytes = self.recorder.measures(now).then_some(cost.bytes_per_gpu);
        let running = self.pool.core.replicas()[replica as usize].running();
        self.recorder.batch_started(now, replica, running as u32);
        self.usage.step_started(now, replica, shape.decode_seqs, measured_bytes);
        if let Some(took) = self.steps.start(replica, shape, cost.time + swap) {
            self.recorder.step_modeled(now, replica, took);
            self.clock.schedule(now + took, Event::StepDone { replica });
        }
    }

    /// Safety (`[safety]`): carries out what the gate decided; LLM inputs
    /// it gave leave actions for a zero-delay event to carry out.
    fn pump_gate(&mut self, now: SimTime) {
        let clock = &mut self.clock;
        let left = self.pool.pump_gate(now, &mut |at, e| clock.schedule(at, Event::Safety(e)), &mut self.answers);
        if left {
            self.clock.schedule(now, Event::Safety(GateEvent::Flush));
        }
    }

    /// Callers' answers. Front door: an attempt arrived at the gateway,
    /// before its dispatch; a preempted request's answer is not terminal.
    fn answer(&mut self, now: SimTime) {
        let mut answers = std::mem::take(&mut self.answers);
        for (request, outcome, mut served) in answers.drain(..) {
            if let Some(d) = self.door.as_mut() {
                let clock = &mut self.clock;
                let mut sched = |at, e| clock.schedule(at, Event::FrontDoor(e));
                match d.on_response(now, request, outcome, &served, false, &mut sched) {
                    Some(sent) => served.arrived = sent,
                    None => continue,
                }
            }
            // A closed-loop client's clock starts at its send; the API
            // server's per-request cost (tokenizing, HTTP, detokenizing) adds
            // to the latency it sees, beside the engine's work rather than
            // before it, so the scheduler's step boundaries are the
            // engine's own and clients finishing in different steps stay
            // apart, as they do on a real server.
            // The answer is complete when the server has streamed its last
            // token; the client's next request follows from then.
            let delivered = served.last_token.map_or(now, |t| t.max(now));
            let mut seen = delivered;
            if let Some(sent) = self.requests.sent_at(request) {
                let overhead = self.llm.step.request_overhead();
                served.arrived = sent;
                served.first_token = served.first_token.map(|t| t + overhead);
                seen = delivered + overhead;
            }
            self.record_answer(now, seen, request, outcome, &served);
            self.requests.answered(delivered, request, outcome, &mut self.clock, &mut self.recorder);
        }
        self.answers = answers;
    }

    /// Records a caller's answer: outcome, latency and, completed, its
    /// tokens, as the caller sees them at `seen`.
    fn record_answer(&mut self, now: SimTime, seen: SimTime, request: RequestId, outcome: Outcome, served: &Served) {
        self.recorder.respond(now, request, outcome, served.arrived, served.admitted);
        if outcome == Outcome::Completed && self.recorder.measures(served.arrived) {
            self.tokens.completed(seen, served, &self.llm.slo);
        }
    }

    /// The levels held from now on. Front door: requests held in the
    /// gateway wait; those in its fallback pool are in the system.
    fn record_levels(&mut self, now: SimTime) {
        let load = self.pool.core.load();
        let (held, fallback) = self.door.as_ref().map_or((0, 0), |d| (d.queued(), d.in_fallback()));
        let (waiting, running) = (load.waiting + held, load.running);
        self.usage.hold_kv(load.kv_used_blocks, self.recorder.measures(now));
        let in_system = self.pool.outstanding() + held + fallback;
        let levels = Levels {
            in_system: in_system as f64,
            waiting: waiting as f64,
            busy: f64::from(self.usage.busy()),
            kv_used: self.usage.kv_fraction(),
            running: running as f64,
        };
        self.recorder.levels(now, levels);
    }

    /// The recorder's summary, with the `llm` section and, when the
    /// scenario has them, the `safety` and `frontdoor` sections and their
    /// invariants.
    fn finish(self) -> Recorded {
        let LlmRun { scenario, llm, seed, steps, pool, door, usage, recorder, tokens, clock, .. } = self;
        let ending = clock.ending();
        let run_end = run_end(ending, pool.idle());
        let drained = run_end.drained;
        let mut recorded = recorder.finish(&scenario.name, seed, run_end, false);
        recorded.audit.kv_end = pool.core.replicas().iter().map(kv_at_end).collect();
        let span = recorded.summary.run.measure_span_s;
        let totals = summary::totals(llm, &pool.core, &usage, recorded.summary.servers.utilization_mean, span);
        let mut llm_summary = tokens.finish(&summary::pool_info(llm, &usage), &totals);
        llm_summary.kv_transfer = usage.kv_transfer(llm);
        llm_summary.prefix_cache = summary::prefix_cache(llm, &pool.core);
        recorded.summary.llm = Some(llm_summary);
        if let Some(g) = pool.gate {
            let (summary, extra) = g.finish(ending.end, totals.busy_s);
            // Unchecked tokens break the run's invariants unless asked for (fail open).
            let unchecked = summary.unchecked_tokens_delivered > 0 || summary.unchecked_inputs > 0;
            recorded.summary.invariants.all_hold &= summary.fail_open || !unchecked;
            recorded.summary.safety = Some(summary);
            recorded.safety = Some(Box::new(extra));
        }
        if let Some(d) = door {
            let clear = pool.core.load().kv_used_blocks == 0 && pool.core.outstanding() == 0;
            let (frontdoor, holds) = d.finish(clear, drained, span);
            recorded.summary.invariants.all_hold &= holds;
            recorded.summary.frontdoor = Some(frontdoor);
        }
        recorded.summary.backend = steps.backend().into();
        recorded.cdfs.extend(tokens.cdfs());
        recorded
    }
}

/// A replica's KV ledger as the run ends.
fn kv_at_end(replica: &Replica) -> KvAtEnd {
    let (prefix_blocks, prefix_refs) = replica.prefix_cache_usage();
    KvAtEnd { used_blocks: replica.kv_used_blocks(), prefix_blocks, prefix_refs }
}
