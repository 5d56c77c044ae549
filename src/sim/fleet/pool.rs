//! One pool of a fleet under the fleet's clock: the LLM core with its own
//! router, what its GPUs did ([`PoolUsage`]) and what its requests got
//! ([`LlmRecorder`]), for its own `llm` section.
//!
//! Why KV use (and the requests held) is integrated lazily here (when the pool is touched, not on
//! every event): an event touches one pool, and integrating every pool on
//! every event would cost O(pools) per event. Held constant between
//! touches, the integral is the same; in a fleet of one pool every event
//! touches it, so the sums are those of the single-pool driver.

use crate::core::llm::{LlmScheduler, Load, Replica};
use crate::engine::RngStreams;
use crate::metrics::llm::LlmRecorder;
use crate::metrics::Recorder;
use crate::scenario::LlmConfig;
use crate::sim::llm::usage::PoolUsage;
use crate::time::SimTime;

pub(super) struct PoolRun<'a> {
    pub(super) llm: &'a LlmConfig,
    pub(super) core: LlmScheduler,
    pub(super) usage: PoolUsage,
    pub(super) tokens: LlmRecorder,
    /// Its first replica's index among the fleet's (the recorder's servers).
    pub(super) offset: u32,
    /// Requests the global router sent here.
    pub(super) routed: u64,
    /// Per replica: the failures holding it down now.
    pub(super) down: Vec<u32>,
    /// Requests routed here that arrived in the measured interval.
    pub(super) routed_measured: u64,
    /// ∫ outstanding requests dt over the measured interval (request-seconds).
    pub(super) outstanding_s: f64,
    /// Its replicas down now (those with a failure holding them).
    pub(super) replicas_down: u32,
    /// Per replica: how many times longer its steps take now (bad
    /// rollouts, stragglers); 1 when nothing slows it.
    pub(super) slowdown: Vec<f64>,
    /// The fraction of requests reaching it answered `failed` now (a bad rollout).
    pub(super) error_rate: f64,
    /// When its KV use and outstanding requests were last integrated.
    integrated_to: SimTime,
}

/// What a pool adds to the fleet's levels.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Level {
    pub(super) load: Load,
    pub(super) busy: u32,
}

impl<'a> PoolRun<'a> {
    /// Pool `index` of the fleet: the first routes within itself with the
    /// single-pool scenario's stream (`router`), the others with their own.
    pub(super) fn new(index: usize, llm: &'a LlmConfig, offset: u32, streams: &RngStreams) -> Self {
        let replicas = (0..llm.replicas).map(|i| Replica::new(i, llm.replica.clone())).collect();
        let stream = if index == 0 { "router".to_string() } else { format!("pools/{index}/router") };
        PoolRun {
            llm,
            core: LlmScheduler::new(replicas, llm.routing, streams.stream(&stream)),
            usage: PoolUsage::new(llm),
            tokens: LlmRecorder::default(),
            offset,
            routed: 0,
            down: vec![0; llm.replicas as usize],
            routed_measured: 0,
            outstanding_s: 0.0,
            replicas_down: 0,
            slowdown: vec![1.0; llm.replicas as usize],
            error_rate: 0.0,
            integrated_to: SimTime::ZERO,
        }
    }

    /// Integrates the KV blocks and the requests held since the pool was
    /// last touched, up to `now`.
    pub(super) fn integrate(&mut self, now: SimTime, recorder: &Recorder) {
        let span = recorder.measured_overlap(self.integrated_to, now);
        self.usage.integrate_kv(span);
        self.outstanding_s += span * self.core.outstanding() as f64;
        self.integrated_to = now;
    }

    pub(super) fn level(&self) -> Level {
        Level { load: self.core.load(), busy: self.usage.busy() }
    }

    pub(super) fn idle(&self) -> bool {
        self.core.outstanding() == 0
    }
}
