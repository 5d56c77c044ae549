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
//!
//! Prefix cache (optional, `prefix.rs`): a request carrying a cached prefix
//! starts its prefill after the prefix (the step's shape counts the prefix
//! as cached context) and holds only its own blocks; the prefix's blocks
//! are counted once. A preempted sequence drops its reference (recompute
//! looks the prefix up again; swap moves its whole context, as a private
//! copy). Unreferenced prefixes are evicted before anyone is preempted.

use super::prefix::{Prefix, PrefixCache, PrefixCacheConfig};
use super::{Action, Job, Served, StepShape};
use crate::core::{Outcome, RequestId, Slab};
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
    /// Tokens of a cached prefix referenced on the prefill replica.
    shared: u64,
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
    /// Keep shared prefixes' KV between requests. None: off.
    pub prefix_cache: Option<PrefixCacheConfig>,
}

/// What a replica holds right now; the scheduler keeps the pool's sum
/// incrementally so drivers read it in O(1) per event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    pub outstanding: u64,
    pub waiting: u64,
    pub running: u64,
    pub kv_used_blocks: u64,
}

impl Load {
    fn zip(self, o: Load, f: impl Fn(u64, u64) -> u64) -> Load {
        Load {
            outstanding: f(self.outstanding, o.outstanding),
            waiting: f(self.waiting, o.waiting),
            running: f(self.running, o.running),
            kv_used_blocks: f(self.kv_used_blocks, o.kv_used_blocks),
        }
    }

    /// `self + after − before`, never underflowing.
    pub fn replace(self, before: Load, after: Load) -> Load {
        self.zip(after, |a, b| a + b).zip(before, |a, b| a - b)
    }
}

/// What a replica counted, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReplicaStats {
    pub steps: u64,
    pub preemptions: u64,
    /// Tokens whose KV was discarded by recompute preemption (recomputed later).
    pub recomputed_tokens: u64,
    pub swapped_bytes: u64,
    /// Admissions while the prefix cache is on, of any request (again
    /// after a recompute preemption).
    pub prefix_lookups: u64,
    /// Of those, admissions that found the prefix cached.
    pub prefix_hits: u64,
    /// Prompt tokens whose prefill a cached prefix skipped.
    pub prefix_cached_tokens: u64,
    pub prefix_evictions: u64,
    /// Requests stopped by [`Replica::cancel`] before completing.
    pub cancelled: u64,
    /// Tokens computed for cancelled requests and thrown away: prefill
    /// progress and generated tokens (wasted GPU work).
    pub cancelled_tokens: u64,
}

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
    /// A cacheable prefix: its full blocks' tokens, fewer than `prompt`.
    prefix: Option<Prefix>,
    /// Its conversation: its context is cached under this id when it ends.
    session: Option<u32>,
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
    /// KV blocks held: the prompt's (or, static, the whole lifetime's),
    /// beside a shared prefix's.
    blocks: u64,
    /// Tokens of the cached prefix it references (0: none).
    shared: u64,
}

#[derive(Debug, Clone, Copy)]
struct Decoding {
    seq: Seq,
    join_step: u64,
    join_order: u64,
    ctx_at_join: u64,
    finish_step: u64,
    /// Static batches reserve a sequence's lifetime of blocks up front;
    /// it holds max(reserved, blocks(context − shared)).
    reserved: u64,
    /// Tokens of the cached prefix it references (0: none).
    shared: u64,
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
    /// Static batching: finished sequences held until the batch ends.
    held: Vec<Seq>,
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
    prefixes: Option<PrefixCache>,
    /// Requests to stop when the step in flight ends.
    cancelling: Vec<RequestId>,
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

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b.max(1))
}

impl Replica {
    /// Replica number `index` (used in the actions it emits).
    pub fn new(index: u32, cfg: ReplicaConfig) -> Self {
        Replica {
            index,
            growth: vec![0; cfg.block_tokens.max(1) as usize],
            prefixes: cfg.prefix_cache.map(PrefixCache::new),
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
            cancelling: Vec::new(),
            watch: None,
        }
    }

