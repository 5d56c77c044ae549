//! Real engines' schedulers as replica policies: what vLLM V1, SGLang and
//! TensorRT-LLM do between two steps, read from their sources.
//!
//! - vLLM V1 (`vllm/v1/core/sched/scheduler.py`, `Scheduler.schedule`):
//!   running requests first, in admission order (decodes take one token,
//!   partial prefills the rest of the token budget); each allocates KV
//!   for the tokens it is scheduled now (`KVCacheManager.allocate_slots`
//!   for `num_computed + num_new` tokens), and when blocks run out the
//!   last running request (`self.running.pop()`) is preempted by
//!   recompute, until the request in hand fits or is itself the victim.
//!   Waiting requests are admitted FCFS only in a step that preempted
//!   nobody, while budget and `max_num_seqs` allow and their first chunk's
//!   blocks fit (no watermark). Running order here is "decodes, then
//!   prefills": a prefill is admitted after every decoding request.
//!
//!   When a new request can join (vLLM 0.12, `vllm/v1/engine/core.py`):
//!   `EngineCoreProc.run_busy_loop` alternates `_process_input_queue`
//!   (drains every request the input thread has queued, blocking only
//!   while there is no work) and `_process_engine_step`, whose
//!   `EngineCore.step` schedules, executes and processes one step. A
//!   request that arrives while step k runs is scheduled in step k+1. A
//!   closed-loop client's next request cannot arrive that early: the
//!   answer it waits for leaves with step k's output and must cross the
//!   API server and the client, while the loop schedules step k+1 at
//!   once, so the next request joins step k+2. The replica does the same:
//!   it plans the next step at the instant a step ends, before that
//!   instant's client sends reach it. Async scheduling (step k+1 planned
//!   before step k's output is processed, `SchedulerConfig.async_scheduling`)
//!   was opt-in in 0.12 (`--async-scheduling`; made the default later, by
//!   vllm-project/vllm#27614), so it is not modeled.
//! - SGLang (`python/sglang/srt/managers/scheduler.py`,
//!   `get_next_batch_to_run`; `schedule_policy.py`, `PrefillAdder`): a
//!   prefill (extend) batch, when one can be formed, runs alone and the
//!   decodes wait; a chunked prompt continues first. A waiting request is
//!   admitted if its prompt plus min(max_new, 4,096) fits in the free KV
//!   less each running request's min(remaining, 4,096) ×
//!   `new_token_ratio` (`_get_running_request_total_token_offset`). The
//!   ratio starts at 0.7, falls by (0.7 − 0.098)/600 per decode step to
//!   0.098, and is reset when a decode step runs out of KV and retracts
//!   the newest request (recompute).
//! - TensorRT-LLM (`cpp/tensorrt_llm/batch_manager/capacityScheduler.cpp`,
//!   `GuaranteedNoEvictScheduler`; `microBatchScheduler.cpp`): every
//!   running request generates; waiting requests join FCFS if their whole
//!   context fits the step's `max_num_tokens` left after the generations
//!   (chunked context off) and the blocks of prompt + max output are free:
//!   the lifetime is reserved at admission, so nothing is ever evicted.
//!
//! Each costs O(1) per step plus O(log n) per sequence admitted or
//! preempted, except SGLang's admission, which sums the running requests'
//! reservations: O(running) per step with requests waiting, as SGLang's
//! own scheduler does.

use super::config::SGLANG_INIT_NEW_TOKEN_RATIO;
use super::seq::Seq;
use super::{Policy, Prefilling, Replica};
use crate::time::SimTime;

/// Its floor: `init × 0.14` (`SGLANG_MIN_NEW_TOKEN_RATIO_FACTOR`).
const SGLANG_MIN_NEW_TOKEN_RATIO: f64 = SGLANG_INIT_NEW_TOKEN_RATIO * 0.14;
/// Decode steps over which it falls from init to the floor
/// (`SGLANG_NEW_TOKEN_RATIO_DECAY_STEPS`).
const SGLANG_DECAY_STEPS: f64 = 600.0;
/// Most future output tokens a request reserves (`CLIP_MAX_NEW_TOKENS`).
const SGLANG_CLIP_MAX_NEW_TOKENS: u64 = 4096;

impl Replica {
    /// vLLM V1: allocate this step's decode growth and prefill chunks,
    /// preempting the last running request while they do not fit; then,
    /// if nobody was preempted, admit waiting requests' first chunks.
    pub(super) fn schedule_vllm(&mut self, now: SimTime) {
        let mut preempted = false;
        while self.decode.growth_now() > self.kv.free() {
            if self.kv.evict_one(None) {
                continue;
            }
            if !self.preempt_last_running() {
                break;
            }
            preempted = true;
        }
        // The decodes' new blocks are charged when the step ends; keep them free.
        let growth = self.decode.growth_now();
        let mut budget = self.prefill_budget(self.decode.len());
        let splits = self.cfg.policy.splits();
        let mut i = 0;
        while i < self.prefilling.len() {
            let p = self.prefilling[i];
            let left = u64::from(p.seq.prefill_len() - p.done);
            let chunk = if splits {
                left.min(budget)
            } else if left <= budget {
                left
            } else {
                0
            };
            if chunk == 0 {
                break;
            }
            let need = self.kv.blocks(u64::from(p.done) + chunk - p.shared).saturating_sub(p.blocks);
            if self.kv.reserve(need, growth, p.seq.prefix.map(|x| x.id)) {
                self.prefilling[i].blocks += need;
                budget -= chunk;
                i += 1;
                continue;
            }
            // The last running request is preempted; if that was this one, stop.
            preempted = true;
            let last = self.prefilling.len() - 1;
            self.preempt_last_running();
            if last == i {
                break;
            }
        }
        if preempted {
            return;
        }
        while let Some((_, _, chunk)) = self.next_admission(budget, splits) {
            if !self.take_waiting(now, self.kv.blocks(chunk), growth) {
                break;
            }
            budget -= chunk;
        }
    }

