//! A replica's step cycle: admit work, plan the step, apply it when the GPU
//! finishes.
//!
//! `poll` runs between steps: under static batching it starts a batch when
//! one is due; otherwise it preempts until this step's decode growth fits,
//! brings swapped-out sequences back, admits waiting prompts, then (decode
//! role) sequences whose KV arrived — in that order, so work already begun
//! goes first. `plan` turns the batch into a [`StepShape`] within the
//! policy's token budget; `step_done` applies it: a token per decoding
//! sequence, prefill progress, first tokens, completions.
//!
//! Two ways a real server delays what the step cycle alone would give:
//! - An overlap scheduler (`ReplicaConfig::overlap`) planned the step that
//!   starts now while the previous one ran, so requests that arrived since
//!   that step started wait for the next plan.
//! - The API server streams every token the engine produces, one after
//!   another at `token_stream_cost` each (detokenize, send), so a first
//!   token and an answer reach the client when the stream has sent them;
//!   a closed-loop client sends its next request from then. With many
//!   streams and fast steps the stream, not the GPU, sets the pace.

use super::decode::Left;
use super::seq::{Plan, Prefilling, Seq};
use super::{Action, Policy, Preemption, Replica, Role};
use crate::llm::{Served, StepShape};
use crate::time::{SimDuration, SimTime};
use crate::Outcome;
use std::collections::VecDeque;

/// The queues of sequences whose KV context is known and that rejoin the
/// decode set directly.
#[derive(Debug, Clone, Copy)]
enum Parked {
    /// Swapped out to host memory (swap preemption).
    Swapped,
    /// DecodeOnly: transferred from a prefill replica.
    Arrived,
}

impl Replica {
    /// Plans and starts the next step if the GPU is idle and there is work.
    pub fn poll(&mut self, now: SimTime, out: &mut Vec<Action>) {
        if self.in_flight.is_some() || self.down {
            return;
        }
        let mut swap_bytes = 0;
        self.hold_back_late_arrivals(now);
        let batch = match self.cfg.policy {
            Policy::Static { max_wait } => self.running() > 0 || self.admit_static(now, max_wait, out),
            Policy::Continuous | Policy::ChunkedPrefill { .. } => {
                swap_bytes += self.make_room_for_growth();
                let swapped_in = self.resume(Parked::Swapped);
                swap_bytes += self.kv_bytes(swapped_in);
                self.admit(now, false);
                self.resume(Parked::Arrived);
                true
            }
            Policy::VllmV1 { .. } => {
                self.schedule_vllm(now);
                true
            }
            Policy::Sglang { .. } => {
                self.schedule_sglang(now);
                true
            }
            Policy::Trtllm { .. } => {
                self.schedule_trtllm(now);
                true
            }
        };
        self.waiting.append(&mut self.late);
        if !batch {
            return;
        }
        let (shape, plan) = self.plan();
        if shape.tokens() == 0 {
            return;
        }
        self.stats.steps += 1;
        self.stats.swapped_bytes += swap_bytes;
        self.in_flight = Some(plan);
        self.last_step = (now, SimTime::MAX);
        out.push(Action::StartStep { replica: self.index, shape, swap_bytes });
    }

    /// Overlap scheduler: the step starting now was planned when the step
    /// that just ended started, so requests that arrived since then wait
    /// for the next plan. Takes them off the back of the waiting queue (it
    /// is in arrival order behind any recomputed sequences) into `late`,
    /// which the caller puts back. With nothing running the engine is idle
    /// and waits for requests, so it plans with every one.
    fn hold_back_late_arrivals(&mut self, now: SimTime) {
        let (started, ended) = self.last_step;
        if !self.cfg.overlap || ended != now || self.running() == 0 {
            return;
        }
        let early = self.waiting.iter().rposition(|s| s.arrived < started).map_or(0, |i| i + 1);
        self.late.extend(self.waiting.drain(early..));
    }

