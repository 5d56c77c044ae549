//! Where the LLM driver's requests come from: the scenario's arrivals with
//! their drawn sizes and shared prefixes, and conversations' follow-up
//! turns.
//!
//! Request sizes come from the trace, or from the streams `prompt-tokens`
//! and `output-tokens` (separate from `arrivals`, so changing a size
//! distribution keeps the arrival times). Shared prefixes
//! (`workload.shared_prefix`) are drawn from the stream `prefixes`, so they
//! too leave arrival times and sizes as they were. A synthetic prompt is
//! the prefix plus its drawn length; a trace's prompt keeps its length and
//! starts with the prefix (a what-if for a trace whose rows carry no prefix
//! ids: "what if 60% of these shared a system prompt?").
//!
//! Conversations (`workload.conversations`, see
//! [`crate::workload::conversations`]): each arrival opens one; a completed
//! turn schedules the next (`Event::Turn`) a think time after its answer,
//! while arrivals go on. A turn's new message and answer sizes come from
//! the size streams above; one event per conversation waiting to speak.

use super::event::Event;
use crate::core::llm::Input;
use crate::core::{Outcome, RequestId, Slab};
use crate::engine::{Clock, RngStreams};
use crate::metrics::Recorder;
use crate::scenario::{LlmConfig, RunConfig, Scenario};
use crate::sim::limits::Arrivals;
use crate::time::SimTime;
use crate::workload::closed_loop::{ClosedLoop, Next, Phase};
use crate::workload::conversations::{Conversations, NextTurn};
use crate::workload::Arrival;
use crate::workload::ArrivalSpec;
use rand_chacha::ChaCha8Rng;

pub(super) struct Requests<'a> {
    llm: &'a LlmConfig,
    arrivals: Arrivals,
    /// The next arrival, scheduled as `Event::Arrival`.
    pending: Option<Arrival>,
    /// Requests offered so far (the next request's id).
    offered: u64,
    prompt_rng: ChaCha8Rng,
    output_rng: ChaCha8Rng,
    prefix_rng: ChaCha8Rng,
    conversations: Option<Conversations>,
    /// Follow-up turns waiting to be sent, by `Event::Turn` slot.
    turns: Slab<NextTurn>,
    /// Closed-loop clients, replacing the arrivals.
    clients: Option<ClosedLoop>,
    /// Clients' requests on their way to the scheduler, by `Event::Ingress` slot.
    ingress: Slab<Input>,
}

impl<'a> Requests<'a> {
    pub(super) fn new(scenario: &Scenario, llm: &'a LlmConfig, streams: &RngStreams, run: &RunConfig) -> Self {
        let first_session = llm.shared_prefix.map_or(0, |p| p.prefixes);
        Requests {
            llm,
            arrivals: Arrivals::new(scenario, streams, run),
            pending: None,
            offered: 0,
            prompt_rng: streams.stream("prompt-tokens"),
            output_rng: streams.stream("output-tokens"),
            prefix_rng: streams.stream("prefixes"),
            conversations: llm
                .conversations
                .clone()
                .map(|c| Conversations::new(c, first_session, streams.stream("turns"), streams.stream("think-time"))),
            turns: Slab::default(),
            clients: match &scenario.arrivals {
                ArrivalSpec::ClosedLoop(spec) => Some(ClosedLoop::new(*spec)),
                _ => None,
            },
            ingress: Slab::default(),
        }
    }

    /// Whether measurement waits for closed-loop clients' warm-up.
    pub(super) fn warming_up(&self) -> bool {
        self.clients.as_ref().is_some_and(|c| c.phase() == Phase::Warmup)
    }

    /// Schedules the first arrival, or the clients' first sends.
    pub(super) fn start(&mut self, clock: &mut Clock<Event>) {
        if let Some(c) = &self.clients {
            for (client, at) in c.start(SimTime::ZERO) {
                clock.schedule(at, Event::ClientSend { client });
            }
            return;
        }
        self.pending = self.arrivals.next();
        if let Some(a) = &self.pending {
            clock.schedule(a.at, Event::Arrival);
        }
    }

    /// A new request: its id, counted as offered at the current time.
    fn offer(&mut self, clock: &mut Clock<Event>) -> RequestId {
        let request = RequestId(self.offered);
        self.offered += 1;
        clock.arrived();
        request
    }

