//! The decode set: the sequences generating one token per step, kept so a
//! step costs O(1) in the batch.
//!
//! Why not a list walked each step: with hundreds of sequences decoding,
//! touching each one per step would dominate the simulation. Instead
//! nothing is stored per sequence that changes per step:
//! - a sequence's context is `ctx_at_join + (step − join_step)`, and Σ
//!   context grows by the batch size each step;
//! - a sequence finishes at a step known when it joins (`finish_step`),
//!   kept in an ordered set;
//! - the sequences that need a new KV block next step are those whose
//!   context is a multiple of the block size, i.e. whose
//!   `(ctx_at_join − join_step) mod block_tokens` equals `−step`: one
//!   counter per residue;
//! - the most recently joined sequence (the preemption victim, vLLM's LIFO)
//!   is the last of an ordered set by join order;
//! - with streaming output checks, chunk boundaries are found the same way
//!   (see [`ChunkWatch`]).
//!
//! Joining, finishing and leaving cost O(log n) each. The tests check every
//! answer against a plain `Vec` of sequences walked in full.

use super::seq::Seq;
use crate::{RequestId, Slab};
use std::collections::BTreeSet;

/// A sequence in the decode set, as it was when it joined.
#[derive(Debug, Clone, Copy)]
pub(super) struct Decoding {
    pub(super) seq: Seq,
    join_step: u64,
    join_order: u64,
    ctx_at_join: u64,
    finish_step: u64,
    /// Static batches reserve a sequence's lifetime of blocks up front;
    /// it holds max(reserved, blocks(context − shared)).
    pub(super) reserved: u64,
    /// Tokens of the cached prefix it references (0: none).
    pub(super) shared: u64,
}

/// A sequence taken out of the decode set, brought up to date.
#[derive(Debug, Clone, Copy)]
pub(super) struct Left {
    /// The sequence, its `generated` counting the steps it decoded here.
    pub(super) seq: Seq,
    /// Its context now (tokens of KV).
    pub(super) ctx: u64,
    pub(super) reserved: u64,
    pub(super) shared: u64,
}

#[derive(Debug)]
pub(super) struct DecodeSet {
    block_tokens: u64,
    slots: Slab<Decoding>,
    by_finish: BTreeSet<(u64, u32)>,
    by_join: BTreeSet<(u64, u32)>,
    join_counter: u64,
    /// Decode steps completed: the clock decoding sequences finish on.
    step: u64,
    context_sum: u64,
    /// Sequences by (ctx_at_join − join_step) mod block_tokens.
    growth: Vec<u64>,
    /// Streaming output checks: where each sequence's chunks end (off: None).
    watch: Option<ChunkWatch>,
}

/// Reports every `tokens`-th token of each sequence (chunk boundaries for
/// streaming output checks) without touching every sequence each step: a
/// decoding sequence that joined at step `j` with `g` tokens reaches a
/// multiple of `tokens` at the steps `s` with `s ≡ j − g (mod tokens)`, so
/// sequences are indexed by that residue and a step reads only its own
/// residue class: O(boundaries · log n) per step.
#[derive(Debug)]
struct ChunkWatch {
    tokens: u64,
    /// (residue, decoding slot).
    by_residue: BTreeSet<(u64, u32)>,
    /// (request, tokens generated so far) since the last drain.
    reached: Vec<(RequestId, u32)>,
}

impl ChunkWatch {
    fn residue(&self, d: &Decoding) -> u64 {
        let n = self.tokens;
        (d.join_step % n + n - u64::from(d.seq.generated) % n) % n
    }
}

impl DecodeSet {
    /// An empty set whose sequences grow in blocks of `block_tokens` (0 is
    /// taken as 1).
    pub(super) fn new(block_tokens: u32) -> Self {
        DecodeSet {
            block_tokens: u64::from(block_tokens.max(1)),
            slots: Slab::default(),
            by_finish: BTreeSet::new(),
            by_join: BTreeSet::new(),
            join_counter: 0,
            step: 0,
            context_sum: 0,
            growth: vec![0; block_tokens.max(1) as usize],
            watch: None,
        }
    }

    /// Reports each sequence's every `tokens`-th generated token (set while
    /// the set is empty).
    pub(super) fn watch_chunks(&mut self, tokens: u32) {
        let tokens = u64::from(tokens.max(1));
        self.watch = Some(ChunkWatch { tokens, by_residue: BTreeSet::new(), reached: Vec::new() });
    }

