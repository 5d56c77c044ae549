//! One model replica: a waiting queue, sequences in prefill and in decode,
//! a paged KV cache, and the policy that plans each step.
//!
//! Policies:
//! - `Static`: a batch of up to `max_seqs` forms (full, or its oldest waited
//!   `max_wait`), prefills together, then decodes until its longest sequence
//!   ends; nobody joins meanwhile and every caller is answered at the end.
//! - `Continuous` (Orca/vLLM): sequences join between steps, whole prompts
//!   prefilled in one step, bounded by `max_seqs` and `max_batched_tokens`.
//! - `ChunkedPrefill` (Sarathi): each step spends a token budget on one
//!   token per decoding sequence first, then on prompt chunks, so a long
//!   prompt never stalls decodes for a whole prefill.
//!
//! KV cache: paged, `block_tokens` per block. A sequence is admitted only if
//! its prompt's blocks fit above the watermark; it then holds
//! ceil(context / block) blocks. When decode growth would overflow, the most
//! recently joined sequence is preempted (vLLM's LIFO): by recompute (its
//! KV is dropped; it re-prefills prompt + generated tokens later) or by swap
//! (its blocks move to host memory over PCIe and come back before new work).
//!
//! Cost per step is O(1) in the batch plus O(log n) per sequence that joins,
//! finishes or is preempted: decoding sequences finish at a known step
//! counter (kept in an ordered set), Σ context grows by the batch size each
//! step, and the number of sequences that need a new KV block this step is a
//! counter per residue of (context − join step) mod block_tokens.
//!
//! Roles (disaggregated serving, DistServe/Splitwise style): a `Both`
//! replica prefills and decodes. A `PrefillOnly` replica never decodes: a
//! sequence whose prefill ends (first token produced) keeps its KV blocks
//! and waits in a hand-off slot until the scheduler's KV transfer completes
//! ([`Replica::release`] frees the blocks). A `DecodeOnly` replica takes
//! transferred sequences into a queue of arrived KV ([`Replica::accept`])
//! and admits them, blocks permitting, straight into decode — the same
//! O(1)-per-step bookkeeping as a swap-in. A recompute-preempted sequence on
//! a decode replica re-prefills there (its prompt's KV is gone elsewhere).

use super::{Action, Served};
use crate::core::{Outcome, RequestId, Slab};
use crate::model::step::StepShape;
use crate::time::{SimDuration, SimTime};
use std::collections::{BTreeSet, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Static { max_wait: SimDuration },
    Continuous,
    ChunkedPrefill { chunk_tokens: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Preemption {
    /// Drop the victim's KV; recompute its prompt and generated tokens later.
    #[default]
    Recompute,
    /// Move the victim's KV to host memory over PCIe and back.
    Swap,
}

/// What a replica does in its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Prefill and decode (colocated serving).
    #[default]
    Both,
    /// Prefill only; finished prefills are handed off for KV transfer.
    PrefillOnly,
    /// Decode only; admits sequences whose KV arrived by transfer.
    DecodeOnly,
}

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
    seq: Seq,
    ctx: u64,
    blocks: u64,
}

impl Handoff {
    pub fn request(&self) -> RequestId {
        self.seq.request
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaConfig {
    pub policy: Policy,
    pub max_seqs: u32,
    pub max_batched_tokens: u32,
    pub kv_blocks: u64,
    pub block_tokens: u32,
    pub watermark_blocks: u64,
    pub preemption: Preemption,
    /// KV bytes of one token on one GPU of the replica (swap traffic).
    pub kv_bytes_per_token: u64,
    /// Most requests waiting; overflow is answered `Overloaded`.
    pub queue_capacity: Option<u64>,
}

/// What a replica counted, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReplicaStats {
    pub steps: u64,
    pub preemptions: u64,
    /// Tokens whose KV was discarded by recompute preemption (recomputed later).
    pub recomputed_tokens: u64,
    pub swapped_bytes: u64,
}

/// A request that has not finished.
#[derive(Debug, Clone, Copy)]
struct Seq {
    request: RequestId,
    arrived: SimTime,
    /// The prompt as sent.
    prompt: u32,
    output: u32,
    generated: u32,
    /// When it first entered a batch (end of its queue wait).
    admitted: Option<SimTime>,
    first_token: Option<SimTime>,
}

impl Seq {
    /// Tokens to prefill: the prompt, plus generated tokens after a recompute.
    fn prefill_len(&self) -> u32 {
        self.prompt + self.generated
    }

