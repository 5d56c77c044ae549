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
//! - `VllmV1`, `Sglang`, `Trtllm`: the engines' own schedulers, admission
//!   and KV rules (`engine.rs`).
//!
//! KV cache: paged, `block_tokens` per block. A sequence is admitted only if
//! its prompt's blocks fit above the watermark; it then holds
//! ceil(context / block) blocks. When decode growth would overflow, the most
//! recently joined sequence is preempted (vLLM's LIFO): by recompute (its
//! KV is dropped; it re-prefills prompt + generated tokens later) or by swap
//! (its blocks move to host memory over PCIe and come back before new work).
//!
//! Cost per step is O(1) in the batch plus O(log n) per sequence that joins,
//! finishes or is preempted (the decode set, `decode.rs`).
//!
//! Roles (disaggregated serving, DistServe/Splitwise style): a `Both`
//! replica prefills and decodes. A `PrefillOnly` replica never decodes: a
//! sequence whose prefill ends (first token produced) keeps its KV blocks
//! and waits in a hand-off slot until the scheduler's KV transfer completes
//! ([`Replica::release`] frees the blocks). A `DecodeOnly` replica takes
//! transferred sequences into a queue of arrived KV ([`Replica::accept`])
//! and admits them, blocks permitting, straight into decode — the same
//! path as a swap-in. A recompute-preempted sequence on a decode replica
//! re-prefills there (its prompt's KV is gone elsewhere).
//!
//! Prefix cache (optional, `prefix.rs`): a request carrying a cached prefix
//! starts its prefill after the prefix (the step's shape counts the prefix
//! as cached context) and holds only its own blocks; the prefix's blocks
//! are counted once. A preempted sequence drops its reference (recompute
//! looks the prefix up again; swap moves its whole context, as a private
//! copy). Unreferenced prefixes are evicted before anyone is preempted.
//!
//! Layout: `config.rs` (what a replica is built with), `kv.rs` (the KV
//! ledger: every block taken or given back), `decode.rs` (the decode set),
//! `seq.rs` (a sequence in each of its states, and the step in flight),
//! `step.rs` (admission, preemption, planning and finishing a step),
//! `handoff.rs` (disaggregated hand-off), `cancel.rs`, `failure.rs` (a
//! replica failing and being repaired).

mod cancel;
mod config;
mod decode;
mod drain;
mod engine;
mod failure;
mod handoff;
mod kv;
mod seq;
mod step;
#[cfg(test)]
mod tests;

pub use cancel::Cancel;
pub use config::{Policy, Preemption, ReplicaConfig, Role};
pub use handoff::{Handoff, Prefilled};

use super::prefix::Prefix;
use super::protocol::{Action, Job};
use crate::time::SimTime;
use crate::{Outcome, RequestId, Slab};
use decode::DecodeSet;
use kv::KvLedger;
use seq::{Plan, Prefilling, Seq};
use std::collections::VecDeque;

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

pub struct Replica {
    index: u32,
    cfg: ReplicaConfig,
    waiting: VecDeque<Seq>,
    /// Swapped out: (sequence, context tokens).
    swapped: VecDeque<(Seq, u64)>,
    prefilling: VecDeque<Prefilling>,
    decode: DecodeSet,
    kv: KvLedger,
    in_flight: Option<Plan>,
    /// When the last step started and ended (`SimTime::MAX` while it runs).
    last_step: (SimTime, SimTime),
    /// Overlap scheduler: waiting requests held out of the step being
    /// planned (`step.rs`); empty between polls.
    late: VecDeque<Seq>,
    /// When the server's token stream has sent every token so far.
    stream_free: SimTime,
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
    /// Requests to stop when the step in flight ends.
    cancelling: Vec<RequestId>,
    /// SGLang: the share of running requests' future tokens reserved when
    /// admitting (`engine.rs`).
    new_token_ratio: f64,
    /// Failed and not yet repaired (`failure.rs`).
    down: bool,
    /// Taking no new work, finishing what it holds (`drain.rs`).
    draining: bool,
}

impl Replica {
    /// Replica number `index` (used in the actions it emits).
    pub fn new(index: u32, cfg: ReplicaConfig) -> Self {
        Replica {
            index,
            decode: DecodeSet::new(cfg.block_tokens),
            kv: KvLedger::new(cfg.kv_blocks, cfg.block_tokens, cfg.prefix_cache),
            cfg,
            waiting: VecDeque::new(),
            swapped: VecDeque::new(),
            prefilling: VecDeque::new(),
            in_flight: None,
            last_step: (SimTime::ZERO, SimTime::MAX),
            late: VecDeque::new(),
            stream_free: SimTime::ZERO,
            held: Vec::new(),
            armed: None,
            stats: ReplicaStats::default(),
            role: Role::Both,
            handoffs: Slab::default(),
            in_transfer: 0,
            prefilled: Vec::new(),
            arrived: VecDeque::new(),
            cancelling: Vec::new(),
            new_token_ratio: config::SGLANG_INIT_NEW_TOKEN_RATIO,
            down: false,
            draining: false,
        }
    }