    /// `(request, tokens generated)` per chunk boundary reached since the
    /// last call.
    pub(super) fn drain_chunks(&mut self) -> impl Iterator<Item = (RequestId, u32)> + '_ {
        self.watch.iter_mut().flat_map(|w| w.reached.drain(..))
    }

    /// A sequence outside the set (its first token, at the end of its
    /// prefill) reached `seq.generated` tokens: a chunk boundary if that is
    /// a multiple of the chunk size short of its last token.
    pub(super) fn note_token(&mut self, seq: &Seq) {
        if let Some(w) = &mut self.watch {
            if seq.generated < seq.output && u64::from(seq.generated) % w.tokens == 0 {
                w.reached.push((seq.request, seq.generated));
            }
        }
    }

    pub(super) fn len(&self) -> u64 {
        self.by_join.len() as u64
    }

    /// Σ over the set of each sequence's context (tokens of KV).
    pub(super) fn context_sum(&self) -> u64 {
        self.context_sum
    }

    /// Sequences that need a new KV block in the next step.
    pub(super) fn growth_now(&self) -> u64 {
        let b = self.block_tokens;
        self.growth[((b - self.step % b) % b) as usize]
    }

    fn residue(&self, d: &Decoding) -> usize {
        let b = self.block_tokens;
        ((d.ctx_at_join % b + b - d.join_step % b) % b) as usize
    }

    /// Adds `seq` with `ctx` tokens of KV; `reserved` and `shared` as in
    /// [`Decoding`]. It finishes when it has generated `seq.output` tokens.
    pub(super) fn join(&mut self, seq: Seq, ctx: u64, reserved: u64, shared: u64) {
        let remaining = u64::from(seq.output - seq.generated);
        let d = Decoding {
            seq,
            join_step: self.step,
            join_order: self.join_counter,
            ctx_at_join: ctx,
            finish_step: self.step + remaining,
            reserved,
            shared,
        };
        self.join_counter += 1;
        let slot = self.slots.insert(d);
        self.by_finish.insert((d.finish_step, slot));
        self.by_join.insert((d.join_order, slot));
        let r = self.residue(&d);
        self.growth[r] += 1;
        self.context_sum += ctx;
        if let Some(w) = &mut self.watch {
            w.by_residue.insert((w.residue(&d), slot));
        }
    }

    /// Takes the sequence in `slot` out, up to date.
    fn remove(&mut self, slot: u32) -> Option<Left> {
        let d = self.slots.remove(slot)?;
        self.by_finish.remove(&(d.finish_step, slot));
        self.by_join.remove(&(d.join_order, slot));
        let r = self.residue(&d);
        self.growth[r] -= 1;
        if let Some(w) = &mut self.watch {
            w.by_residue.remove(&(w.residue(&d), slot));
        }
        let steps = self.step - d.join_step;
        let ctx = d.ctx_at_join + steps;
        self.context_sum -= ctx;
        let mut seq = d.seq;
        seq.generated += steps as u32;
        Some(Left { seq, ctx, reserved: d.reserved, shared: d.shared })
    }

    /// One decode step of the `decode_seqs` sequences in the set ended:
    /// each generated a token. Then take the finished ones
    /// ([`DecodeSet::pop_finished`]) and record the others' chunk
    /// boundaries ([`DecodeSet::note_chunks`]).
    pub(super) fn advance(&mut self, decode_seqs: u64) {
        self.step += 1;
        self.context_sum += decode_seqs;
    }

    /// A sequence that has generated its last token, if any.
    pub(super) fn pop_finished(&mut self) -> Option<Left> {
        let &(finish, slot) = self.by_finish.first()?;
        if finish > self.step {
            return None;
        }
        self.remove(slot)
    }

    /// Records the chunk boundaries the sequences still in the set reached
    /// at this step.
    pub(super) fn note_chunks(&mut self) {
        let Some(w) = &mut self.watch else { return };
        let r = self.step % w.tokens;
        for &(_, slot) in w.by_residue.range((r, 0)..=(r, u32::MAX)) {
            if let Some(d) = self.slots.get(slot) {
                let generated = d.seq.generated + (self.step - d.join_step) as u32;
                w.reached.push((d.seq.request, generated));
            }
        }
    }

    /// Σ over the set of min(tokens left to generate, `clip`). O(n).
    pub(super) fn remaining_outputs(&self, clip: u64) -> u64 {
        self.by_finish.iter().map(|&(finish, _)| (finish - self.step).min(clip)).sum()
    }

    /// Takes out the most recently joined sequence (the preemption victim).
    pub(super) fn pop_latest(&mut self) -> Option<Left> {
        let &(_, slot) = self.by_join.last()?;
        self.remove(slot)
    }

    fn slot_of(&self, request: RequestId) -> Option<u32> {
        self.by_join
            .iter()
            .map(|&(_, slot)| slot)
            .find(|&s| self.slots.get(s).is_some_and(|d| d.seq.request == request))
    }

    /// Whether `request` is in the set. O(n).
    pub(super) fn contains(&self, request: RequestId) -> bool {
        self.slot_of(request).is_some()
    }

    /// Takes `request` out, if it is in the set. O(n).
    pub(super) fn take(&mut self, request: RequestId) -> Option<Left> {
        let slot = self.slot_of(request)?;
        self.remove(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;
    use proptest::prelude::*;

    fn seq(request: u64, generated: u32, output: u32) -> Seq {
        Seq {
            request: RequestId(request),
            arrived: SimTime::ZERO,
            prompt: 1,
            output,
            generated,
            admitted: None,
            first_token: None,
            prefix: None,
            session: None,
        }
    }

    /// One sequence of the shadow: the state a plain walk recomputes.
    #[derive(Debug, Clone, Copy)]
    struct Plain {
        request: u64,
        ctx: u64,
        generated: u32,
        output: u32,
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// A sequence joins with this context, generated and remaining tokens.
        Join { ctx: u64, generated: u32, remaining: u32 },
        /// One decode step.
        Step,
        /// The latest joined sequence is preempted.
        Preempt,
        /// The `k`-th sequence (mod the count) is cancelled.
        Cancel { k: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u64..200, 0u32..40, 1u32..60)
                .prop_map(|(ctx, generated, remaining)| Op::Join { ctx, generated, remaining }),
            6 => Just(Op::Step),
            1 => Just(Op::Preempt),
            1 => (0usize..64).prop_map(|k| Op::Cancel { k }),
        ]
    }

    fn sorted(mut v: Vec<(RequestId, u32)>) -> Vec<(RequestId, u32)> {
        v.sort_unstable();
        v
    }

    proptest! {
        /// Every answer of the O(1)-per-step set equals what walking a
        /// plain `Vec` of its sequences gives.
        #[test]
        fn matches_a_plain_vec_shadow(block_tokens in 1u32..20, chunk in 1u32..9, ops in prop::collection::vec(op(), 1..300)) {
            let mut set = DecodeSet::new(block_tokens);
            set.watch_chunks(chunk);
            let (b, chunk) = (u64::from(block_tokens), u64::from(chunk));
            let mut shadow: Vec<Plain> = Vec::new();
            let mut next = 0u64;
            for op in ops {
                match op {
                    Op::Join { ctx, generated, remaining } => {
                        set.join(seq(next, generated, generated + remaining), ctx, 0, 0);
                        shadow.push(Plain { request: next, ctx, generated, output: generated + remaining });
                        next += 1;
                    }
                    Op::Step => {
                        set.advance(set.len());
                        let mut finished = Vec::new();
                        while let Some(l) = set.pop_finished() {
                            prop_assert_eq!(l.seq.generated, l.seq.output);
                            finished.push((l.seq.request, l.seq.generated));
                        }
                        set.note_chunks();
                        for p in &mut shadow {
                            p.ctx += 1;
                            p.generated += 1;
                        }
                        let (done, kept): (Vec<Plain>, Vec<Plain>) =
                            shadow.iter().partition(|p| p.generated >= p.output);
                        shadow = kept;
                        let want: Vec<_> = done.iter().map(|p| (RequestId(p.request), p.generated)).collect();
                        prop_assert_eq!(sorted(finished), sorted(want));
                        let boundaries: Vec<_> = shadow
                            .iter()
                            .filter(|p| u64::from(p.generated) % chunk == 0)
                            .map(|p| (RequestId(p.request), p.generated))
                            .collect();
                        prop_assert_eq!(sorted(set.drain_chunks().collect()), sorted(boundaries));
                    }
                    Op::Preempt => {
                        let got = set.pop_latest().map(|l| (l.seq.request, l.ctx, l.seq.generated));
                        let want = shadow.pop().map(|p| (RequestId(p.request), p.ctx, p.generated));
                        prop_assert_eq!(got, want);
                    }
                    Op::Cancel { k } => {
                        if shadow.is_empty() {
                            continue;
                        }
                        let p = shadow.remove(k % shadow.len());
                        prop_assert!(set.contains(RequestId(p.request)));
                        let l = set.take(RequestId(p.request)).map(|l| (l.ctx, l.seq.generated));
                        prop_assert_eq!(l, Some((p.ctx, p.generated)));
                        prop_assert!(!set.contains(RequestId(p.request)));
                    }
                }
                prop_assert_eq!(set.len(), shadow.len() as u64);
                prop_assert_eq!(set.context_sum(), shadow.iter().map(|p| p.ctx).sum::<u64>());
                prop_assert_eq!(set.growth_now(), shadow.iter().filter(|p| p.ctx % b == 0).count() as u64);
            }
        }
    }
}
