//! LLM serving's sections: `[replica]`, `[kv]`, `[slo]`, `[disaggregation]`
//! and the LLM batching policies (the `[batching]` table itself is shared
//! with the classic station and lives in the parent module).

use crate::time::SimDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Disaggregated serving: of `replica.count` replicas, the first
/// `prefill_replicas` only prefill and the rest only decode; each request's
/// KV cache crosses a link from its prefill replica to a decode replica.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DisaggregationSection {
    /// Replicas in the prefill pool, 1 ..= replica.count − 1 (the rest
    /// decode). Default: half of replica.count, rounded down (at least 1).
    pub prefill_replicas: Option<u32>,
    /// Bandwidth of the link one KV transfer crosses, bytes per second
    /// (transfers do not share it). Default: 50e9 (a 400 Gb/s NIC).
    pub link_bandwidth_bytes_per_s: Option<f64>,
    /// Fixed latency of one KV transfer. Default: "20us".
    pub link_latency: Option<SimDuration>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplicaSection {
    /// GPU profile name (built in, or a file in a profiles folder's `gpus/`), e.g. "h100-sxm";
    /// `servesim profiles` lists them.
    pub gpu: String,
    /// Model profile name (built in, or a file in a profiles folder's `models/`), e.g. "llama-2-70b".
    pub model: String,
    /// Tensor-parallel degree: GPUs per replica. Default: 1.
    pub tp: Option<u32>,
    /// Number of replicas. Default: 1.
    pub count: Option<u32>,
    /// How requests pick a replica. Default: "round-robin".
    pub routing: Option<crate::core::llm::RouterPolicy>,
    /// Fraction of GPU memory kept for activations. Default: 0.1.
    pub activation_reserve: Option<f64>,
    /// Override of the GPU profile's $ per GPU-hour.
    pub price_per_gpu_hour_usd: Option<f64>,
    /// A folder of your own profiles (`gpus/`, `models/`, `calibrated/`),
    /// relative to the scenario file, searched after `--profiles` and before
    /// `profiles/` beside or above the scenario, `./profiles` and the
    /// built-in profiles; a file there overrides a built-in of its name.
    pub profiles: Option<PathBuf>,
    /// Most requests waiting per replica; overflow is `overloaded`. Default: unbounded.
    pub queue_capacity: Option<u64>,
    /// A measured profile in `profiles/calibrated/` (written by calibration)
    /// whose effective bandwidth, FLOP/s and overhead replace the GPU
    /// profile's datasheet x efficiency values. Default: none.
    pub calibrated: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BatchingPolicy {
    /// Size cap + flush timeout; the batch runs to its longest sequence.
    #[default]
    Static,
    /// Iteration-level: sequences join and leave between steps.
    Continuous,
    /// Continuous with a per-step token budget; long prompts split into chunks.
    ChunkedPrefill,
    /// Separate prefill and decode pools (see `[disaggregation]`): prefill
    /// replicas batch whole prompts, decode replicas batch decodes
    /// continuously; KV moves between them over a modeled link.
    Disaggregated,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct KvSection {
    /// Tokens per KV block. Default: 16.
    pub block_tokens: Option<u32>,
    /// Fraction of KV blocks kept free when admitting. Default: 0.01.
    pub watermark: Option<f64>,
    /// What happens to a sequence evicted by decode growth. Default: "recompute".
    pub preemption: Option<crate::core::llm::Preemption>,
    /// Keep shared prefixes' KV blocks between requests (see
    /// `workload.shared_prefix`), evicting unreferenced ones when blocks are
    /// needed: "off", "lru" or "lfu". Default: "off".
    pub prefix_cache: Option<PrefixCacheMode>,
    /// Most prefixes each replica's prefix cache holds. Default: as many as
    /// the KV cache fits.
    pub max_cached_prefixes: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PrefixCacheMode {
    /// No prefix caching: every prompt is prefilled whole.
    #[default]
    Off,
    /// Evict the least recently used unreferenced prefix first.
    Lru,
    /// Evict the least frequently used unreferenced prefix first (resists a
    /// burst of one-off prefixes flushing a popular system prompt).
    Lfu,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SloSection {
    /// Target for the 99th percentile of time to first token.
    pub ttft_p99: Option<SimDuration>,
    /// Target for the 99th percentile of time per output token.
    pub tpot_p99: Option<SimDuration>,
    /// Target for the 99th percentile of end-to-end latency.
    pub e2e_p99: Option<SimDuration>,
}

/// The serving engine whose scheduler and defaults a replica follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EngineKind {
    /// vLLM (V1 scheduler by default; `version = "0"` for V0).
    Vllm,
    /// SGLang.
    Sglang,
    /// TensorRT-LLM (PyTorch backend, `trtllm-serve`).
    Trtllm,
}

impl EngineKind {
    /// The name in scenarios and benchmark files ("vllm", "sglang", "trtllm").
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Vllm => "vllm",
            EngineKind::Sglang => "sglang",
            EngineKind::Trtllm => "trtllm",
        }
    }
}

/// `[engine]`: a real serving engine's scheduler, with that engine's own
/// defaults for every knob left out (see `docs/guide/llm-serving.md`).
/// Replaces `[batching]`'s policy and limits and `[kv]`'s block size,
/// watermark and preemption.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    /// "vllm", "sglang" or "trtllm".
    pub kind: EngineKind,
    /// Engine release, where its behaviour changed: vLLM "0" (or before
    /// 0.8) is the V0 scheduler (prefill-first, whole prompts), later ones
    /// V1; vLLM from "0.14" schedules asynchronously (the overlap
    /// scheduler) by default. Default: the releases the engine defaults
    /// were read from (vLLM 0.12, SGLang 0.5, TensorRT-LLM 1.0).
    pub version: Option<String>,
    /// Most sequences running at once (vLLM `max_num_seqs`, SGLang
    /// `max_running_requests`, TensorRT-LLM `max_batch_size`). Default: the engine's.
    pub max_num_seqs: Option<u32>,
    /// Most tokens in one step (vLLM `max_num_batched_tokens`, SGLang
    /// `chunked_prefill_size`, TensorRT-LLM `max_num_tokens`). Default: the engine's.
    pub max_num_batched_tokens: Option<u32>,
    /// Split long prompts over steps. Default: the engine's (vLLM V1 and
    /// SGLang on, vLLM V0 and TensorRT-LLM off).
    pub chunked_prefill: Option<bool>,
    /// Plan each step while the previous one runs, so a request that
    /// arrives during a step waits one more step to join (TensorRT-LLM's
    /// overlap scheduler, `disable_overlap_scheduler`; SGLang's overlap
    /// schedule, `disable_overlap_schedule`; vLLM's `async_scheduling`).
    /// Default: the engine's (on, and for vLLM from version 0.14).
    pub overlap_scheduler: Option<bool>,
    /// Tokens per KV block (page). Default: the engine's (vLLM 16, SGLang 1,
    /// TensorRT-LLM 32).
    pub block_tokens: Option<u32>,
    /// vLLM: fraction of GPU memory the engine may use (weights, activations
    /// and KV cache). Default: 0.9.
    pub gpu_memory_utilization: Option<f64>,
    /// SGLang: fraction of GPU memory for weights and KV cache. Default:
    /// (memory − reserve) / memory, the reserve by the GPU's memory: 9.5 +
    /// tp/2 GiB under 90 GiB (A100, H100), 12 + tp/2 under 160 (H200), else 32.
    pub mem_fraction_static: Option<f64>,
    /// TensorRT-LLM: fraction of the memory free after loading the model
    /// that goes to the KV cache. Default: 0.9.
    pub free_gpu_memory_fraction: Option<f64>,
    /// KV blocks per replica, overriding the engine's memory rule.
    pub kv_blocks: Option<u64>,
    /// Expert parallelism of an MoE model: its routed experts split over
    /// `moe_ep` groups of `replica.tp / moe_ep` GPUs (vLLM
    /// `--enable-expert-parallel`, SGLang `--ep-size`, TensorRT-LLM
    /// `moe_expert_parallel_size`); must divide replica.tp and the experts.
    /// Default: 1 (experts tensor-parallel like the rest).
    pub moe_ep: Option<u32>,
}