    /// Reports each sequence's every `tokens`-th generated token (see
    /// [`Replica::drain_chunks`]); set before the replica sees a request.
    pub fn watch_chunks(&mut self, tokens: u32) {
        self.decode.watch_chunks(tokens);
    }

    /// `(request, tokens generated)` for each chunk boundary reached since
    /// the last call: a multiple of the watched chunk size, short of the
    /// request's last token (its completion reports that).
    pub fn drain_chunks(&mut self) -> impl Iterator<Item = (RequestId, u32)> + '_ {
        self.decode.drain_chunks()
    }

    /// Sets this replica's role (before it sees any request).
    pub fn set_role(&mut self, role: Role) {
        self.role = role;
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn stats(&self) -> ReplicaStats {
        ReplicaStats { prefix_evictions: self.kv.prefix_evictions(), ..self.stats }
    }

    /// Whether prefix `id` is in this replica's prefix cache.
    pub fn has_prefix(&self, id: u32) -> bool {
        self.kv.has_prefix(id)
    }

    /// Prefix ids that entered or left this replica's prefix cache since
    /// the last call (an id may repeat; ask [`Replica::has_prefix`]).
    pub fn drain_prefix_changes(&mut self) -> impl Iterator<Item = u32> + '_ {
        self.kv.drain_prefix_changes()
    }

    /// Blocks held by cached prefixes, and references to them.
    pub fn prefix_cache_usage(&self) -> (u64, u64) {
        self.kv.prefix_usage()
    }

    /// Evicts every unreferenced cached prefix (e.g. to check accounting).
    pub fn flush_prefix_cache(&mut self) {
        self.kv.flush_prefixes();
    }

    /// Requests waiting, swapped out, prefilling or decoding here, or whose
    /// KV awaits transfer from here (prefill role) or admission (decode role).
    pub fn outstanding(&self) -> u64 {
        (self.waiting.len() + self.swapped.len() + self.prefilling.len() + self.held.len()) as u64
            + self.decode.len()
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
        self.prefilling.len() as u64 + self.decode.len()
    }

    pub fn kv_used_blocks(&self) -> u64 {
        self.kv.used()
    }

    /// Everything the pool totals track, at once.
    pub fn load(&self) -> Load {
        Load {
            outstanding: self.outstanding(),
            waiting: self.waiting(),
            running: self.running(),
            kv_used_blocks: self.kv.used(),
        }
    }

    pub fn busy(&self) -> bool {
        self.in_flight.is_some()
    }

    /// A new request: queued, or answered at once if it can never fit, its
    /// prompt exceeds a step's token budget under a policy that does not
    /// split prompts (engines refuse such a prompt: vLLM's "prompt is too
    /// long" without chunked prefill), or the queue is full. Its prefix, if any, is what it may find cached;
    /// with the prefix cache on, only full blocks (fewer tokens than the
    /// prompt) are cacheable.
    pub fn arrive(&mut self, now: SimTime, job: Job, out: &mut Vec<Action>) {
        let Job { request, prompt_tokens: prompt, output_tokens: output, prefix, session } = job;
        let b = self.cfg.block_tokens.max(1);
        let caches = self.kv.caches_prefixes();
        let prefix = prefix
            .filter(|_| caches)
            .map(|p| Prefix { id: p.id, tokens: p.tokens.min(prompt.saturating_sub(1)) / b * b })
            .filter(|p| p.tokens > 0);
        let seq = Seq {
            prefix,
            session: session.filter(|_| caches && self.role == Role::Both),
            request,
            arrived: now,
            prompt,
            output: output.max(1),
            generated: 0,
            admitted: None,
            first_token: None,
        };
        let over_budget = self.cfg.policy.refuses_over_budget() && prompt > self.cfg.max_batched_tokens;
        let outcome = if self.down || over_budget || !self.could_ever_fit(u64::from(prompt) + u64::from(output)) {
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

    /// Whether a sequence's whole lifetime (`tokens` = prompt + output)
    /// fits below the watermark: if not, it could never be served here.
    fn could_ever_fit(&self, tokens: u64) -> bool {
        self.kv.blocks(tokens) <= self.cfg.kv_blocks.saturating_sub(self.cfg.watermark_blocks)
    }

    pub fn timer(&mut self, at: SimTime) {
        if self.armed == Some(at) {
            self.armed = None;
        }
    }
}
