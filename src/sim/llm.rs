//! The sim driver for LLM serving: the LLM core's replicas against the
//! roofline step-time model, under the virtual clock.
//!
//! A `StartStep` becomes a `StepDone` after `StepModel::cost(shape)` plus
//! any KV swap traffic over PCIe. Request sizes come from the trace, or from
//! the streams `prompt-tokens` and `output-tokens` (separate from
//! `arrivals`, so changing a size distribution keeps the arrival times).
//! Pending events are O(replicas): one arrival, one step per busy replica,
//! one flush timer per replica — plus, disaggregated, one per KV transfer
//! in flight. A `TransferKv` becomes a `KvArrived` after the link's latency
//! + bytes / bandwidth; transfers do not contend for the link.
//!
//! Shared prefixes (`workload.shared_prefix`) are drawn from the stream
//! `prefixes`, so they too leave arrival times and sizes as they were. A
//! synthetic prompt is the prefix plus its drawn length; a trace's prompt
//! keeps its length and starts with the prefix (a what-if for a trace whose
//! rows carry no prefix ids: "what if 60% of these shared a system prompt?").
//!
//! Conversations (`workload.conversations`, see
//! [`crate::workload::conversations`]): each arrival opens one; a completed
//! turn schedules the next (`Event::Turn`) a think time after its answer,
//! while arrivals go on. A turn's new message and answer sizes come from
//! the size streams above; one event per conversation waiting to speak.

use super::frontdoor::{self, FrontDoor, Primary};
use super::safety::{Gate, GateEvent};
use super::{window, Arrivals};
use crate::core::llm::StepShape;
use crate::core::llm::{Action, Disaggregation, Input, LlmScheduler, Policy, Replica, Served};
use crate::core::{Outcome, RequestId, Slab};
use crate::engine::{EventQueue, RngStreams};
use crate::metrics::latency::LatencyStat;
use crate::metrics::llm::{GpuMemory, KvTransferSummary, LlmRecorder, PoolInfo, PoolTotals, PrefixCacheSummary};
use crate::metrics::recorder::{Recorded, RunEnd};
use crate::metrics::Recorder;
use crate::scenario::{LlmConfig, RunConfig, Scenario, Slo};
use crate::time::{SimDuration, SimTime};
use crate::workload::conversations::{Conversations, NextTurn};
use crate::workload::Arrival;

#[derive(Debug, Clone, Copy)]
pub(super) enum Event {
    Arrival,
    StepDone {
        replica: u32,
    },
    Timer {
        replica: u32,
        at: SimTime,
    },
    KvArrived {
        request: RequestId,
        from: u32,
        to: u32,
        handle: u32,
    },
    /// A conversation's next turn, held in the `turns` slab.
    Turn {
        slot: u32,
    },
    Safety(GateEvent),
    FrontDoor(frontdoor::Event), // the multi-tenant front door's own events (`frontdoor.rs`)
}

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Static { .. } => "static",
        Policy::Continuous => "continuous",
        Policy::ChunkedPrefill { .. } => "chunked-prefill",
    }
}

/// What ended a step-driving loop early.
pub(crate) enum Waited {
    /// The earliest queued event is due (or nothing is left to wait for).
    Due,
    /// A step started by [`Steps::start`] ended at `at` on `replica`.
    StepDone { at: SimTime, replica: u32 },
    /// The steps' executor failed: end the run here (the caller reports
    /// the failure and discards the record).
    Stop,
}

/// How a driver turns the core's `StartStep` into a `StepDone`: the one
/// thing the sim and live drivers do differently. The sim schedules the
/// modeled duration on the virtual clock; the live driver runs the step on
/// a real executor and reports its end, in wall-clock time, from `wait`.
pub(crate) trait Steps {
    /// "sim", "cpu" or "cuda": the summary's `backend`.
    fn backend(&self) -> &'static str;
    /// Starts a step whose modeled duration (step model plus KV swap) is
    /// `modeled`. Returns the duration to schedule on the event queue, or
    /// `None` when the step's end is reported by [`Steps::wait`].
    fn start(&mut self, replica: u32, shape: StepShape, modeled: SimDuration) -> Option<SimDuration>;
    /// Called before each event: returns when `next` (the earliest queued
    /// event) is due, or earlier when a started step ends.
    fn wait(&mut self, next: Option<SimTime>) -> Waited;
}