    fn served(&self) -> Served {
        Served {
            arrived: self.arrived,
            admitted: self.admitted,
            first_token: self.first_token,
            prompt_tokens: self.prompt,
            output_tokens: self.generated,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Prefilling {
    seq: Seq,
    done: u32,
    /// KV blocks held: the prompt's (or, static, the whole lifetime's).
    blocks: u64,
}

#[derive(Debug, Clone, Copy)]
struct Decoding {
    seq: Seq,
    join_step: u64,
    join_order: u64,
    ctx_at_join: u64,
    finish_step: u64,
    /// Static batches reserve a sequence's lifetime of blocks up front;
    /// it holds max(reserved, blocks(context)).
    reserved: u64,
}

/// The step in flight: what to apply when it finishes.
#[derive(Debug, Default)]
struct Plan {
    decode_seqs: u64,
    new_blocks: u64,
    /// (index into `prefilling`, tokens) — prefill chunks run from the front.
    chunks: Vec<u32>,
}

pub struct Replica {
    index: u32,
    cfg: ReplicaConfig,
    waiting: VecDeque<Seq>,
    swapped: VecDeque<(Seq, u64)>,
    prefilling: VecDeque<Prefilling>,
    decoding: Slab<Decoding>,
    by_finish: BTreeSet<(u64, u32)>,
    by_join: BTreeSet<(u64, u32)>,
    join_counter: u64,
    /// Decode steps completed: the clock decoding sequences finish on.
    step_counter: u64,
    context_sum: u64,
    /// Decoding sequences by (ctx_at_join − join_step) mod block_tokens.
    growth: Vec<u64>,
    used_blocks: u64,
    in_flight: Option<Plan>,
    /// Static batching: responses held until the batch ends.
    held: Vec<(RequestId, Served)>,
    armed: Option<SimTime>,
    stats: ReplicaStats,
    role: Role,
    /// PrefillOnly: sequences whose KV awaits transfer, by handle (a slab).
    handoffs: Slab<Handoff>,
    in_transfer: u64,
    /// PrefillOnly: finished prefills not yet taken by the scheduler.
    prefilled: Vec<Prefilled>,
    /// DecodeOnly: sequences whose KV (ctx tokens) arrived, not yet admitted.
    arrived: VecDeque<(Seq, u64)>,
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

impl Replica {
    /// Replica number `index` (used in the actions it emits).
    pub fn new(index: u32, cfg: ReplicaConfig) -> Self {
        Replica {
            index,
            growth: vec![0; cfg.block_tokens.max(1) as usize],
            cfg,
            waiting: VecDeque::new(),
            swapped: VecDeque::new(),
            prefilling: VecDeque::new(),
            decoding: Slab::default(),
            by_finish: BTreeSet::new(),
            by_join: BTreeSet::new(),
            join_counter: 0,
            step_counter: 0,
            context_sum: 0,
            used_blocks: 0,
            in_flight: None,
            held: Vec::new(),
            armed: None,
            stats: ReplicaStats::default(),
            role: Role::Both,
            handoffs: Slab::default(),
            in_transfer: 0,
            prefilled: Vec::new(),
            arrived: VecDeque::new(),
        }
    }

    /// Sets this replica's role (before it sees any request).
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn stats(&self) -> ReplicaStats {
        self.stats
    }

    /// Requests waiting, swapped out, prefilling or decoding here, or whose
    /// KV awaits transfer from here (prefill role) or admission (decode role).
    pub fn outstanding(&self) -> u64 {
        (self.waiting.len() + self.swapped.len() + self.prefilling.len() + self.by_join.len() + self.held.len()) as u64
            + self.in_transfer
            + self.arrived.len() as u64
    }

    /// Requests not in the batch: queued, swapped out, or with arrived KV.
    pub fn waiting(&self) -> u64 {
        (self.waiting.len() + self.swapped.len() + self.arrived.len()) as u64
    }

    /// PrefillOnly: sequences whose KV is held here until its transfer ends.
    pub fn in_transfer(&self) -> u64 {
        self.in_transfer
    }

    /// Sequences in the running batch (prefilling or decoding).
    pub fn running(&self) -> u64 {
        (self.prefilling.len() + self.by_join.len()) as u64
    }

    pub fn kv_used_blocks(&self) -> u64 {
        self.used_blocks
    }

    pub fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    fn blocks(&self, tokens: u64) -> u64 {
        ceil_div(tokens, u64::from(self.cfg.block_tokens))
    }

    fn free_blocks(&self) -> u64 {
        self.cfg.kv_blocks.saturating_sub(self.used_blocks)
    }

    /// A new request: queued, or answered at once if it can never fit or
    /// the queue is full.
    pub fn arrive(&mut self, now: SimTime, request: RequestId, prompt: u32, output: u32, out: &mut Vec<Action>) {
        let seq = Seq {
            request,
            arrived: now,
            prompt,
            output: output.max(1),
            generated: 0,
            admitted: None,
            first_token: None,
        };
        let lifetime_blocks = self.blocks(u64::from(prompt) + u64::from(output));
        let outcome = if lifetime_blocks > self.cfg.kv_blocks.saturating_sub(self.cfg.watermark_blocks) {
            Some(Outcome::Failed)
        } else if self.cfg.queue_capacity.is_some_and(|cap| self.waiting.len() as u64 >= cap) {
            Some(Outcome::Overloaded)
        } else {
            None
        };
        match outcome {
            Some(outcome) => out.push(Action::Respond { request, outcome, served: seq.served() }),
            None => self.waiting.push_back(seq),
        }
    }

    pub fn timer(&mut self, at: SimTime) {
        if self.armed == Some(at) {
            self.armed = None;
        }
    }

    /// Plans and starts the next step if the GPU is idle and there is work.
    pub fn poll(&mut self, now: SimTime, out: &mut Vec<Action>) {
        if self.in_flight.is_some() {
            return;
        }
        let mut swap_bytes = 0;
        match self.cfg.policy {
            Policy::Static { max_wait } => {
                if self.running() == 0 && !self.admit_static(now, max_wait, out) {
                    return;
                }
            }
            Policy::Continuous | Policy::ChunkedPrefill { .. } => {
                swap_bytes += self.make_room_for_growth();
                swap_bytes += self.swap_in();
                self.admit(now, false);
                self.admit_arrived();
            }
        }
        let (shape, plan) = self.plan();
        if shape.tokens() == 0 {
            return;
        }
        self.stats.steps += 1;
        self.stats.swapped_bytes += swap_bytes;
        self.in_flight = Some(plan);
        out.push(Action::StartStep { replica: self.index, shape, swap_bytes });
    }

    /// Static: start a batch when full or its oldest waited `max_wait`.
    fn admit_static(&mut self, now: SimTime, max_wait: SimDuration, out: &mut Vec<Action>) -> bool {
        let Some(oldest) = self.waiting.front() else { return false };
        let due = oldest.arrived + max_wait;
        if (self.waiting.len() as u64) < u64::from(self.cfg.max_seqs) && now < due {
            if self.armed.is_none_or(|a| a > due) {
                self.armed = Some(due);
                out.push(Action::ArmTimer { replica: self.index, at: due });
            }
            return false;
        }
        // A static batch reserves each sequence's whole lifetime of KV.
        self.admit(now, true);
        !self.prefilling.is_empty()
    }

    /// Moves waiting requests into prefill while the batch has room and
    /// their KV fits: the prompt's blocks above the watermark, or (static,
    /// `lifetime`) the blocks of prompt + output with no watermark.
    fn admit(&mut self, now: SimTime, lifetime: bool) {
        while self.running() < u64::from(self.cfg.max_seqs) {
            let Some(seq) = self.waiting.front() else { break };
            let (tokens, reserve) = if lifetime {
                (u64::from(seq.prompt) + u64::from(seq.output), 0)
            } else {
                (u64::from(seq.prefill_len()), self.cfg.watermark_blocks)
            };
            let need = self.blocks(tokens);
            if need + reserve > self.free_blocks() {
                break;
            }
            self.used_blocks += need;
            let mut seq = *seq;
            seq.admitted.get_or_insert(now);
            self.waiting.pop_front();
            self.prefilling.push_back(Prefilling { seq, done: 0, blocks: need });
        }
    }

    /// Decoding sequences that need a new KV block in the next step.
    fn growth_now(&self) -> u64 {
        let b = u64::from(self.cfg.block_tokens.max(1));
        self.growth[((b - self.step_counter % b) % b) as usize]
    }

    fn residue(&self, d: &Decoding) -> usize {
        let b = u64::from(self.cfg.block_tokens.max(1));
        ((d.ctx_at_join % b + b - d.join_step % b) % b) as usize
    }

    /// Preempts the latest-joined decoding sequences until this step's KV
    /// growth fits. Returns bytes swapped out.
    fn make_room_for_growth(&mut self) -> u64 {
        let mut bytes = 0;
        while self.growth_now() > self.free_blocks() {
            let Some(&(_, slot)) = self.by_join.last() else { break };
            let Some(victim) = self.remove_decoding(slot) else { break };
            let ctx = victim.ctx_at_join + (self.step_counter - victim.join_step);
            self.stats.preemptions += 1;
            match self.cfg.preemption {
                Preemption::Recompute => {
                    self.stats.recomputed_tokens += ctx;
                    self.waiting.push_front(victim.seq);
                }
                Preemption::Swap => {
                    bytes += self.blocks(ctx) * u64::from(self.cfg.block_tokens) * self.cfg.kv_bytes_per_token;
                    self.swapped.push_back((victim.seq, ctx));
                }
            }
        }
        bytes
    }

    /// Brings swapped-out sequences back (before admitting new work).
    fn swap_in(&mut self) -> u64 {
        let mut bytes = 0;
        while let Some(&(seq, ctx)) = self.swapped.front() {
            let need = self.blocks(ctx);
            if need + self.cfg.watermark_blocks > self.free_blocks() || self.running() >= u64::from(self.cfg.max_seqs) {
                break;
            }
            self.swapped.pop_front();
            self.used_blocks += need;
            bytes += need * u64::from(self.cfg.block_tokens) * self.cfg.kv_bytes_per_token;
            self.join_decoding(seq, ctx, 0);
        }
        bytes
    }

    /// DecodeOnly: admits sequences whose KV arrived, in arrival order, while
    /// the batch has room and their context's blocks fit above the watermark.
    fn admit_arrived(&mut self) {
        while let Some(&(seq, ctx)) = self.arrived.front() {
            let need = self.blocks(ctx);
            if need + self.cfg.watermark_blocks > self.free_blocks() || self.running() >= u64::from(self.cfg.max_seqs) {
                break;
            }
            self.arrived.pop_front();
            self.used_blocks += need;
            self.join_decoding(seq, ctx, 0);
        }
    }

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
        self.used_blocks -= h.blocks;
        Some(h)
    }

    /// DecodeOnly: KV of a prefilled sequence arrived. It waits in the
    /// arrived-KV queue until blocks are free; if it could never fit here
    /// (prompt + output above capacity) it is answered `Failed`.
    pub fn accept(&mut self, h: Handoff, out: &mut Vec<Action>) {
        // The same lifetime bound as `arrive`: prompt + output tokens.
        let lifetime = self.blocks(u64::from(h.seq.prompt) + u64::from(h.seq.output));
        if lifetime > self.cfg.kv_blocks.saturating_sub(self.cfg.watermark_blocks) {
            out.push(Action::Respond { request: h.seq.request, outcome: Outcome::Failed, served: h.seq.served() });
        } else {
            self.arrived.push_back((h.seq, h.ctx));
        }
    }

    /// PrefillOnly: keeps a prefilled sequence's KV until its transfer ends.
    fn hand_off(&mut self, seq: Seq, ctx: u64, blocks: u64) {
        let h = Handoff { seq, ctx, blocks };
        let handle = self.handoffs.insert(h);
        self.in_transfer += 1;
        self.prefilled.push(Prefilled { handle, request: seq.request, ctx_tokens: ctx });
    }

    /// The next step's shape, and what to apply when it ends.
    fn plan(&mut self) -> (StepShape, Plan) {
        let decode_seqs = self.by_join.len() as u64;
        let mut shape = StepShape::decode(decode_seqs, self.context_sum);
        let mut plan = Plan { decode_seqs, new_blocks: self.growth_now(), chunks: Vec::new() };
        let mut budget = match self.cfg.policy {
            Policy::Static { .. } => u64::MAX,
            Policy::Continuous => u64::from(self.cfg.max_batched_tokens).saturating_sub(decode_seqs),
            Policy::ChunkedPrefill { chunk_tokens } => u64::from(chunk_tokens).saturating_sub(decode_seqs),
        };
        let splits = matches!(self.cfg.policy, Policy::ChunkedPrefill { .. });
        for p in &self.prefilling {
            let left = u64::from(p.seq.prefill_len() - p.done);
            let chunk = if splits {
                left.min(budget)
            } else if left <= budget || plan.chunks.is_empty() {
                // A prompt longer than the budget still runs, as the step's
                // only prefill, so it is never starved.
                left
            } else {
                0
            };
            if chunk == 0 {
                break;
            }
            shape = shape.with_prefill(chunk, u64::from(p.done));
            plan.chunks.push(chunk as u32);
            budget = budget.saturating_sub(chunk);
        }
        (shape, plan)
    }

    /// Adds a sequence whose KV (`ctx` tokens, already counted in
    /// `used_blocks`) is in the cache.
    fn join_decoding(&mut self, seq: Seq, ctx: u64, reserved: u64) {
        let remaining = u64::from(seq.output - seq.generated);
        let d = Decoding {
            seq,
            join_step: self.step_counter,
            join_order: self.join_counter,
            ctx_at_join: ctx,
            finish_step: self.step_counter + remaining,
            reserved,
        };
        self.join_counter += 1;
        let slot = self.decoding.insert(d);
        self.by_finish.insert((d.finish_step, slot));
        self.by_join.insert((d.join_order, slot));
        let r = self.residue(&d);
        self.growth[r] += 1;
        self.context_sum += ctx;
    }

    /// Takes a decoding sequence out (finished or preempted), releasing its
    /// KV blocks and its share of the incremental sums.
    fn remove_decoding(&mut self, slot: u32) -> Option<Decoding> {
        let d = self.decoding.remove(slot)?;
        self.by_finish.remove(&(d.finish_step, slot));
        self.by_join.remove(&(d.join_order, slot));
        let r = self.residue(&d);
        self.growth[r] -= 1;
        let ctx = d.ctx_at_join + (self.step_counter - d.join_step);
        self.context_sum -= ctx;
        self.used_blocks -= self.blocks(ctx).max(d.reserved);
        Some(d)
    }

    /// Applies the finished step: one token per decoding sequence, prefill
    /// progress, first tokens, completions.
    pub fn step_done(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let Some(plan) = self.in_flight.take() else { return };
        let is_static = matches!(self.cfg.policy, Policy::Static { .. });
        if plan.decode_seqs > 0 {
            self.step_counter += 1;
            self.context_sum += plan.decode_seqs;
            if !is_static {
                self.used_blocks += plan.new_blocks;
            }
            while let Some(&(finish, slot)) = self.by_finish.first() {
                if finish > self.step_counter {
                    break;
                }
                if let Some(mut d) = self.remove_decoding(slot) {
                    d.seq.generated = d.seq.output;
                    self.finish(d.seq, out);
                }
            }
        }
        for chunk in plan.chunks {
            let Some(p) = self.prefilling.front_mut() else { break };
            p.done += chunk;
            if p.done < p.seq.prefill_len() {
                break;
            }
            let Some(Prefilling { mut seq, blocks, .. }) = self.prefilling.pop_front() else { break };
            let ctx = u64::from(seq.prefill_len());
            seq.generated += 1;
            seq.first_token.get_or_insert(now);
            if seq.generated >= seq.output {
                self.used_blocks -= blocks;
                self.finish(seq, out);
            } else if self.role == Role::PrefillOnly {
                self.hand_off(seq, ctx, blocks);
            } else {
                self.join_decoding(seq, ctx, if is_static { blocks } else { 0 });
            }
        }
        if is_static && self.running() == 0 {
            for (request, served) in self.held.drain(..) {
                out.push(Action::Respond { request, outcome: Outcome::Completed, served });
            }
        }
    }

    fn finish(&mut self, seq: Seq, out: &mut Vec<Action>) {
        if matches!(self.cfg.policy, Policy::Static { .. }) {
            self.held.push((seq.request, seq.served()));
        } else {
            out.push(Action::Respond { request: seq.request, outcome: Outcome::Completed, served: seq.served() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(policy: Policy, kv_blocks: u64, preemption: Preemption) -> ReplicaConfig {
        ReplicaConfig {
            policy,
            max_seqs: 64,
            max_batched_tokens: 4096,
            kv_blocks,
            block_tokens: 16,
            watermark_blocks: 0,
            preemption,
            kv_bytes_per_token: 100,
            queue_capacity: None,
        }
    }

    /// Runs `requests` (prompt, output) arriving at t=0 to completion with
    /// 1 ms steps; returns responses in order and every step's shape.
    fn drive(
        cfg: ReplicaConfig,
        requests: &[(u32, u32)],
    ) -> (Replica, Vec<(RequestId, Outcome, Served)>, Vec<StepShape>) {
        let mut r = Replica::new(0, cfg);
        let mut out = Vec::new();
        let mut now = SimTime::ZERO;
        for (i, &(p, o)) in requests.iter().enumerate() {
            r.arrive(now, RequestId(i as u64), p, o, &mut out);
        }
        let (mut responses, mut shapes) = (Vec::new(), Vec::new());
        for _ in 0..100_000 {
            r.poll(now, &mut out);
            let mut stepped = false;
            for a in out.drain(..) {
                match a {
                    Action::StartStep { shape, .. } => {
                        shapes.push(shape);
                        stepped = true;
                    }
                    Action::Respond { request, outcome, served } => responses.push((request, outcome, served)),
                    Action::ArmTimer { at, .. } => {
                        now = now.max(at);
                        r.timer(at);
                    }
                    Action::TransferKv { .. } => unreachable!("only the scheduler transfers KV"),
                }
            }
            if stepped {
                now += SimDuration::from_millis(1);
                r.step_done(now, &mut out);
            } else if r.outstanding() == 0 && out.is_empty() {
                break;
            }
        }
        (r, responses, shapes)
    }

    #[test]
    fn one_request_prefills_then_decodes() {
        let (r, responses, shapes) = drive(config(Policy::Continuous, 1000, Preemption::Recompute), &[(100, 5)]);
        assert_eq!(shapes[0], StepShape::prefill(100, 0));
        assert_eq!(shapes[1], StepShape::decode(1, 100));
        assert_eq!(shapes[4], StepShape::decode(1, 103));
        assert_eq!(shapes.len(), 5);
        let (_, outcome, served) = responses[0];
        assert_eq!(outcome, Outcome::Completed);
        assert_eq!(served.first_token, Some(SimTime(1_000_000)));
        assert_eq!(served.output_tokens, 5);
        assert_eq!(r.kv_used_blocks(), 0);
    }

    #[test]
    fn continuous_lets_short_requests_leave_early() {
        let (_, responses, _) = drive(config(Policy::Continuous, 1000, Preemption::Recompute), &[(10, 50), (10, 2)]);
        assert_eq!(responses[0].0, RequestId(1), "the short request finishes first");
        assert_eq!(responses.len(), 2);
    }

    #[test]
    fn static_answers_the_whole_batch_at_the_end() {
        let policy = Policy::Static { max_wait: SimDuration::ZERO };
        let (r, responses, shapes) = drive(config(policy, 1000, Preemption::Recompute), &[(10, 50), (10, 2)]);
        assert_eq!(shapes[0], StepShape::prefill(10, 0).with_prefill(10, 0));
        let finished: Vec<_> = responses.iter().map(|(_, _, s)| s.output_tokens).collect();
        assert_eq!(finished, vec![2, 50]);
        assert_eq!(shapes.len(), 50, "one prefill step then 49 decode steps for the longest");
        assert_eq!(r.kv_used_blocks(), 0);
    }

    #[test]
    fn chunked_prefill_respects_the_token_budget() {
        let policy = Policy::ChunkedPrefill { chunk_tokens: 64 };
        let (r, responses, shapes) = drive(config(policy, 1000, Preemption::Recompute), &[(200, 20), (50, 20)]);
        assert!(shapes.iter().all(|s| s.tokens() <= 64), "{shapes:?}");
        assert_eq!(shapes[0], StepShape::prefill(64, 0));
        assert_eq!(responses.len(), 2);
        assert_eq!(r.kv_used_blocks(), 0);
    }

    #[test]
    fn kv_pressure_preempts_and_everyone_finishes() {
        for preemption in [Preemption::Recompute, Preemption::Swap] {
            // 40 blocks of 16 tokens; eight requests of 64 + 200 tokens each
            // cannot all grow at once.
            let requests = vec![(64, 200); 8];
            let (r, responses, _) = drive(config(Policy::Continuous, 40, preemption), &requests);
            assert_eq!(responses.len(), 8, "{preemption:?}");
            assert!(responses.iter().all(|(_, o, s)| *o == Outcome::Completed && s.output_tokens == 200));
            assert!(r.stats().preemptions > 0, "{preemption:?}");
            assert_eq!(r.kv_used_blocks(), 0, "{preemption:?}");
            match preemption {
                Preemption::Recompute => assert!(r.stats().recomputed_tokens > 0),
                Preemption::Swap => assert!(r.stats().swapped_bytes > 0),
            }
        }
    }

    #[test]
    fn a_request_that_can_never_fit_fails_at_once() {
        let (_, responses, shapes) = drive(config(Policy::Continuous, 4, Preemption::Recompute), &[(100, 10)]);
        assert_eq!(responses[0].1, Outcome::Failed);
        assert!(shapes.is_empty());
    }
}