    /// Bytes of KV in `blocks` whole blocks (what a swap moves over PCIe).
    fn kv_bytes(&self, blocks: u64) -> u64 {
        blocks * u64::from(self.cfg.block_tokens) * self.cfg.kv_bytes_per_token
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
    /// their KV fits: the prompt's blocks above the watermark and this step's growth, or (static,
    /// `lifetime`) the blocks of prompt + output with no watermark.
    fn admit(&mut self, now: SimTime, lifetime: bool) {
        while self.running() < u64::from(self.cfg.max_seqs) {
            let Some(&seq) = self.waiting.front() else { break };
            let (tokens, headroom) = if lifetime {
                (u64::from(seq.prompt) + u64::from(seq.output), 0)
            } else {
                (u64::from(seq.prefill_len()), self.growth_headroom())
            };
            let shared = self.cached_prefix(&seq);
            if !self.take_waiting(now, self.kv.blocks(tokens - shared), headroom) {
                break;
            }
        }
    }

    /// Tokens of `seq`'s prefix found in the prefix cache (0: none).
    pub(super) fn cached_prefix(&self, seq: &Seq) -> u64 {
        seq.prefix.filter(|p| self.kv.has_prefix(p.id)).map_or(0, |p| self.kv.cached_tokens(p))
    }

    /// Moves the front waiting sequence into prefill holding `need` new
    /// blocks (taken if `need + headroom` are free; false, changing
    /// nothing, if not), its cached prefix, if any, referenced.
    pub(super) fn take_waiting(&mut self, now: SimTime, need: u64, headroom: u64) -> bool {
        let Some(&seq) = self.waiting.front() else { return false };
        let hit = seq.prefix.filter(|p| self.kv.has_prefix(p.id));
        let shared = self.cached_prefix(&seq);
        if !self.kv.reserve(need, headroom, hit.map(|p| p.id)) {
            return false;
        }
        if self.kv.caches_prefixes() {
            self.stats.prefix_lookups += 1;
        }
        if let Some(p) = hit {
            self.kv.acquire_prefix(p.id);
            self.stats.prefix_hits += 1;
            self.stats.prefix_cached_tokens += shared;
        }
        let mut seq = seq;
        seq.admitted.get_or_insert(now);
        self.waiting.pop_front();
        self.prefilling.push_back(Prefilling { seq, done: shared as u32, blocks: need, shared });
        true
    }

    /// Preempts the latest-joined decoding sequences until this step's KV
    /// growth fits, evicting idle cached prefixes first. Returns bytes
    /// swapped out.
    fn make_room_for_growth(&mut self) -> u64 {
        let mut bytes = 0;
        while self.decode.growth_now() > self.kv.free() {
            if self.kv.evict_one(None) {
                continue;
            }
            match self.preempt_latest_decoding() {
                Some(swapped) => bytes += swapped,
                None => break,
            }
        }
        bytes
    }

    /// Preempts the most recently joined decoding sequence, by the
    /// configured mode; returns the bytes swapped out, or None if none
    /// decodes.
    pub(super) fn preempt_latest_decoding(&mut self) -> Option<u64> {
        let victim = self.decode.pop_latest()?;
        self.free_decoded(&victim);
        // The tokens it generated since joining stay generated: a
        // recompute prefills them with the prompt, a swap keeps them.
        let Left { seq, ctx, .. } = victim;
        self.stats.preemptions += 1;
        match self.cfg.preemption {
            Preemption::Recompute => {
                self.stats.recomputed_tokens += ctx;
                self.waiting.push_front(seq);
                Some(0)
            }
            Preemption::Swap => {
                let bytes = self.kv_bytes(self.kv.blocks(ctx));
                self.swapped.push_back((seq, ctx));
                Some(bytes)
            }
        }
    }

    fn parked(&mut self, queue: Parked) -> &mut VecDeque<(Seq, u64)> {
        match queue {
            Parked::Swapped => &mut self.swapped,
            Parked::Arrived => &mut self.arrived,
        }
    }

    /// Moves sequences from `queue` into decode, in order, while the batch
    /// has room and their context's blocks fit above the watermark. Returns
    /// the blocks they took.
    fn resume(&mut self, queue: Parked) -> u64 {
        let mut blocks = 0;
        while let Some(&(seq, ctx)) = self.parked(queue).front() {
            let need = self.kv.blocks(ctx);
            if self.running() >= u64::from(self.cfg.max_seqs) || !self.kv.reserve(need, self.growth_headroom(), None) {
                break;
            }
            self.parked(queue).pop_front();
            blocks += need;
            self.decode.join(seq, ctx, 0, 0);
        }
        blocks
    }

    /// Blocks an admission must leave free: the watermark plus the blocks
    /// the running decodes take at the end of this step, which
    /// `make_room_for_growth` cleared before admission began. Without the
    /// latter, a pool whose watermark is smaller than one step's growth
    /// (a few blocks) is over-committed when the step ends.
    fn growth_headroom(&self) -> u64 {
        self.cfg.watermark_blocks + self.decode.growth_now()
    }

    /// The next step's shape, and what to apply when it ends.
    fn plan(&mut self) -> (StepShape, Plan) {
        let decode_seqs = if self.prefill_runs_alone() { 0 } else { self.decode.len() };
        let mut shape = StepShape::decode(decode_seqs, if decode_seqs > 0 { self.decode.context_sum() } else { 0 });
        let new_blocks = if decode_seqs > 0 { self.decode.growth_now() } else { 0 };
        let mut plan = Plan { decode_seqs, new_blocks, chunks: Vec::new() };
        let mut budget = self.prefill_budget(decode_seqs);
        let splits = self.cfg.policy.splits();
        // A recomputed sequence (prompt + generated) longer than the budget
        // still runs, as the step's only prefill, so it is never starved.
        let oversize = matches!(self.cfg.policy, Policy::Static { .. } | Policy::Continuous);
        for p in &self.prefilling {
            let left = u64::from(p.seq.prefill_len() - p.done);
            let chunk = if splits {
                left.min(budget)
            } else if left <= budget || (oversize && plan.chunks.is_empty()) {
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

    /// Prompt tokens the next step may compute beside `decode_seqs` decodes.
    pub(super) fn prefill_budget(&self, decode_seqs: u64) -> u64 {
        let tokens = match self.cfg.policy {
            Policy::Static { .. } => return u64::MAX,
            Policy::ChunkedPrefill { chunk_tokens } => chunk_tokens,
            _ => self.cfg.max_batched_tokens,
        };
        u64::from(tokens).saturating_sub(decode_seqs)
    }

    /// SGLang: a prefill batch (a prompt or a prompt's chunk in progress)
    /// runs without the decodes.
    fn prefill_runs_alone(&self) -> bool {
        matches!(self.cfg.policy, Policy::Sglang { .. }) && !self.prefilling.is_empty()
    }

    /// Gives back the KV blocks and prefix reference of a sequence that
    /// left the decode set.
    pub(super) fn free_decoded(&mut self, l: &Left) {
        self.kv.release(self.kv.blocks(l.ctx - l.shared).max(l.reserved));
        self.kv.release_prefix(l.seq.prefix, l.shared);
    }

    /// Applies the finished step: one token per decoding sequence, prefill
    /// progress, first tokens, completions.
    pub fn step_done(&mut self, now: SimTime, out: &mut Vec<Action>) {
        let Some(plan) = self.in_flight.take() else { return };
        self.last_step.1 = now;
        let sent = self.stream(now, &plan);
        let lifetime = self.cfg.policy.reserves_lifetime();
        if plan.decode_seqs > 0 {
            self.decode.advance(plan.decode_seqs);
            if !lifetime {
                self.kv.grow(plan.new_blocks);
            }
            self.decay_new_token_ratio();
            while let Some(done) = self.decode.pop_finished() {
                self.free_decoded(&done);
                let mut seq = done.seq;
                seq.generated = seq.output;
                self.kv.keep_context(seq.session, done.ctx);
                self.finish(seq, sent, out);
            }
            self.decode.note_chunks();
        }
        for chunk in plan.chunks {
            let Some(p) = self.prefilling.front_mut() else { break };
            p.done += chunk;
            if p.done < p.seq.prefill_len() {
                break;
            }
            let Some(Prefilling { mut seq, blocks, shared, .. }) = self.prefilling.pop_front() else { break };
            let (blocks, shared) = self.kv.publish_prefix(seq.prefix, blocks, shared);
            let ctx = u64::from(seq.prefill_len());
            seq.generated += 1;
            seq.first_token.get_or_insert(sent);
            self.decode.note_token(&seq);
            if seq.generated >= seq.output {
                self.kv.release(blocks);
                self.kv.release_prefix(seq.prefix, shared);
                self.kv.keep_context(seq.session, ctx);
                self.finish(seq, sent, out);
            } else if self.role == Role::PrefillOnly {
                self.hand_off(seq, ctx, blocks, shared);
            } else {
                self.decode.join(seq, ctx, if lifetime { blocks } else { 0 }, shared);
            }
        }
        for request in std::mem::take(&mut self.cancelling) {
            if let Some(seq) = self.take(request) {
                out.push(Action::Respond { request, outcome: Outcome::Cancelled, served: seq.served() });
            }
        }
        self.flush_static_batch(out);
    }

    /// The tokens of the step that ended now (one per decoding sequence
    /// and per prompt it completed) join the server's stream, which sends
    /// one token every `token_stream_cost`, in order: returns when this
    /// step's tokens are all sent (now, with a free stream).
    fn stream(&mut self, now: SimTime, plan: &Plan) -> SimTime {
        if self.cfg.token_stream_cost == SimDuration::ZERO {
            return now;
        }
        let firsts =
            plan.chunks.iter().zip(&self.prefilling).filter(|(c, p)| p.done + **c >= p.seq.prefill_len()).count();
        let tokens = plan.decode_seqs + firsts as u64;
        self.stream_free = self.stream_free.max(now) + SimDuration(self.cfg.token_stream_cost.0.saturating_mul(tokens));
        self.stream_free
    }

    /// A completed sequence, its last token sent at `sent`.
    fn finish(&mut self, seq: Seq, sent: SimTime, out: &mut Vec<Action>) {
        if matches!(self.cfg.policy, Policy::Static { .. }) {
            self.held.push(seq);
        } else {
            let served = Served { last_token: Some(sent), ..seq.served() };
            out.push(Action::Respond { request: seq.request, outcome: Outcome::Completed, served });
        }
    }

    /// Static: answers the held batch once nothing of it still runs.
    pub(super) fn flush_static_batch(&mut self, out: &mut Vec<Action>) {
        if matches!(self.cfg.policy, Policy::Static { .. }) && self.running() == 0 {
            for seq in self.held.drain(..) {
                out.push(Action::Respond { request: seq.request, outcome: Outcome::Completed, served: seq.served() });
            }
        }
    }
}
