//! The LLM serving core: token-level requests on model replicas, scheduled
//! step by step (iteration-level), behind a router.
//!
//! Same sans-IO contract as the rest of `core`: the driver feeds
//! `(now, Input)`, the core pushes `Action`s. A replica asks for one step at
//! a time (`StartStep` with the step's [`StepShape`]: the sums the
//! step-time model needs); the driver answers `StepDone` when the modeled —
//! or real — GPU finishes it. Policies (static, continuous, chunked
//! prefill), the paged KV cache and preemption live in `replica.rs`;
//! request placement in `router.rs`.

mod replica;
mod router;

pub use replica::{Policy, Preemption, Replica, ReplicaConfig, ReplicaStats};
pub use router::RouterPolicy;

use super::{Outcome, RequestId};
use crate::model::step::StepShape;
use crate::time::SimTime;
use rand_chacha::ChaCha8Rng;
use router::Router;

/// What the driver tells the LLM core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A request arrived now with its prompt and (known to the model) output length.
    Arrival { request: RequestId, prompt_tokens: u32, output_tokens: u32 },
    /// Replica `replica` finished the step it was asked to run.
    StepDone { replica: u32 },
    /// A timer armed with `ArmTimer { replica, at }` fired.
    Timer { replica: u32, at: SimTime },
}

/// Timing of a finished request, for TTFT / TPOT / end-to-end metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub arrived: SimTime,
    /// When it first entered a batch (None if it never did).
    pub admitted: Option<SimTime>,
    /// When the first output token was produced (None if none was).
    pub first_token: Option<SimTime>,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
}

/// What the LLM core asks the driver to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Run one step on `replica`; `swap_bytes` of KV cache move over PCIe
    /// (swap preemption) before it. Report `StepDone` when finished.
    StartStep { replica: u32, shape: StepShape, swap_bytes: u64 },
    /// Deliver `outcome` to the caller of `request`.
    Respond { request: RequestId, outcome: Outcome, served: Served },
    /// Feed `Input::Timer { replica, at }` back at `at`.
    ArmTimer { replica: u32, at: SimTime },
}

/// Replicas of one model behind a router.
pub struct LlmScheduler {
    replicas: Vec<Replica>,
    router: Router,
}

impl LlmScheduler {
    /// `rng` is drawn from only by power-of-two-choices routing.
    pub fn new(replicas: Vec<Replica>, routing: RouterPolicy, rng: ChaCha8Rng) -> Self {
        LlmScheduler { router: Router::new(routing, rng), replicas }
    }

    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// Requests waiting or running on any replica.
    pub fn outstanding(&self) -> u64 {
        self.replicas.iter().map(Replica::outstanding).sum()
    }

    pub fn handle(&mut self, now: SimTime, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Arrival { request, prompt_tokens, output_tokens } => {
                let r = self.router.pick(&self.replicas);
                let replica = &mut self.replicas[r];
                replica.arrive(now, request, prompt_tokens, output_tokens, out);
                replica.poll(now, out);
            }
            Input::StepDone { replica } => {
                if let Some(r) = self.replicas.get_mut(replica as usize) {
                    r.step_done(now, out);
                    r.poll(now, out);
                }
            }
            Input::Timer { replica, at } => {
                if let Some(r) = self.replicas.get_mut(replica as usize) {
                    r.timer(at);
                    r.poll(now, out);
                }
            }
        }
    }
}