    /// The head of the waiting queue, its cached prefix and the prompt
    /// tokens it would prefill this step, if a sequence slot and `budget`
    /// allow it: `None` when nothing waits, the sequence cap is reached, or
    /// the whole remaining prompt must fit (`!splits`) and does not.
    fn next_admission(&self, budget: u64, splits: bool) -> Option<(Seq, u64, u64)> {
        if budget == 0 || self.running() >= u64::from(self.cfg.max_seqs) {
            return None;
        }
        let seq = *self.waiting.front()?;
        let shared = self.cached_prefix(&seq);
        let left = u64::from(seq.prefill_len()) - shared;
        let chunk = if splits { left.min(budget) } else { left };
        (chunk <= budget).then_some((seq, shared, chunk))
    }

    /// Preempts the most recently admitted running request (a prefill in
    /// progress, else the latest decoding sequence) by recompute; false if
    /// nothing runs.
    fn preempt_last_running(&mut self) -> bool {
        let Some(p) = self.prefilling.pop_back() else { return self.preempt_latest_decoding().is_some() };
        let Prefilling { seq, done, blocks, shared } = p;
        self.kv.release(blocks);
        self.kv.release_prefix(seq.prefix, shared);
        self.stats.preemptions += 1;
        self.stats.recomputed_tokens += u64::from(done) - shared;
        self.waiting.push_front(seq);
        true
    }

    /// SGLang: with no prompt in progress, retract the newest decoding
    /// requests while the decode step's KV does not fit, then admit
    /// waiting requests by reservation (their prefill then runs alone).
    pub(super) fn schedule_sglang(&mut self, now: SimTime) {
        if !self.prefilling.is_empty() {
            return;
        }
        let mut reserved = self.sglang_running_reservation();
        let budget = u64::from(self.cfg.max_batched_tokens);
        let mut tokens = 0;
        while self.running() < u64::from(self.cfg.max_seqs) && tokens < budget {
            let Some(&seq) = self.waiting.front() else { break };
            let shared = self.cached_prefix(&seq);
            let prompt = u64::from(seq.prefill_len()) - shared;
            let future = u64::from(seq.output - seq.generated).min(SGLANG_CLIP_MAX_NEW_TOKENS) as f64;
            let total = self.kv.blocks(prompt) as f64 + future / f64::from(self.cfg.block_tokens.max(1));
            // SGLang counts the radix cache's evictable tokens as available
            // (`python/sglang/srt/managers/schedule_policy.py`, `PrefillAdder`
            // `rem_total_tokens`: available + evictable size − offset).
            let hit = seq.prefix.filter(|p| self.kv.has_prefix(p.id)).map(|p| p.id);
            if total + reserved > self.kv.available(hit) as f64 {
                break;
            }
            let splits = self.cfg.policy.splits();
            if !splits && tokens > 0 && tokens + prompt > budget {
                break;
            }
            if !self.take_waiting(now, self.kv.blocks(prompt), 0) {
                break;
            }
            reserved += future / f64::from(self.cfg.block_tokens.max(1));
            tokens += prompt;
        }
        if !self.prefilling.is_empty() {
            return;
        }
        while self.decode.growth_now() > self.kv.free() {
            if self.kv.evict_one(None) {
                continue;
            }
            if self.preempt_latest_decoding().is_none() {
                break;
            }
            self.new_token_ratio = SGLANG_INIT_NEW_TOKEN_RATIO;
        }
    }

    /// Blocks SGLang holds back for the running requests' future tokens:
    /// Σ min(remaining, 4,096) × `new_token_ratio`, in blocks. O(running).
    fn sglang_running_reservation(&self) -> f64 {
        let remaining = self.decode.remaining_outputs(SGLANG_CLIP_MAX_NEW_TOKENS) as f64;
        remaining * self.new_token_ratio / f64::from(self.cfg.block_tokens.max(1))
    }

    /// SGLang: one decode step ran; `new_token_ratio` falls toward its floor.
    pub(super) fn decay_new_token_ratio(&mut self) {
        if matches!(self.cfg.policy, Policy::Sglang { .. }) {
            let step = (SGLANG_INIT_NEW_TOKEN_RATIO - SGLANG_MIN_NEW_TOKEN_RATIO) / SGLANG_DECAY_STEPS;
            self.new_token_ratio = (self.new_token_ratio - step).max(SGLANG_MIN_NEW_TOKEN_RATIO);
        }
    }

    /// TensorRT-LLM (GUARANTEED_NO_EVICT): admit waiting requests FCFS
    /// while their context fits the step's token budget beside the
    /// generations and their whole lifetime's blocks are free.
    pub(super) fn schedule_trtllm(&mut self, now: SimTime) {
        let mut budget = self.prefill_budget(self.decode.len());
        for p in &self.prefilling {
            budget = budget.saturating_sub(u64::from(p.seq.prefill_len() - p.done));
        }
        let splits = self.cfg.policy.splits();
        while let Some((seq, shared, chunk)) = self.next_admission(budget, splits) {
            let lifetime = u64::from(seq.prompt) + u64::from(seq.output) - shared;
            if !self.take_waiting(now, self.kv.blocks(lifetime), 0) {
                break;
            }
            budget -= chunk;
        }
    }
}
