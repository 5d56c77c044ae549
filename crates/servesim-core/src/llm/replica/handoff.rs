//! Disaggregated serving, replica side: a `PrefillOnly` replica keeps a
//! finished prefill's KV in a hand-off slot until the scheduler's transfer
//! completes; a `DecodeOnly` replica queues the arrived sequence until its
//! blocks fit (then it joins decode like a swap-in, `step.rs`).
//!
//! Why slots and not immediate freeing: the KV is still being read by the
//! transfer, so its blocks stay counted here until `KvArrived`. Slot
//! handles are reused (a slab), so [`Replica::release`] checks that the
//! slot still holds the request it names.

use super::seq::Seq;
use super::{Action, Outcome, Replica};
use crate::RequestId;

/// A prefill that finished on a `PrefillOnly` replica: its KV (`ctx_tokens`
/// tokens) waits in slot `handle` for a transfer to a decode replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefilled {
    pub handle: u32,
    pub request: RequestId,
    pub ctx_tokens: u64,
}

/// A sequence in transit between replicas: released by the prefill replica,
/// accepted by a decode replica.
#[derive(Debug, Clone, Copy)]
pub struct Handoff {
    pub(super) seq: Seq,
    ctx: u64,
    blocks: u64,
    /// Tokens of a cached prefix referenced on the prefill replica.
    shared: u64,
}

impl Handoff {
    pub fn request(&self) -> RequestId {
        self.seq.request
    }
}

impl Replica {
    /// PrefillOnly: finished prefills for the scheduler to transfer.
    pub fn drain_prefilled(&mut self) -> std::vec::Drain<'_, Prefilled> {
        self.prefilled.drain(..)
    }

    /// PrefillOnly: the transfer of `handle` completed; frees its KV blocks
    /// here and returns the sequence for a decode replica. `None` if the
    /// handle does not hold `request`.
    pub fn release(&mut self, handle: u32, request: RequestId) -> Option<Handoff> {
        if self.handoffs.get(handle)?.seq.request != request {
            return None;
        }
        let h = self.handoffs.remove(handle)?;
        self.in_transfer -= 1;
        self.kv.release(h.blocks);
        self.kv.release_prefix(h.seq.prefix, h.shared);
        Some(h)
    }

    /// DecodeOnly: KV of a prefilled sequence arrived. It waits in the
    /// arrived-KV queue until blocks are free; if it could never fit here
    /// (prompt + output above capacity) it is answered `Failed`.
    pub fn accept(&mut self, h: Handoff, out: &mut Vec<Action>) {
        if self.could_ever_fit(u64::from(h.seq.prompt) + u64::from(h.seq.output)) {
            self.arrived.push_back((h.seq, h.ctx));
        } else {
            out.push(Action::Respond { request: h.seq.request, outcome: Outcome::Failed, served: h.seq.served() });
        }
    }

    /// PrefillOnly: keeps a prefilled sequence's KV until its transfer ends.
    pub(super) fn hand_off(&mut self, seq: Seq, ctx: u64, blocks: u64, shared: u64) {
        let handle = self.handoffs.insert(Handoff { seq, ctx, blocks, shared });
        self.in_transfer += 1;
        self.prefilled.push(Prefilled { handle, request: seq.request, ctx_tokens: ctx });
    }

    /// Whether `request` is held here awaiting its transfer.
    pub(super) fn handoffs_hold(&self, request: RequestId) -> bool {
        self.in_transfer > 0 && self.handoffs.values().any(|h| h.seq.request == request)
    }
}