    /// Reports each sequence's every `tokens`-th generated token (see
    /// [`Replica::drain_chunks`]); set before the replica sees a request.
    pub fn watch_chunks(&mut self, tokens: u32) {
        let tokens = u64::from(tokens.max(1));
        self.watch = Some(ChunkWatch { tokens, by_residue: BTreeSet::new(), reached: Vec::new() });
    }

    /// `(request, tokens generated)` for each chunk boundary reached since
    /// the last call: a multiple of the watched chunk size, short of the
    /// request's last token (its completion reports that).
    pub fn drain_chunks(&mut self) -> impl Iterator<Item = (RequestId, u32)> + '_ {
        self.watch.iter_mut().flat_map(|w| w.reached.drain(..))
    }

    /// Sets this replica's role (before it sees any request).
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn stats(&self) -> ReplicaStats {
        ReplicaStats { prefix_evictions: self.prefixes.as_ref().map_or(0, |c| c.evictions), ..self.stats }
    }

    /// Whether prefix `id` is in this replica's prefix cache.
    pub fn has_prefix(&self, id: u32) -> bool {
        self.prefixes.as_ref().is_some_and(|c| c.contains(id))
    }

    /// Tokens of prefix `p` that its cache entry holds: all of them, or
    /// fewer when the entry is an earlier, shorter context of the same id.
    fn cached_tokens(&self, p: Prefix) -> u64 {
        let entry = self.prefixes.as_ref().map_or(0, |c| c.blocks_of(p.id)) * u64::from(self.cfg.block_tokens);
        entry.min(u64::from(p.tokens))
    }

    /// Blocks held by cached prefixes, and references to them.
    pub fn prefix_cache_usage(&self) -> (u64, u64) {
        self.prefixes.as_ref().map_or((0, 0), |c| (c.held_blocks(), c.refs()))
    }

    /// Evicts every unreferenced cached prefix (e.g. to check accounting).
    pub fn flush_prefix_cache(&mut self) {
        while let Some(b) = self.prefixes.as_mut().and_then(|c| c.evict_one(None)) {
            self.used_blocks -= b;
        }
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

    /// Everything the pool totals track, at once.
    pub fn load(&self) -> Load {
        Load {
            outstanding: self.outstanding(),
            waiting: self.waiting(),
            running: self.running(),
            kv_used_blocks: self.used_blocks,
        }
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

    /// Evicts unreferenced cached prefixes (not `keep`) until `need` blocks
    /// are free; false, evicting nothing, if they cannot be.
    fn reclaim(&mut self, need: u64, keep: Option<u32>) -> bool {
        if need <= self.free_blocks() {
            return true;
        }
        let Some(cache) = self.prefixes.as_mut() else { return false };
        if need > self.cfg.kv_blocks.saturating_sub(self.used_blocks) + cache.evictable_blocks(keep) {
            return false;
        }
        while need > self.cfg.kv_blocks.saturating_sub(self.used_blocks) {
            let Some(b) = cache.evict_one(keep) else { return false };
            self.used_blocks -= b;
        }
        true
    }

    /// A new request: queued, or answered at once if it can never fit or
    /// the queue is full. Its prefix, if any, is what it may find cached;
    /// with the prefix cache on, only full blocks (fewer tokens than the
    /// prompt) are cacheable.
    pub fn arrive(&mut self, now: SimTime, job: Job, out: &mut Vec<Action>) {
        let Job { request, prompt_tokens: prompt, output_tokens: output, prefix, session } = job;
        let b = self.cfg.block_tokens.max(1);
        let prefix = prefix
            .filter(|_| self.prefixes.is_some())
            .map(|p| Prefix { id: p.id, tokens: p.tokens.min(prompt.saturating_sub(1)) / b * b })
            .filter(|p| p.tokens > 0);
        let seq = Seq {
            prefix,
            session: session.filter(|_| self.prefixes.is_some() && self.role == Role::Both),
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
            let Some(&seq) = self.waiting.front() else { break };
            let (tokens, reserve) = if lifetime {
                (u64::from(seq.prompt) + u64::from(seq.output), 0)
            } else {
                (u64::from(seq.prefill_len()), self.cfg.watermark_blocks)
            };
            let hit = seq.prefix.filter(|p| self.has_prefix(p.id));
            let shared = hit.map_or(0, |p| self.cached_tokens(p));
            let need = self.blocks(tokens - shared);
            if !self.reclaim(need + reserve, hit.map(|p| p.id)) {
                break;
            }
            if self.prefixes.is_some() {
                self.stats.prefix_lookups += 1;
            }
            if let (Some(p), Some(cache)) = (hit, self.prefixes.as_mut()) {
                cache.acquire(p.id);
                self.stats.prefix_hits += 1;
                self.stats.prefix_cached_tokens += shared;
            }
            self.used_blocks += need;
            let mut seq = seq;
            seq.admitted.get_or_insert(now);
            self.waiting.pop_front();
            self.prefilling.push_back(Prefilling { seq, done: shared as u32, blocks: need, shared });
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
            if let Some(b) = self.prefixes.as_mut().and_then(|c| c.evict_one(None)) {
                self.used_blocks -= b;
                continue;
            }
            let Some(&(_, slot)) = self.by_join.last() else { break };
            let Some(victim) = self.remove_decoding(slot) else { break };
            let steps = self.step_counter - victim.join_step;
            let ctx = victim.ctx_at_join + steps;
            // The tokens it generated since joining stay generated: a
            // recompute prefills them with the prompt, a swap keeps them.
            let mut seq = victim.seq;
            seq.generated += steps as u32;
            self.stats.preemptions += 1;
            match self.cfg.preemption {
                Preemption::Recompute => {
                    self.stats.recomputed_tokens += ctx;
                    self.waiting.push_front(seq);
                }
                Preemption::Swap => {
                    bytes += self.blocks(ctx) * u64::from(self.cfg.block_tokens) * self.cfg.kv_bytes_per_token;
                    self.swapped.push_back((seq, ctx));
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
            if self.running() >= u64::from(self.cfg.max_seqs) || !self.reclaim(need + self.cfg.watermark_blocks, None) {
                break;
            }
            self.swapped.pop_front();
            self.used_blocks += need;
            bytes += need * u64::from(self.cfg.block_tokens) * self.cfg.kv_bytes_per_token;
            self.join_decoding(seq, ctx, 0, 0);
        }
        bytes
    }

    /// DecodeOnly: admits sequences whose KV arrived, in arrival order, while
    /// the batch has room and their context's blocks fit above the watermark.
    fn admit_arrived(&mut self) {
        while let Some(&(seq, ctx)) = self.arrived.front() {
            let need = self.blocks(ctx);
            if self.running() >= u64::from(self.cfg.max_seqs) || !self.reclaim(need + self.cfg.watermark_blocks, None) {
                break;
            }
            self.arrived.pop_front();
            self.used_blocks += need;
            self.join_decoding(seq, ctx, 0, 0);
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
        self.release_prefix(&h.seq, h.shared);
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
    fn hand_off(&mut self, seq: Seq, ctx: u64, blocks: u64, shared: u64) {
        let h = Handoff { seq, ctx, blocks, shared };
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

    /// Drops a sequence's reference to its cached prefix, if it holds one.
    fn release_prefix(&mut self, seq: &Seq, shared: u64) {
        if let (true, Some(p), Some(cache)) = (shared > 0, seq.prefix, self.prefixes.as_mut()) {
            cache.release(p.id);
        }
    }

    /// A prefill carrying a cacheable prefix finished: its prefix's blocks
    /// become the cache entry (or, if another copy was published first, are
    /// freed), and the sequence references the entry. Returns the
    /// sequence's own blocks and the shared tokens.
    fn publish_prefix(&mut self, seq: &Seq, blocks: u64, shared: u64) -> (u64, u64) {
        let (Some(p), Some(cache), 0) = (seq.prefix, self.prefixes.as_mut(), shared) else { return (blocks, shared) };
        let prefix_blocks = u64::from(p.tokens) / u64::from(self.cfg.block_tokens.max(1));
        if cache.contains(p.id) && cache.blocks_of(p.id) != prefix_blocks {
            // Another length under the same id (a conversation's other turn):
            // keep this copy private.
            return (blocks, 0);
        } else if cache.contains(p.id) {
            self.used_blocks -= prefix_blocks;
        } else {
            if cache.full() {
                let Some(freed) = cache.evict_one(None) else { return (blocks, 0) };
                self.used_blocks -= freed;
            }
            cache.insert(p.id, prefix_blocks);
        }
        cache.acquire(p.id);
        (blocks - prefix_blocks, u64::from(p.tokens))
    }

    /// Adds a sequence whose KV (`ctx` tokens, already counted in
    /// `used_blocks`; `shared` of them in a cached prefix) is in the cache.
    fn join_decoding(&mut self, seq: Seq, ctx: u64, reserved: u64, shared: u64) {
        let remaining = u64::from(seq.output - seq.generated);
        let d = Decoding {
            seq,
            join_step: self.step_counter,
            join_order: self.join_counter,
            ctx_at_join: ctx,
            finish_step: self.step_counter + remaining,
            reserved,
            shared,
        };
        self.join_counter += 1;
        let slot = self.decoding.insert(d);
        self.by_finish.insert((d.finish_step, slot));
        self.by_join.insert((d.join_order, slot));
        let r = self.residue(&d);
        self.growth[r] += 1;
        self.context_sum += ctx;
        if let Some(w) = &mut self.watch {
            w.by_residue.insert((w.residue(&d), slot));
        }
    }

    /// Takes a decoding sequence out (finished or preempted), releasing its
    /// KV blocks and its share of the incremental sums.
    fn remove_decoding(&mut self, slot: u32) -> Option<Decoding> {
        let d = self.decoding.remove(slot)?;
        self.by_finish.remove(&(d.finish_step, slot));
        self.by_join.remove(&(d.join_order, slot));
        let r = self.residue(&d);
        self.growth[r] -= 1;
        if let Some(w) = &mut self.watch {
            w.by_residue.remove(&(w.residue(&d), slot));
        }
        let ctx = d.ctx_at_join + (self.step_counter - d.join_step);
        self.context_sum -= ctx;
        self.used_blocks -= self.blocks(ctx - d.shared).max(d.reserved);
        self.release_prefix(&d.seq, d.shared);
        Some(d)
    }

    /// Stops serving `request` (its caller gave up, or a check stopped it):
    /// frees its queue slot, batch slot and KV blocks, and answers it
    /// `Cancelled` with the tokens it had generated. A GPU step is not
    /// interrupted: a sequence in the running step is stopped when it ends
    /// (if that step completes it, it completes). O(requests held here).
    pub fn cancel(&mut self, request: RequestId, out: &mut Vec<Action>) -> Cancel {
        let in_batch =
            self.prefilling.iter().any(|p| p.seq.request == request) || self.decoding_slot(request).is_some();
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

    fn decoding_slot(&self, request: RequestId) -> Option<u32> {
        self.by_join
            .iter()
            .map(|&(_, slot)| slot)
            .find(|&s| self.decoding.get(s).is_some_and(|d| d.seq.request == request))
    }

    fn handoffs_hold(&self, request: RequestId) -> bool {
        self.in_transfer > 0 && self.handoffs.values().any(|h| h.seq.request == request)
    }

    /// Removes `request` from wherever it waits or runs (not in a step in
    /// flight), freeing what it holds and counting its wasted tokens.
    fn take(&mut self, request: RequestId) -> Option<Seq> {
        let (seq, wasted) = if let Some(i) = self.waiting.iter().position(|s| s.request == request) {
            (self.waiting.remove(i)?, 0)
        } else if let Some(i) = self.swapped.iter().position(|(s, _)| s.request == request) {
            let (seq, ctx) = self.swapped.remove(i)?;
            (seq, ctx)
        } else if let Some(i) = self.arrived.iter().position(|(s, _)| s.request == request) {
            let (seq, ctx) = self.arrived.remove(i)?;
            (seq, ctx)
        } else if let Some(i) = self.held.iter().position(|s| s.request == request) {
            let seq = self.held.remove(i);
            (seq, u64::from(seq.prefill_len()))
        } else if let Some(i) = self.prefilling.iter().position(|p| p.seq.request == request) {
            let p = self.prefilling.remove(i)?;
            self.used_blocks -= p.blocks;
            self.release_prefix(&p.seq, p.shared);
            (p.seq, u64::from(p.done) - p.shared)
        } else {
            let slot = self.decoding_slot(request)?;
            let d = self.remove_decoding(slot)?;
            let steps = self.step_counter - d.join_step;
            let mut seq = d.seq;
            seq.generated += steps as u32;
            (seq, d.ctx_at_join + steps - d.shared)
        };
        self.stats.cancelled += 1;
        self.stats.cancelled_tokens += wasted;
        Some(seq)
    }

    /// Static: answers the held batch once nothing of it still runs.
    fn flush_static_batch(&mut self, out: &mut Vec<Action>) {
        if matches!(self.cfg.policy, Policy::Static { .. }) && self.running() == 0 {
            for seq in self.held.drain(..) {
                out.push(Action::Respond { request: seq.request, outcome: Outcome::Completed, served: seq.served() });
            }
        }
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
                    self.keep_context(&d.seq, d.ctx_at_join + (self.step_counter - d.join_step));
                    self.finish(d.seq, out);
                }
            }
            if let Some(w) = &mut self.watch {
                let r = self.step_counter % w.tokens;
                for &(_, slot) in w.by_residue.range((r, 0)..=(r, u32::MAX)) {
                    if let Some(d) = self.decoding.get(slot) {
                        let generated = d.seq.generated + (self.step_counter - d.join_step) as u32;
                        w.reached.push((d.seq.request, generated));
                    }
                }
            }
        }
        for chunk in plan.chunks {
            let Some(p) = self.prefilling.front_mut() else { break };
            p.done += chunk;
            if p.done < p.seq.prefill_len() {
                break;
            }
            let Some(Prefilling { mut seq, blocks, shared, .. }) = self.prefilling.pop_front() else { break };
            let (blocks, shared) = self.publish_prefix(&seq, blocks, shared);
            let ctx = u64::from(seq.prefill_len());
            seq.generated += 1;
            seq.first_token.get_or_insert(now);
            if let Some(w) = &mut self.watch {
                if seq.generated < seq.output && u64::from(seq.generated) % w.tokens == 0 {
                    w.reached.push((seq.request, seq.generated));
                }
            }
            if seq.generated >= seq.output {
                self.used_blocks -= blocks;
                self.release_prefix(&seq, shared);
                self.keep_context(&seq, ctx);
                self.finish(seq, out);
            } else if self.role == Role::PrefillOnly {
                self.hand_off(seq, ctx, blocks, shared);
            } else {
                self.join_decoding(seq, ctx, if is_static { blocks } else { 0 }, shared);
            }
        }
        for request in std::mem::take(&mut self.cancelling) {
            if let Some(seq) = self.take(request) {
                out.push(Action::Respond { request, outcome: Outcome::Cancelled, served: seq.served() });
            }
        }
        self.flush_static_batch(out);
    }

    /// A conversation turn ended with `ctx` tokens of KV (its blocks just
    /// freed): its full blocks become the cache entry of its session, the
    /// next turn's prefix, replacing the session's earlier, shorter entry.
    /// Skipped if that entry is still referenced or the blocks cannot be
    /// found by evicting idle entries.
    fn keep_context(&mut self, seq: &Seq, ctx: u64) {
        let (Some(id), Some(cache)) = (seq.session, self.prefixes.as_mut()) else { return };
        let blocks = ctx / u64::from(self.cfg.block_tokens.max(1));
        if blocks == 0 || cache.is_referenced(id) {
            return;
        }
        if let Some(old) = cache.remove_idle(id) {
            self.used_blocks -= old;
        }
        if !self.reclaim(blocks, None) {
            return;
        }
        let Some(cache) = self.prefixes.as_mut() else { return };
        if cache.full() {
            let Some(freed) = cache.evict_one(None) else { return };
            self.used_blocks -= freed;
        }
        cache.insert(id, blocks);
        self.used_blocks += blocks;
    }

    fn finish(&mut self, seq: Seq, out: &mut Vec<Action>) {
        if matches!(self.cfg.policy, Policy::Static { .. }) {
            self.held.push(seq);
        } else {
            out.push(Action::Respond { request: seq.request, outcome: Outcome::Completed, served: seq.served() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(request: RequestId, prompt_tokens: u32, output_tokens: u32, prefix: Option<Prefix>) -> Job {
        Job { request, prompt_tokens, output_tokens, prefix, session: None }
    }

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
            prefix_cache: None,
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
            r.arrive(now, job(RequestId(i as u64), p, o, None), &mut out);
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
            let (r, responses, shapes) = drive(config(Policy::Continuous, 40, preemption), &requests);
            assert_eq!(responses.len(), 8, "{preemption:?}");
            assert!(responses.iter().all(|(_, o, s)| *o == Outcome::Completed && s.output_tokens == 200));
            // Preempted work is redone as prefill, never regenerated: every
            // sequence decodes exactly its 199 tokens after the first.
            let decoded: u64 = shapes.iter().map(|s| s.decode_seqs).sum();
            let first_tokens = 8 + r.stats().preemptions * u64::from(preemption == Preemption::Recompute);
            assert_eq!(decoded + first_tokens, 8 * 200, "{preemption:?}");
            assert!(r.stats().preemptions > 0, "{preemption:?}");
            assert_eq!(r.kv_used_blocks(), 0, "{preemption:?}");
            match preemption {
                Preemption::Recompute => assert!(r.stats().recomputed_tokens > 0),
                Preemption::Swap => assert!(r.stats().swapped_bytes > 0),
            }
        }
    }

    fn cached(kv_blocks: u64) -> ReplicaConfig {
        let mut cfg = config(Policy::Continuous, kv_blocks, Preemption::Recompute);
        cfg.prefix_cache = Some(PrefixCacheConfig { eviction: super::super::PrefixEviction::Lru, max_prefixes: None });
        cfg
    }

    fn ms(n: u64) -> SimTime {
        SimTime(n * 1_000_000)
    }

    /// Steps `r` (1 ms each, from `t` ms) until it has nothing left;
    /// returns the responses and the end time in ms.
    fn run_out(r: &mut Replica, mut t: u64) -> (Vec<Action>, u64) {
        let (mut out, mut responses) = (Vec::new(), Vec::new());
        while r.outstanding() > 0 {
            r.poll(ms(t), &mut out);
            assert!(r.busy(), "work left but no step");
            t += 1;
            r.step_done(ms(t), &mut out);
            responses.extend(out.drain(..).filter(|a| matches!(a, Action::Respond { .. })));
        }
        (responses, t)
    }

    #[test]
    fn a_cached_prefix_skips_its_prefill_shares_its_blocks_and_drains_to_zero() {
        let mut r = Replica::new(0, cached(1000));
        let mut out = Vec::new();
        // A 100-token prefix: its 6 full blocks (96 tokens) are cacheable.
        let prefix = Some(Prefix { id: 3, tokens: 100 });
        r.arrive(ms(0), job(RequestId(0), 300, 3, prefix), &mut out);
        r.poll(ms(0), &mut out);
        let [Action::StartStep { shape, .. }] = out[..] else { panic!("{out:?}") };
        assert_eq!(shape, StepShape::prefill(300, 0), "a miss prefills the whole prompt");
        out.clear();
        r.step_done(ms(1), &mut out);
        assert_eq!(r.prefix_cache_usage(), (6, 1), "published, referenced by its sequence");
        assert_eq!(r.kv_used_blocks(), 19, "6 shared + ceil(204 / 16) own = ceil(300 / 16)");
        // The same prefix again: a hit, 96 tokens of prefill skipped, 13 own blocks.
        r.arrive(ms(1), job(RequestId(1), 300, 3, prefix), &mut out);
        r.poll(ms(1), &mut out);
        let [Action::StartStep { shape, .. }] = out[..] else { panic!("{out:?}") };
        assert_eq!(shape, StepShape::decode(1, 300).with_prefill(204, 96));
        assert_eq!(r.kv_used_blocks(), 19 + 13, "the prefix's blocks counted once");
        assert_eq!(r.prefix_cache_usage(), (6, 2));
        out.clear();
        r.step_done(ms(2), &mut out);
        let (responses, _) = run_out(&mut r, 2);
        assert_eq!(responses.len(), 2);
        let s = r.stats();
        assert_eq!((s.prefix_lookups, s.prefix_hits, s.prefix_cached_tokens), (2, 1, 96));
        // Drained: only the unreferenced cached prefix holds blocks.
        assert_eq!(r.prefix_cache_usage(), (6, 0));
        assert_eq!(r.kv_used_blocks(), 6);
        r.flush_prefix_cache();
        assert_eq!(r.kv_used_blocks(), 0);
        assert_eq!(r.prefix_cache_usage(), (0, 0));
    }

    #[test]
    fn unreferenced_prefixes_are_evicted_when_blocks_are_needed() {
        // 30 blocks: a cached 6-block prefix, then a prompt needing 25 blocks.
        let mut r = Replica::new(0, cached(30));
        let mut out = Vec::new();
        r.arrive(ms(0), job(RequestId(0), 100, 1, Some(Prefix { id: 1, tokens: 96 })), &mut out);
        let (responses, t) = run_out(&mut r, 0);
        assert_eq!((responses.len(), r.kv_used_blocks(), r.prefix_cache_usage()), (1, 6, (6, 0)));
        r.arrive(ms(t), job(RequestId(1), 400, 2, None), &mut out);
        let (responses, _) = run_out(&mut r, t);
        assert!(matches!(responses[..], [Action::Respond { outcome: Outcome::Completed, .. }]), "{responses:?}");
        assert_eq!(r.stats().prefix_evictions, 1);
        assert_eq!((r.kv_used_blocks(), r.prefix_cache_usage()), (0, (0, 0)));
        assert_eq!(r.stats().preemptions, 0, "eviction, not preemption");
    }

    #[test]
    fn preempted_sequences_release_their_prefix_and_everything_drains() {
        for preemption in [Preemption::Recompute, Preemption::Swap] {
            let mut cfg = cached(60);
            cfg.preemption = preemption;
            let mut r = Replica::new(0, cfg);
            let mut out = Vec::new();
            for i in 0..8 {
                let prefix = Some(Prefix { id: i % 2, tokens: 64 });
                r.arrive(ms(0), job(RequestId(u64::from(i)), 100, 200, prefix), &mut out);
            }
            let (responses, _) = run_out(&mut r, 0);
            assert_eq!(responses.len(), 8, "{preemption:?}");
            assert!(r.stats().preemptions > 0, "{preemption:?}");
            assert_eq!(r.prefix_cache_usage().1, 0, "{preemption:?}: no reference left");
            assert_eq!(r.kv_used_blocks(), r.prefix_cache_usage().0, "{preemption:?}");
            r.flush_prefix_cache();
            assert_eq!(r.kv_used_blocks(), 0, "{preemption:?}");
        }
    }

    #[test]
    fn a_request_that_can_never_fit_fails_at_once() {
        let (_, responses, shapes) = drive(config(Policy::Continuous, 4, Preemption::Recompute), &[(100, 10)]);
        assert_eq!(responses[0].1, Outcome::Failed);
        assert!(shapes.is_empty());
    }

    #[test]
    fn a_waiting_request_is_cancelled_at_once_and_never_runs() {
        let mut r = Replica::new(0, config(Policy::Continuous, 1000, Preemption::Recompute));
        let mut out = Vec::new();
        r.arrive(ms(0), job(RequestId(0), 100, 5, None), &mut out);
        assert_eq!(r.cancel(RequestId(0), &mut out), Cancel::Stopped);
        assert!(matches!(out[..], [Action::Respond { outcome: Outcome::Cancelled, .. }]), "{out:?}");
        assert_eq!(r.outstanding(), 0);
        assert_eq!(r.cancel(RequestId(0), &mut out), Cancel::NotHere, "answered once");
        r.poll(ms(0), &mut out);
        assert!(!r.busy());
    }

    #[test]
    fn a_cancelled_sequence_leaves_at_the_step_end_and_the_rest_of_its_batch_is_unchanged() {
        let requests = [(100, 20), (60, 20), (80, 20)];
        let (_, alone, _) = drive(config(Policy::Continuous, 1000, Preemption::Recompute), &requests);
        let mut r = Replica::new(0, config(Policy::Continuous, 1000, Preemption::Recompute));
        let mut out = Vec::new();
        for (i, &(p, o)) in requests.iter().enumerate() {
            r.arrive(ms(0), job(RequestId(i as u64), p, o, None), &mut out);
        }
        r.poll(ms(0), &mut out);
        r.step_done(ms(1), &mut out);
        r.poll(ms(1), &mut out);
        out.clear();
        assert_eq!(r.cancel(RequestId(1), &mut out), Cancel::AtStepEnd, "in the running step");
        assert!(out.is_empty());
        r.step_done(ms(2), &mut out);
        let [Action::Respond { request: RequestId(1), outcome: Outcome::Cancelled, served }] = out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(served.output_tokens, 2, "first token at prefill, one decode step");
        assert_eq!(r.stats().cancelled_tokens, 61, "60 prompt tokens + 1 decoded token's KV");
        out.clear();
        let (responses, _) = run_out(&mut r, 2);
        let done = |rs: &[(RequestId, Outcome, Served)], id| rs.iter().find(|x| x.0 == RequestId(id)).map(|x| x.2);
        let rest: Vec<_> = responses
            .iter()
            .map(|a| match a {
                Action::Respond { request, outcome, served } => (*request, *outcome, *served),
                _ => unreachable!(),
            })
            .collect();
        for id in [0, 2] {
            let (got, want) = (done(&rest, id).unwrap(), done(&alone, id).unwrap());
            assert_eq!((got.output_tokens, got.first_token), (want.output_tokens, want.first_token), "{id}");
        }
        assert_eq!(r.kv_used_blocks(), 0);
    }

    #[test]
    fn cancelling_a_static_batch_member_releases_the_rest_when_the_batch_ends() {
        let policy = Policy::Static { max_wait: SimDuration::ZERO };
        let mut r = Replica::new(0, config(policy, 1000, Preemption::Recompute));
        let mut out = Vec::new();
        r.arrive(ms(0), job(RequestId(0), 10, 3, None), &mut out);
        r.arrive(ms(0), job(RequestId(1), 10, 50, None), &mut out);
        r.poll(ms(0), &mut out);
        let (mut t, mut responses) = (0, Vec::new());
        while r.outstanding() > 0 {
            t += 1;
            r.step_done(ms(t), &mut out);
            if t == 5 {
                assert_eq!(r.cancel(RequestId(1), &mut out), Cancel::Stopped, "between steps");
            }
            r.poll(ms(t), &mut out);
            responses.extend(out.drain(..).filter(|a| matches!(a, Action::Respond { .. })));
        }
        let outcomes: Vec<_> = responses
            .iter()
            .map(|a| match a {
                Action::Respond { request, outcome, .. } => (request.0, *outcome),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(outcomes, vec![(1, Outcome::Cancelled), (0, Outcome::Completed)]);
        assert_eq!(t, 5, "the batch ends with its longest remaining sequence");
        assert_eq!(r.kv_used_blocks(), 0);
    }

    #[test]
    fn a_finished_turn_leaves_its_context_cached_for_the_next_turn() {
        let mut r = Replica::new(0, cached(1000));
        let mut out = Vec::new();
        let turn1 = Job { session: Some(9), ..job(RequestId(0), 100, 40, None) };
        r.arrive(ms(0), turn1, &mut out);
        let (_, t) = run_out(&mut r, 0);
        // KV of 100 + 39 tokens (the last answer token is never fed back):
        // 8 full blocks stay cached under session 9.
        assert_eq!(r.prefix_cache_usage(), (8, 0));
        assert_eq!(r.kv_used_blocks(), 8);
        // Turn 2 re-sends the 140-token conversation plus a 60-token message.
        let turn2 = Job { session: Some(9), ..job(RequestId(1), 200, 10, Some(Prefix { id: 9, tokens: 140 })) };
        r.arrive(ms(t), turn2, &mut out);
        r.poll(ms(t), &mut out);
        let [Action::StartStep { shape, .. }] = out[..] else { panic!("{out:?}") };
        assert_eq!(shape, StepShape::prefill(72, 128), "only the message and the uncached tail are prefilled");
        out.clear();
        r.step_done(ms(t + 1), &mut out);
        let (responses, _) = run_out(&mut r, t + 1);
        assert_eq!(responses.len(), 1);
        // Turn 2's longer context replaced turn 1's: 209 tokens, 13 blocks.
        assert_eq!(r.prefix_cache_usage(), (13, 0));
        assert_eq!(r.kv_used_blocks(), 13);
        r.flush_prefix_cache();
        assert_eq!(r.kv_used_blocks(), 0);
        assert_eq!(r.stats().prefix_hits, 1);
    }
}
