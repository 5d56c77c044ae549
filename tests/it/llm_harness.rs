//! A deterministic driver for the LLM core (`core::llm`) in tests.
//!
//! The core is sans-IO, so a test must carry out its actions itself: end
//! each step after a fixed time, fire timers when asked, pass responses
//! and watched output chunks on. This module does that one way for every
//! test, so a test states only the world around the core (a safety stage,
//! a client) and what it checks. Events are ordered by time, then by
//! insertion, as in the engine's queue; what the core asks for comes back
//! in the order it asked, so the world can interleave its own events
//! exactly as a driver would.

use rand::SeedableRng;
use servesim::core::llm::{self, LlmScheduler, Replica, ReplicaConfig, RouterPolicy, Served};
use servesim::core::{Outcome, RequestId};
use servesim::time::{SimDuration, SimTime};
use std::collections::BTreeMap;

/// Pending events, ordered by `(time, insertion)`.
pub struct Events<E> {
    pending: BTreeMap<(SimTime, u64), E>,
    seq: u64,
}

impl<E> Events<E> {
    pub fn new() -> Self {
        Events { pending: BTreeMap::new(), seq: 0 }
    }

    pub fn push(&mut self, at: SimTime, event: E) {
        self.pending.insert((at, self.seq), event);
        self.seq += 1;
    }

    /// The earliest event, ties in insertion order.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.pending.pop_first().map(|((at, _), event)| (at, event))
    }
}

/// What the core asked of its driver while handling one input.
pub enum Reply {
    /// Feed `input` to the core at `at` (a step's end, a timer).
    Later { at: SimTime, input: llm::Input },
    /// The core answered `request`.
    Respond { request: RequestId, outcome: Outcome, served: Served },
    /// `request` has generated `tokens` output tokens (a watched chunk boundary).
    Generated { request: RequestId, tokens: u32 },
}

/// The LLM core with every GPU step taking `step`.
pub struct LlmDriver {
    pub core: LlmScheduler,
    step: SimDuration,
}

impl LlmDriver {
    pub fn new(core: LlmScheduler, step: SimDuration) -> Self {
        LlmDriver { core, step }
    }

    /// Feeds `input` at `now` and returns what the core asked for, in its
    /// order: its actions first, then the chunk boundaries it crossed.
    pub fn handle(&mut self, now: SimTime, input: llm::Input) -> Vec<Reply> {
        let mut actions = Vec::new();
        self.core.handle(now, input, &mut actions);
        let mut replies: Vec<Reply> = actions
            .into_iter()
            .map(|action| match action {
                llm::Action::StartStep { replica, .. } => {
                    Reply::Later { at: now + self.step, input: llm::Input::StepDone { replica } }
                }
                llm::Action::ArmTimer { replica, at } => Reply::Later { at, input: llm::Input::Timer { replica, at } },
                llm::Action::Respond { request, outcome, served } => Reply::Respond { request, outcome, served },
                llm::Action::TransferKv { .. } => unreachable!("this driver has no KV link: no disaggregation"),
            })
            .collect();
        replies.extend(self.core.drain_chunks().map(|(request, tokens)| Reply::Generated { request, tokens }));
        replies
    }
}

/// One replica with continuous batching, recompute preemption and room
/// for everything: KV pressure never decides these tests.
pub fn roomy_replica() -> ReplicaConfig {
    ReplicaConfig { max_batched_tokens: 8192, ..ReplicaConfig::new(10_000) }
}

/// A pool of one replica of `cfg`, reporting every `chunk_tokens` output
/// tokens of each request when asked to.
pub fn one_replica_pool(cfg: ReplicaConfig, chunk_tokens: Option<u32>) -> LlmScheduler {
    let core = LlmScheduler::new(
        vec![Replica::new(0, cfg)],
        RouterPolicy::RoundRobin,
        rand_chacha::ChaCha8Rng::seed_from_u64(1),
    );
    match chunk_tokens {
        Some(n) => core.watch_chunks(n),
        None => core,
    }
}
