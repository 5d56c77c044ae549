//! The primary pool: the LLM core, behind the safety gate when the
//! scenario has a `[safety]` table.
//!
//! Why one type: arrivals, conversation turns and the front door all send
//! requests "to the pool" without caring whether a gate checks them first;
//! the gate holds them until they pass and answers callers itself.

use crate::core::llm::{Action, Input, LlmScheduler, Replica};
use crate::core::RequestId;
use crate::engine::RngStreams;
use crate::scenario::{LlmConfig, Scenario};
use crate::sim::frontdoor::PrimaryPool;
use crate::sim::safety::{Answer, Gate, GateEvent};
use crate::time::{SimDuration, SimTime};

pub(super) struct Primary<'a> {
    pub(super) core: LlmScheduler,
    pub(super) gate: Option<Gate<'a>>,
    /// The core's actions, carried out by the driver after each event.
    pub(super) actions: Vec<Action>,
}

impl<'a> Primary<'a> {
    /// `window`: the timeline's window, for the gate's own timeline.
    pub(super) fn new(scenario: &'a Scenario, llm: &LlmConfig, streams: &RngStreams, window: SimDuration) -> Self {
        let replicas = (0..llm.replicas).map(|i| Replica::new(i, llm.replica.clone())).collect();
        let mut core = LlmScheduler::new(replicas, llm.routing, streams.stream("router"));
        if let Some(d) = llm.disaggregation {
            core = core.with_disaggregation(d);
        }
        // Streaming checks need the core's chunk boundaries.
        let gate = scenario.safety.as_deref().map(|s| Gate::new(s, streams, window));
        if let Some(tokens) = gate.as_ref().and_then(Gate::chunk_tokens) {
            core = core.watch_chunks(tokens);
        }
        Primary { core, gate, actions: Vec::new() }
    }

    /// An input for the core itself (a step's end, a timer, a KV transfer).
    pub(super) fn input(&mut self, now: SimTime, input: Input) {
        self.core.handle(now, input, &mut self.actions);
    }

    /// Requests in the pool: from arrival to their caller's answer.
    pub(super) fn outstanding(&self) -> u64 {
        self.gate.as_ref().map_or(self.core.outstanding(), Gate::outstanding)
    }

    /// Whether nothing is left in the core or the gate.
    pub(super) fn idle(&self) -> bool {
        self.core.outstanding() == 0 && self.gate.as_ref().is_none_or(|g| g.outstanding() == 0)
    }

    /// Carries out what the gate decided: LLM inputs to the core, its timed
    /// events to `sched`, callers' answers into `answers`. Returns whether
    /// the core has actions left to carry out.
    pub(super) fn pump_gate(
        &mut self,
        now: SimTime,
        sched: &mut impl FnMut(SimTime, GateEvent),
        answers: &mut Vec<Answer>,
    ) -> bool {
        let Some(g) = self.gate.as_mut() else { return false };
        g.pump(now, &mut self.core, &mut self.actions, sched, answers);
        !self.actions.is_empty()
    }
}

impl PrimaryPool for Primary<'_> {
    fn submit(&mut self, now: SimTime, input: Input, mix: Option<[f64; 3]>, _origin: u32) {
        match self.gate.as_mut() {
            Some(g) => g.arrive(now, input, mix),
            None => self.core.handle(now, input, &mut self.actions),
        }
    }

    fn cancel(&mut self, now: SimTime, request: RequestId) {
        match self.gate.as_mut() {
            Some(g) => g.cancel(now, request),
            None => self.core.handle(now, Input::Cancel { request }, &mut self.actions),
        }
    }

    fn kv_used_blocks(&self) -> u64 {
        self.core.load().kv_used_blocks
    }
}