/// The virtual clock's steps: the modeled duration, nothing to wait for.
struct Modeled;

impl Steps for Modeled {
    fn backend(&self) -> &'static str {
        "sim"
    }
    fn start(&mut self, _: u32, _: StepShape, modeled: SimDuration) -> Option<SimDuration> {
        Some(modeled)
    }
    fn wait(&mut self, _: Option<SimTime>) -> Waited {
        Waited::Due
    }
}

pub(crate) fn run(scenario: &Scenario, llm: &LlmConfig, seed: u64, run: &RunConfig) -> Recorded {
    drive(scenario, llm, seed, run, &mut Modeled)
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
    let streams = RngStreams::new(seed);
    let replicas = (0..llm.replicas).map(|i| Replica::new(i, llm.replica.clone())).collect();
    let mut core = LlmScheduler::new(replicas, llm.routing, streams.stream("router"));
    if let Some(d) = &llm.disaggregation {
        let split = Disaggregation { prefill_replicas: d.prefill_replicas, kv_bytes_per_token: d.kv_bytes_per_token };
        core = core.with_disaggregation(split);
    }
    // Safety pipeline (`[safety]`): the gate holds arrivals until they pass
    // and answers callers; streaming checks need the core's chunk boundaries.
    let mut gate = scenario.safety.as_deref().map(|s| Gate::new(s, &streams, window(scenario, run)));
    if let Some(tokens) = gate.as_ref().and_then(Gate::chunk_tokens) {
        core = core.watch_chunks(tokens);
    }
    let mut answers = Vec::new();
    let (mut transfers, mut transfer_bytes, mut transfer_time) = (0u64, 0u64, LatencyStat::default());
    let mut arrivals = Arrivals::new(scenario, &streams, run);
    let mut prompt_rng = streams.stream("prompt-tokens");
    let mut output_rng = streams.stream("output-tokens");
    let mut prefix_rng = streams.stream("prefixes");
    let first_session = llm.shared_prefix.map_or(0, |p| p.prefixes);
    let mut conversations = llm
        .conversations
        .clone()
        .map(|c| Conversations::new(c, first_session, streams.stream("turns"), streams.stream("think-time")));
    let mut turns: Slab<NextTurn> = Slab::default();
    let mut done = Vec::new();
    let mut recorder = Recorder::new(run.warmup, run.measure_until, llm.replicas, window(scenario, run));
    let mut tokens = LlmRecorder::default();
    let pcie = llm.gpu.pcie_bandwidth_bytes_per_s;

    let mut queue = EventQueue::new();
    // Front door (issue 4): with [[tenants]], their arrivals replace `arrivals`.
    let kv_blocks = llm.replica.kv_blocks * u64::from(llm.replicas);
    let measured = (SimTime::ZERO + run.warmup, SimTime::ZERO + run.duration.unwrap_or_default());
    let mut door =
        llm.frontdoor.as_ref().map(|f| FrontDoor::new(f, &streams, measured, window(scenario, run), kv_blocks));
    if let Some(d) = door.as_mut() {
        d.start(&mut |at, e| queue.schedule(at, Event::FrontDoor(e)));
    }
    let mut pending = if door.is_some() { None } else { arrivals.next() };
    if let Some(a) = &pending {
        queue.schedule(a.at, Event::Arrival);
    }
    let stop = run.duration.map(|d| SimTime::ZERO + d);
    let mut started: Vec<Option<(SimTime, u64)>> = vec![None; llm.replicas as usize];
    let mut actions = Vec::new();
    let (mut offered, mut events, mut busy) = (0u64, 0u64, 0u32);
    let (mut end, mut last_arrival, mut cut_off) = (SimTime::ZERO, SimTime::ZERO, false);
    let (mut bytes_per_gpu, mut kv_used, mut kv_integral, mut kv_peak) = (0.0f64, 0u64, 0.0f64, 0u64);
    let kv_total = (llm.replica.kv_blocks * u64::from(llm.replicas)).max(1) as f64;
    loop {
        let (now, event) = match steps.wait(queue.peek_time()) {
            Waited::Due => match queue.pop() {
                Some(next) => next,
                None => break,
            },
            Waited::StepDone { at, replica } => (at, Event::StepDone { replica }),
            Waited::Stop => {
                cut_off = true;
                break;
            }
        };
        if let (false, Some(stop)) = (run.drain, stop) {
            if now > stop {
                kv_integral += kv_used as f64 * recorder.measured_overlap(end, stop);
                end = stop;
                cut_off = true;
                break;
            }
        }
        kv_integral += kv_used as f64 * recorder.measured_overlap(end, now);
        events += 1;
        end = now;
        match event {
            Event::Arrival => {
                let Some(mut arrival) = pending.take() else { continue };
                if let Some((prompt, output)) = &llm.sizes {
                    arrival.prompt_tokens = prompt.sample(&mut prompt_rng);
                    arrival.output_tokens = output.sample(&mut output_rng);
                }
                let prefix = llm.shared_prefix.and_then(|p| p.draw(&mut prefix_rng));
                // A drawn prompt follows its prefix; a trace's prompt already
                // holds it (the replica caps the prefix below the prompt).
                if let (Some(p), true) = (prefix, llm.sizes.is_some()) {
                    arrival.prompt_tokens = arrival.prompt_tokens.saturating_add(p.tokens);
                }
                let request = RequestId(offered);
                offered += 1;
                last_arrival = now;
                recorder.arrival(request, &arrival);
                let session =
                    conversations.as_mut().map(|c| c.open(request, arrival.prompt_tokens, arrival.output_tokens));
                let input = Input::Arrival {
                    request,
                    prompt_tokens: arrival.prompt_tokens,
                    output_tokens: arrival.output_tokens,
                    prefix,
                    session,
                };
                match gate.as_mut() {
                    Some(g) => g.arrive(now, input),
                    None => core.handle(now, input, &mut actions),
                }
                pending = arrivals.next();
                if let Some(a) = &pending {
                    queue.schedule(a.at, Event::Arrival);
                }
            }
            Event::StepDone { replica } => {
                if let Some((at, decode_seqs)) = started[replica as usize].take() {
                    tokens.step(now.since(at), decode_seqs);
                }
                busy -= 1;
                recorder.batch_finished(now, replica);
                core.handle(now, Input::StepDone { replica }, &mut actions);
            }
            Event::Timer { replica, at } => core.handle(now, Input::Timer { replica, at }, &mut actions),
            Event::KvArrived { request, from, to, handle } => {
                core.handle(now, Input::KvArrived { request, from, to, handle }, &mut actions)
            }
            Event::Turn { slot } => {
                let (Some(turn), Some(c), Some((prompt, output))) =
                    (turns.remove(slot), &mut conversations, &llm.sizes)
                else {
                    continue;
                };
                let (prompt_tokens, prefix) = turn.prompt(prompt.sample(&mut prompt_rng));
                let output_tokens = output.sample(&mut output_rng);
                let request = RequestId(offered);
                offered += 1;
                last_arrival = now;
                recorder.arrival(request, &Arrival { at: now, prompt_tokens, output_tokens });
                c.continue_with(request, turn, prompt_tokens, output_tokens);
                let input = Input::Arrival {
                    request,
                    prompt_tokens,
                    output_tokens,
                    prefix: Some(prefix),
                    session: Some(turn.session),
                };
                match gate.as_mut() {
                    Some(g) => g.arrive(now, input),
                    None => core.handle(now, input, &mut actions),
                }
            }
            Event::Safety(e) => {
                if let Some(g) = gate.as_mut() {
                    g.event(now, e);
                }
            }
            Event::FrontDoor(e) => {
                if let Some(d) = door.as_mut() {
                    let mut sched = |at, e| queue.schedule(at, Event::FrontDoor(e));
                    let mut primary = Primary { core: &mut core, gate: gate.as_mut(), actions: &mut actions };
                    d.handle(now, e, &mut primary, &mut recorder, &mut sched);
                }
            }
        }
        for action in actions.drain(..) {
            match action {
                Action::StartStep { replica, shape, swap_bytes } => {
                    let cost = llm.step.cost(&shape);
                    let swap = SimDuration::from_secs_f64(swap_bytes as f64 / pcie);
                    if recorder.measures(now) {
                        bytes_per_gpu += cost.bytes_per_gpu;
                    }
                    let running = core.replicas()[replica as usize].running();
                    recorder.batch_started(now, replica, running as u32);
                    started[replica as usize] = Some((now, shape.decode_seqs));
                    busy += 1;
                    if let Some(took) = steps.start(replica, shape, cost.time + swap) {
                        queue.schedule(now + took, Event::StepDone { replica });
                    }
                }
                Action::Respond { request, outcome, served } => match gate.as_mut() {
                    Some(g) => g.llm_done(now, request, outcome, served),
                    None => answers.push((request, outcome, served)),
                },
                Action::ArmTimer { replica, at } => queue.schedule(at, Event::Timer { replica, at }),
                Action::TransferKv { request, from, to, handle, bytes } => {
                    let Some(d) = &llm.disaggregation else { continue };
                    let time = d.transfer_time(bytes);
                    if recorder.measures(now) {
                        transfers += 1;
                        transfer_bytes += bytes;
                        transfer_time.record(time.0);
                    }
                    queue.schedule(now + time, Event::KvArrived { request, from, to, handle });
                }
            }
        }
        // Safety (`[safety]`): carry out what the gate decided; LLM inputs it
        // gave leave actions for a zero-delay event to carry out.
        if let Some(g) = gate.as_mut() {
            g.pump(now, &mut core, &mut actions, &mut queue, &mut answers);
            if !actions.is_empty() {
                queue.schedule(now, Event::Safety(GateEvent::Flush));
            }
        }
        // Callers' answers. Front door: an attempt arrived at the gateway,
        // before its dispatch; a preempted request's answer is not terminal.
        for (request, outcome, mut served) in answers.drain(..) {
            if let Some(d) = door.as_mut() {
                let mut sched = |at, e| queue.schedule(at, Event::FrontDoor(e));
                match d.on_response(now, request, outcome, &served, &mut sched) {
                    Some(sent) => served.arrived = sent,
                    None => continue,
                }
            }
            answer(&mut recorder, &mut tokens, &llm.slo, now, (request, outcome, served), &mut done);
        }
        // Conversations: a completed turn's next turn comes after a think time.
        for (request, outcome) in done.drain(..) {
            let next = conversations.as_mut().and_then(|c| c.answered(request, outcome == Outcome::Completed, now));
            if let Some((at, turn)) = next.filter(|(at, _)| pending.is_some() && stop.is_none_or(|s| *at < s)) {
                queue.schedule(at, Event::Turn { slot: turns.insert(turn) });
            }
        }
        let load = core.load();
        // Front door: requests held in the gateway wait; those in its fallback pool are in the system.
        let (held, fallback) = door.as_ref().map_or((0, 0), |d| (d.queued(), d.in_fallback()));
        let (waiting, running) = (load.waiting + held, load.running);
        kv_used = load.kv_used_blocks;
        if recorder.measures(now) {
            kv_peak = kv_peak.max(kv_used);
        }
        let in_system = gate.as_ref().map_or(core.outstanding(), Gate::outstanding) + held + fallback;
        let levels = [in_system as f64, waiting as f64, f64::from(busy), kv_used as f64 / kv_total, running as f64];
        recorder.levels(now, levels);
    }
    let drained = !cut_off && core.outstanding() == 0 && gate.as_ref().is_none_or(|g| g.outstanding() == 0);
    let arrivals_end = stop.unwrap_or(last_arrival).min(end);
    let run_end = RunEnd { end, arrivals_end, events, events_in_past: queue.clamped(), drained };
    let stats = core
        .replicas()
        .iter()
        .map(Replica::stats)
        .fold((0, 0, 0), |acc, s| (acc.0 + s.preemptions, acc.1 + s.recomputed_tokens, acc.2 + s.swapped_bytes));
    let mut recorded = recorder.finish(&scenario.name, seed, run_end, false);
    let summary = &recorded.summary;
    let span = summary.run.measure_span_s;
    let pool = PoolInfo {
        model: llm.model.name.clone(),
        gpu: llm.gpu.name.clone(),
        tp: llm.tp,
        replicas: llm.replicas,
        policy: if llm.disaggregation.is_some() { "disaggregated" } else { policy_name(llm.replica.policy) }.into(),
        kv_capacity_tokens: llm.kv_capacity_tokens,
        memory: GpuMemory { kv_peak_utilization: kv_peak as f64 / kv_total, ..llm.memory },
        price_per_gpu_hour_usd: llm.price_per_gpu_hour_usd,
        slo: llm.slo,
    };
    let totals = PoolTotals {
        measure_span_s: span,
        busy_fraction: summary.servers.utilization_mean,
        bytes_per_gpu,
        peak_bandwidth_bytes_per_s: llm.gpu.memory_bandwidth_bytes_per_s,
        busy_s: summary.servers.utilization_mean * f64::from(llm.replicas) * span,
        kv_utilization_mean: if span > 0.0 { kv_integral / span / kv_total } else { 0.0 },
        preemptions: stats.0,
        recomputed_tokens: stats.1,
        swapped_bytes: stats.2,
    };
    let totals_busy_s = totals.busy_s;
    let mut llm_summary = tokens.finish(&pool, &totals);
    llm_summary.kv_transfer = llm.disaggregation.map(|d| KvTransferSummary {
        prefill_replicas: d.prefill_replicas,
        decode_replicas: llm.replicas - d.prefill_replicas,
        link_bandwidth_bytes_per_s: d.link_bandwidth_bytes_per_s,
        link_latency_s: d.link_latency.as_secs_f64(),
        transfers,
        bytes: transfer_bytes,
        transfer_time: transfer_time.summary(),
    });
    llm_summary.prefix_cache = llm.replica.prefix_cache.map(|c| {
        let s = core.replicas().iter().map(Replica::stats).fold([0u64; 4], |a, s| {
            [a[0] + s.prefix_lookups, a[1] + s.prefix_hits, a[2] + s.prefix_cached_tokens, a[3] + s.prefix_evictions]
        });
        PrefixCacheSummary {
            eviction: c.eviction.name().into(),
            lookups: s[0],
            hits: s[1],
            hit_rate: if s[0] > 0 { s[1] as f64 / s[0] as f64 } else { 0.0 },
            cached_prompt_tokens: s[2],
            evictions: s[3],
        }
    });
    recorded.summary.llm = Some(llm_summary);
    if let Some(g) = gate {
        let (summary, extra) = g.finish(end, totals_busy_s);
        // Unchecked tokens break the run's invariants unless asked for (fail open).
        let unchecked = summary.unchecked_tokens_delivered > 0 || summary.unchecked_inputs > 0;
        recorded.summary.invariants.all_hold &= summary.fail_open || !unchecked;
        recorded.summary.safety = Some(summary);
        recorded.safety = Some(Box::new(extra));
    }
    if let Some(d) = door {
        let (frontdoor, holds) = d.finish(&core, drained, span);
        recorded.summary.invariants.all_hold &= holds;
        recorded.summary.frontdoor = Some(frontdoor);
    }
    recorded.summary.backend = steps.backend().into();
    recorded.cdfs.extend(tokens.cdfs());
    recorded
}

/// Records a caller's answer: outcome, latency and, completed, its tokens.
fn answer(
    recorder: &mut Recorder,
    tokens: &mut LlmRecorder,
    slo: &Slo,
    now: SimTime,
    (request, outcome, served): (RequestId, Outcome, Served),
    done: &mut Vec<(RequestId, Outcome)>,
) {
    recorder.respond(now, request, outcome, served.arrived, served.admitted);
    done.push((request, outcome));
    if outcome == Outcome::Completed && recorder.measures(served.arrived) {
        tokens.completed(now, &served, slo);
    }
}
