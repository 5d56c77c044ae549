//! Cancelling a request on a replica: wherever it is, its queue slot, batch
//! slot and KV blocks are freed and it is answered `Cancelled` once.
//!
//! Why a cancel can wait: a GPU step is not interrupted, so a sequence in
//! the step now running is stopped when that step ends (and completes if
//! that step completes it); a sequence whose KV is in transfer belongs to
//! the scheduler until the transfer ends. The tokens computed for it and
//! thrown away are counted as wasted work.

use super::seq::Seq;
use super::{Action, Outcome, Replica};
use crate::RequestId;

/// Where a cancelled request was when [`Replica::cancel`] was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// Removed now; answered `Cancelled`.
    Stopped,
    /// In the step now running: removed (and answered) when it ends, unless
    /// that step completes it.
    AtStepEnd,
    /// Prefilled here, its KV in transfer to a decode replica: the
    /// scheduler stops it when the transfer ends.
    InTransfer,
    /// Not held here (never was, or already answered).
    NotHere,
}

impl Replica {
    /// Stops serving `request` (its caller gave up, or a check stopped it):
    /// frees its queue slot, batch slot and KV blocks, and answers it
    /// `Cancelled` with the tokens it had generated. A GPU step is not
    /// interrupted: a sequence in the running step is stopped when it ends
    /// (if that step completes it, it completes). O(requests held here).
    pub fn cancel(&mut self, request: RequestId, out: &mut Vec<Action>) -> Cancel {
        let in_batch = self.prefilling.iter().any(|p| p.seq.request == request) || self.decode.contains(request);
        if in_batch && self.in_flight.is_some() {
            if !self.cancelling.contains(&request) {
                self.cancelling.push(request);
            }
            return Cancel::AtStepEnd;
        }
        if self.handoffs_hold(request) {
            return Cancel::InTransfer;
        }
        match self.take(request) {
            Some(seq) => {
                out.push(Action::Respond { request, outcome: Outcome::Cancelled, served: seq.served() });
                self.flush_static_batch(out);
                Cancel::Stopped
            }
            None => Cancel::NotHere,
        }
    }

    /// Removes `request` from wherever it waits or runs (not in a step in
    /// flight), freeing what it holds and counting its wasted tokens.
    pub(super) fn take(&mut self, request: RequestId) -> Option<Seq> {
        let (seq, wasted) = if let Some(i) = self.waiting.iter().position(|s| s.request == request) {
            (self.waiting.remove(i)?, 0)
        } else if let Some(i) = self.swapped.iter().position(|(s, _)| s.request == request) {
            self.swapped.remove(i)?
        } else if let Some(i) = self.arrived.iter().position(|(s, _)| s.request == request) {
            self.arrived.remove(i)?
        } else if let Some(i) = self.held.iter().position(|s| s.request == request) {
            let seq = self.held.remove(i);
            (seq, u64::from(seq.prefill_len()))
        } else if let Some(i) = self.prefilling.iter().position(|p| p.seq.request == request) {
            let p = self.prefilling.remove(i)?;
            self.kv.release(p.blocks);
            self.kv.release_prefix(p.seq.prefix, p.shared);
            (p.seq, u64::from(p.done) - p.shared)
        } else {
            let left = self.decode.take(request)?;
            self.free_decoded(&left);
            (left.seq, left.ctx - left.shared)
        };
        self.stats.cancelled += 1;
        self.stats.cancelled_tokens += wasted;
        Some(seq)
    }
}
