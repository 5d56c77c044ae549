//! The front door's fallback pool (degradation): replicas of a smaller
//! model that serve what the primary pool's admission refused. The front
//! door drives it beside the primary pool; it has its own LLM core, its own
//! step-time model and its own router stream (`fallback/router`).
//!
//! Why its own event type and a scheduling callback: the pool knows nothing
//! of the loop it runs in. Whoever drives it wraps [`FallbackEvent`] in its
//! own events, hands them back to [`FallbackPool::handle`], and collects the
//! answers [`FallbackPool::carry_out`] returns. Its requests are recorded
//! like the primary's (one outcome per attempt); its token-level metrics
//! (TTFT, TPOT, ...) are not in the `llm` section, which describes the
//! primary pool.

use crate::core::llm::{self, LlmScheduler, Replica, Served};
use crate::core::{Outcome, RequestId};
use crate::engine::RngStreams;
use crate::scenario::LlmConfig;
use crate::time::{SimDuration, SimTime};

/// The fallback pool's own events: a replica's step ended, or its timer fired.
#[derive(Debug, Clone, Copy)]
pub(super) enum FallbackEvent {
    StepDone { replica: u32 },
    Timer { replica: u32, at: SimTime },
}

pub(super) struct FallbackPool<'a> {
    llm: &'a LlmConfig,
    core: LlmScheduler,
    actions: Vec<llm::Action>,
    kv_total_blocks: u64,
}

impl<'a> FallbackPool<'a> {
    pub fn new(llm: &'a LlmConfig, streams: &RngStreams) -> Self {
        let replicas = (0..llm.replicas).map(|i| Replica::new(i, llm.replica.clone())).collect();
        FallbackPool {
            core: LlmScheduler::new(replicas, llm.routing, streams.stream("fallback/router")),
            actions: Vec::new(),
            kv_total_blocks: (llm.replica.kv_blocks * u64::from(llm.replicas)).max(1),
            llm,
        }
    }

    pub fn kv_used_fraction(&self) -> f64 {
        self.core.load().kv_used_blocks as f64 / self.kv_total_blocks as f64
    }

    /// Requests in the pool.
    pub fn outstanding(&self) -> u64 {
        self.core.outstanding()
    }

    /// Whether the pool holds nothing: no request, no KV block in use.
    pub fn is_clear(&self) -> bool {
        self.core.outstanding() == 0 && self.core.load().kv_used_blocks == 0
    }

    /// A request dispatched to the pool.
    pub fn submit(&mut self, now: SimTime, input: llm::Input) {
        self.core.handle(now, input, &mut self.actions);
    }

    /// A preempted or withdrawn request.
    pub fn cancel(&mut self, now: SimTime, request: RequestId) {
        self.core.handle(now, llm::Input::Cancel { request }, &mut self.actions);
    }

    /// One of the pool's own events, due now.
    pub fn handle(&mut self, now: SimTime, event: FallbackEvent) {
        let input = match event {
            FallbackEvent::StepDone { replica } => llm::Input::StepDone { replica },
            FallbackEvent::Timer { replica, at } => llm::Input::Timer { replica, at },
        };
        self.core.handle(now, input, &mut self.actions);
    }

    /// Schedules the steps and timers the pool asked for; returns its
    /// answers, in order.
    pub fn carry_out(
        &mut self,
        now: SimTime,
        sched: &mut impl FnMut(SimTime, FallbackEvent),
    ) -> Vec<(RequestId, Outcome, Served)> {
        let mut answers = Vec::new();
        for action in self.actions.drain(..) {
            match action {
                llm::Action::StartStep { replica, shape, swap_bytes } => {
                    let swap = SimDuration::from_secs_f64(swap_bytes as f64 / self.llm.gpu.pcie_bandwidth_bytes_per_s);
                    sched(now + self.llm.step.cost(&shape).time + swap, FallbackEvent::StepDone { replica });
                }
                llm::Action::ArmTimer { replica, at } => sched(at, FallbackEvent::Timer { replica, at }),
                llm::Action::Respond { request, outcome, served } => answers.push((request, outcome, served)),
                // A fallback pool is never disaggregated (refused by the loader).
                llm::Action::TransferKv { .. } => {}
            }
        }
        answers
    }
}
