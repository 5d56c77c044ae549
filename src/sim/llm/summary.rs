//! The parts of the `llm` summary section only the driver knows at the
//! end: the pool's fixed facts, what it did over the measured span, and
//! its prefix cache's counts.

use super::usage::PoolUsage;
use crate::core::llm::{LlmScheduler, Policy, Replica};
use crate::metrics::llm::{PoolInfo, PoolTotals, PrefixCacheSummary};
use crate::model::profile::GpuMemory;
use crate::scenario::LlmConfig;

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Static { .. } => "static",
        Policy::Continuous => "continuous",
        Policy::ChunkedPrefill { .. } => "chunked-prefill",
        Policy::VllmV1 { .. } => "vllm",
        Policy::Sglang { .. } => "sglang",
        Policy::Trtllm { .. } => "trtllm",
    }
}

/// Fixed facts about the pool.
pub(crate) fn pool_info(llm: &LlmConfig, usage: &PoolUsage) -> PoolInfo {
    PoolInfo {
        model: llm.model.name.clone(),
        gpu: llm.gpu.name.clone(),
        tp: llm.tp,
        replicas: llm.replicas,
        policy: if llm.disaggregation.is_some() { "disaggregated" } else { policy_name(llm.replica.policy) }.into(),
        kv_capacity_tokens: llm.kv_capacity_tokens,
        memory: GpuMemory { kv_peak_utilization: usage.kv_peak_utilization(), ..llm.memory },
        price_per_gpu_hour_usd: llm.price_per_gpu_hour_usd,
        slo: llm.slo,
    }
}

/// What the pool did over a measured span of `span` seconds, whose GPUs
/// were busy `busy_fraction` of it.
pub(crate) fn totals(
    llm: &LlmConfig,
    core: &LlmScheduler,
    usage: &PoolUsage,
    busy_fraction: f64,
    span: f64,
) -> PoolTotals {
    let stats = core
        .replicas()
        .iter()
        .map(Replica::stats)
        .fold((0, 0, 0), |acc, s| (acc.0 + s.preemptions, acc.1 + s.recomputed_tokens, acc.2 + s.swapped_bytes));
    PoolTotals {
        measure_span_s: span,
        busy_fraction,
        bytes_per_gpu: usage.bytes_per_gpu(),
        peak_bandwidth_bytes_per_s: llm.gpu.memory_bandwidth_bytes_per_s,
        busy_s: busy_fraction * f64::from(llm.replicas) * span,
        kv_utilization_mean: usage.kv_utilization_mean(span),
        preemptions: stats.0,
        recomputed_tokens: stats.1,
        swapped_bytes: stats.2,
    }
}

/// The `prefix_cache` section, for a pool with a prefix cache.
pub(crate) fn prefix_cache(llm: &LlmConfig, core: &LlmScheduler) -> Option<PrefixCacheSummary> {
    llm.replica.prefix_cache.map(|c| {
        let s = core.replicas().iter().map(Replica::stats).fold([0u64; 4], |a, s| {
            [a[0] + s.prefix_lookups, a[1] + s.prefix_hits, a[2] + s.prefix_cached_tokens, a[3] + s.prefix_evictions]
        });
        PrefixCacheSummary {
            eviction: c.eviction.name().into(),
            lookups: s[0],
            hits: s[1],
            hit_rate: if s[0] > 0 { s[1] as f64 / s[0] as f64 } else { 0.0 },
            cached_prompt_tokens: s[2],
            evictions: s[3],
        }
    })
}
