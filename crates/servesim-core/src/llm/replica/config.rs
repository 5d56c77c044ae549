//! What a replica is configured with: its batching policy, KV cache shape,
//! preemption mode and role. Plain data; the scenario loader builds it from
//! a file, and tests build it with [`ReplicaConfig::new`] plus the fields
//! they care about.

use super::super::prefix::PrefixCacheConfig;
use crate::time::SimDuration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Static {
        max_wait: SimDuration,
    },
    Continuous,
    ChunkedPrefill {
        chunk_tokens: u32,
    },
    /// vLLM's V1 scheduler (`engine.rs`): decodes first, then prompt
    /// chunks within `max_batched_tokens`; KV for the scheduled chunk only;
    /// the last-admitted running request preempted by recompute.
    VllmV1 {
        chunked: bool,
    },
    /// SGLang's scheduler: a prefill batch runs alone, admitted by a
    /// reservation of future output tokens scaled by a decaying ratio; the
    /// newest request retracted when decode runs out of KV.
    Sglang {
        chunked: bool,
    },
    /// TensorRT-LLM's inflight batching: context and generation in one
    /// step within `max_batched_tokens`; GUARANTEED_NO_EVICT reserves a
    /// request's whole lifetime of KV at admission and never preempts.
    Trtllm {
        chunked: bool,
    },
}

impl Policy {
    /// Whether a prompt may be split over steps.
    pub(super) fn splits(self) -> bool {
        match self {
            Policy::ChunkedPrefill { .. } => true,
            Policy::VllmV1 { chunked } | Policy::Sglang { chunked } | Policy::Trtllm { chunked } => chunked,
            Policy::Static { .. } | Policy::Continuous => false,
        }
    }

    /// Whether admission reserves a sequence's whole lifetime of KV (no
    /// decode growth is charged afterwards).
    pub(super) fn reserves_lifetime(self) -> bool {
        matches!(self, Policy::Static { .. } | Policy::Trtllm { .. })
    }

    /// Whether a prompt longer than the step's token budget is refused on
    /// arrival, as engines that do not split it refuse it, rather than run
    /// as one oversized step.
    pub(super) fn refuses_over_budget(self) -> bool {
        !self.splits() && !matches!(self, Policy::Static { .. })
    }
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
    /// The engine plans step j+1 while step j runs (an overlap
    /// scheduler), so a request that arrives during step j first runs in
    /// step j+2 (`step.rs`).
    pub overlap: bool,
    /// Time the engine's server spends on each output token it streams
    /// (detokenize, send), one token after another (`step.rs`).
    pub token_stream_cost: SimDuration,
}

impl ReplicaConfig {
    /// A replica of `kv_blocks` KV blocks with the engines' usual defaults:
    /// continuous batching, 64 sequences and 4096 batched tokens per step,
    /// 16-token blocks, no watermark, recompute preemption, 100 KV bytes per
    /// token, an unbounded queue, no prefix cache, no overlap scheduler and
    /// a free token stream. Set the fields that differ with struct update
    /// syntax or assignment.
    pub fn new(kv_blocks: u64) -> Self {
        ReplicaConfig {
            policy: Policy::Continuous,
            max_seqs: 64,
            max_batched_tokens: 4096,
            kv_blocks,
            block_tokens: 16,
            watermark_blocks: 0,
            preemption: Preemption::Recompute,
            kv_bytes_per_token: 100,
            queue_capacity: None,
            prefix_cache: None,
            overlap: false,
            token_stream_cost: SimDuration::ZERO,
        }
    }
}

/// SGLang's `new_token_ratio` at start and after a retraction
/// (`SGLANG_INIT_NEW_TOKEN_RATIO`): the replica starts with it, the SGLang
/// scheduler (`engine.rs`) decays and resets it.
pub(super) const SGLANG_INIT_NEW_TOKEN_RATIO: f64 = 0.7;
