//! The words the LLM core and its driver exchange: the inputs it takes,
//! the actions it asks for, and what a replica takes and answers with.
//!
//! In a file of their own, below the scheduler, the router and the
//! replicas, because all of them speak these words: a replica pushes
//! `Action`s, the scheduler turns `Input`s into calls on replicas, and the
//! router never needs either.

use super::{Prefix, StepShape};
use crate::time::SimTime;
use crate::{Outcome, RequestId};

/// What the driver tells the LLM core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A request arrived now with its prompt and (known to the model) output
    /// length; `prefix` is the cached prefix its prompt starts with, if any
    /// (a system prompt, or its conversation's earlier turns); `session` is
    /// its conversation, if any: when it completes, its whole context stays
    /// cached under that id as the next turn's prefix.
    Arrival { request: RequestId, prompt_tokens: u32, output_tokens: u32, prefix: Option<Prefix>, session: Option<u32> },
    /// Replica `replica` finished the step it was asked to run.
    StepDone { replica: u32 },
    /// A timer armed with `ArmTimer { replica, at }` fired.
    Timer { replica: u32, at: SimTime },
    /// The KV transfer asked for by `TransferKv` with these fields completed.
    KvArrived { request: RequestId, from: u32, to: u32, handle: u32 },
    /// Stop serving `request` (its caller gave up, or a check stopped it):
    /// it is answered `Cancelled` once its queue slot, batch slot and KV
    /// blocks are free — now, or when the step it is in ends (a GPU step is
    /// not interrupted; if that step completes it, it completes). Ignored
    /// for a request already answered.
    Cancel { request: RequestId },
    /// Replica `replica`'s hardware failed now: every request it holds is
    /// answered `Failed` and its KV freed; it takes no new work (arrivals
    /// go to the pool's other replicas, or are answered `Failed` when none
    /// is up) until `ReplicaRepaired`.
    ReplicaFailed { replica: u32 },
    /// Replica `replica` is repaired: it takes work again, empty. Ends a
    /// drain too: a draining replica takes work again with what it holds.
    ReplicaRepaired { replica: u32 },
    /// Replica `replica` takes no new work from now on (arrivals go to the
    /// pool's other replicas, as around a failed one) and finishes what it
    /// holds; `ReplicaRepaired` opens it again. Scale-in drains a replica
    /// before its node is released.
    ReplicaDrain { replica: u32 },
}

/// A new request, as a replica takes it (the fields of `Input::Arrival`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub request: RequestId,
    pub prompt_tokens: u32,
    pub output_tokens: u32,
    pub prefix: Option<Prefix>,
    pub session: Option<u32>,
}

/// Timing of a finished request, for TTFT / TPOT / end-to-end metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    pub arrived: SimTime,
    /// When it first entered a batch (None if it never did).
    pub admitted: Option<SimTime>,
    /// When the first output token was produced (None if none was).
    pub first_token: Option<SimTime>,
    /// When its last output token left the engine's server, the answer
    /// complete (None if it did not complete on a replica: the answer
    /// leaves when it is given).
    pub last_token: Option<SimTime>,
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
    /// Move `bytes` of KV cache of `request` (held in slot `handle` of
    /// prefill replica `from`) to decode replica `to`; answer
    /// `Input::KvArrived` with the same fields when the transfer completes.
    TransferKv { request: RequestId, from: u32, to: u32, handle: u32, bytes: u64 },
}