    /// The arrival due now, as the core's input (sizes and prefix drawn,
    /// recorded as offered, a conversation opened); schedules the next.
    pub(super) fn arrival(&mut self, clock: &mut Clock<Event>, recorder: &mut Recorder) -> Option<Input> {
        let mut arrival = self.pending.take()?;
        if let Some((prompt, output)) = &self.llm.sizes {
            arrival.prompt_tokens = prompt.sample(&mut self.prompt_rng);
            arrival.output_tokens = output.sample(&mut self.output_rng);
        }
        let prefix = self.llm.shared_prefix.and_then(|p| p.draw(&mut self.prefix_rng));
        // A drawn prompt follows its prefix; a trace's prompt already
        // holds it (the replica caps the prefix below the prompt).
        if let (Some(p), true) = (prefix, self.llm.sizes.is_some()) {
            arrival.prompt_tokens = arrival.prompt_tokens.saturating_add(p.tokens);
        }
        let request = self.offer(clock);
        recorder.arrival(request, &arrival);
        let (prompt_tokens, output_tokens) = (arrival.prompt_tokens, arrival.output_tokens);
        let session = self.conversations.as_mut().map(|c| c.open(request, prompt_tokens, output_tokens));
        self.pending = self.arrivals.next();
        if let Some(a) = &self.pending {
            clock.schedule(a.at, Event::Arrival);
        }
        Some(Input::Arrival { request, prompt_tokens, output_tokens, prefix, session })
    }

    /// Client `client` sends now, if a request is left for it: recorded as
    /// offered now, it reaches the scheduler now; the step model's
    /// per-request cost
    /// ([`StepModel::request_overhead`](crate::model::step::StepModel::request_overhead))
    /// is added to the latency the client sees, not to the schedule.
    pub(super) fn client_send(&mut self, now: SimTime, client: u32, clock: &mut Clock<Event>, recorder: &mut Recorder) {
        let (Some(clients), Some((prompt, output))) = (self.clients.as_mut(), &self.llm.sizes) else { return };
        let request = RequestId(self.offered);
        if !clients.send(now, client, request) {
            return;
        }
        let mut prompt_tokens = prompt.sample(&mut self.prompt_rng);
        let output_tokens = output.sample(&mut self.output_rng);
        let prefix = self.llm.shared_prefix.and_then(|p| p.draw(&mut self.prefix_rng));
        if let Some(p) = prefix {
            prompt_tokens = prompt_tokens.saturating_add(p.tokens);
        }
        self.offer(clock);
        recorder.arrival(request, &Arrival { at: now, prompt_tokens, output_tokens });
        let input = Input::Arrival { request, prompt_tokens, output_tokens, prefix, session: None };
        clock.schedule(now, Event::Ingress { slot: self.ingress.insert(input) });
    }

    /// The client's request in `slot`, reaching the scheduler now.
    pub(super) fn ingress(&mut self, slot: u32) -> Option<Input> {
        self.ingress.remove(slot)
    }

    /// When `request` was sent, if a closed-loop client sent it (its
    /// caller's clock starts there, not at the scheduler).
    pub(super) fn sent_at(&self, request: RequestId) -> Option<SimTime> {
        self.clients.as_ref().and_then(|c| c.sent_at(request))
    }

    /// The follow-up turn in `slot`, due now, as the core's input.
    pub(super) fn turn(
        &mut self,
        now: SimTime,
        slot: u32,
        clock: &mut Clock<Event>,
        recorder: &mut Recorder,
    ) -> Option<Input> {
        let turn = self.turns.remove(slot)?;
        let (Some((prompt, output)), Some(_)) = (&self.llm.sizes, &self.conversations) else { return None };
        let (prompt_tokens, prefix) = turn.prompt(prompt.sample(&mut self.prompt_rng));
        let output_tokens = output.sample(&mut self.output_rng);
        let request = self.offer(clock);
        recorder.arrival(request, &Arrival { at: now, prompt_tokens, output_tokens });
        if let Some(c) = self.conversations.as_mut() {
            c.continue_with(request, turn, prompt_tokens, output_tokens);
        }
        Some(Input::Arrival {
            request,
            prompt_tokens,
            output_tokens,
            prefix: Some(prefix),
            session: Some(turn.session),
        })
    }

    /// `request` was answered now: its conversation's next turn, if any,
    /// comes after a think time, while arrivals go on; its closed-loop
    /// client sends again, or, the warm-up over, measurement starts now
    /// and the clients start again.
    pub(super) fn answered(
        &mut self,
        now: SimTime,
        request: RequestId,
        outcome: Outcome,
        clock: &mut Clock<Event>,
        recorder: &mut Recorder,
    ) {
        if let Some(c) = self.clients.as_mut() {
            match c.answered(now, request) {
                Next::Send { client, at } => clock.schedule(at, Event::ClientSend { client }),
                Next::Measure => {
                    recorder.measure_from(now);
                    for (client, at) in c.start(now) {
                        clock.schedule(at, Event::ClientSend { client });
                    }
                }
                Next::Nothing => {}
            }
            return;
        }
        let next = self.conversations.as_mut().and_then(|c| c.answered(request, outcome == Outcome::Completed, now));
        let (arriving, stop) = (self.pending.is_some(), clock.stop());
        if let Some((at, turn)) = next.filter(|(at, _)| arriving && stop.is_none_or(|s| *at < s)) {
            clock.schedule(at, Event::Turn { slot: self.turns.insert(turn) });
        }
    }
}
