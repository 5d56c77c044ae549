//! The end of an LLM run: the recorder's summary, with the `llm` section
//! (pool facts, totals, KV transfers, prefix cache) and, when the scenario
//! has them, the `safety` and `frontdoor` sections and their invariants.

use super::usage::PoolUsage;
use super::LlmRun;
use crate::core::llm::{LlmScheduler, Policy, Replica};
use crate::metrics::llm::{GpuMemory, PoolInfo, PoolTotals, PrefixCacheSummary};
use crate::metrics::recorder::Recorded;
use crate::scenario::LlmConfig;
use crate::sim::limits::run_end;

fn policy_name(p: Policy) -> &'static str {
    match p {
        Policy::Static { .. } => "static",
        Policy::Continuous => "continuous",
        Policy::ChunkedPrefill { .. } => "chunked-prefill",
    }
}

impl LlmRun<'_, '_> {
    pub(super) fn finish(self) -> Recorded {
        let LlmRun { scenario, llm, seed, steps, pool, door, usage, recorder, tokens, clock, .. } = self;
        let ending = clock.ending();
        let run_end = run_end(ending, pool.idle());
        let drained = run_end.drained;
        let mut recorded = recorder.finish(&scenario.name, seed, run_end, false);
        let span = recorded.summary.run.measure_span_s;
        let totals = totals(llm, &pool.core, &usage, recorded.summary.servers.utilization_mean, span);
        let mut llm_summary = tokens.finish(&pool_info(llm, &usage), &totals);
        llm_summary.kv_transfer = usage.kv_transfer(llm);
        llm_summary.prefix_cache = prefix_cache(llm, &pool.core);
        recorded.summary.llm = Some(llm_summary);
        if let Some(g) = pool.gate {
            let (summary, extra) = g.finish(ending.end, totals.busy_s);
            // Unchecked tokens break the run's invariants unless asked for (fail open).
            let unchecked = summary.unchecked_tokens_delivered > 0 || summary.unchecked_inputs > 0;
            recorded.summary.invariants.all_hold &= summary.fail_open || !unchecked;
            recorded.summary.safety = Some(summary);
            recorded.safety = Some(Box::new(extra));
        }
        if let Some(d) = door {
            let (frontdoor, holds) = d.finish(&pool.core, drained, span);
            recorded.summary.invariants.all_hold &= holds;
            recorded.summary.frontdoor = Some(frontdoor);
        }
        recorded.summary.backend = steps.backend().into();
        recorded.cdfs.extend(tokens.cdfs());
        recorded
    }
}

/// Fixed facts about the pool.
fn pool_info(llm: &LlmConfig, usage: &PoolUsage) -> PoolInfo {
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
fn totals(llm: &LlmConfig, core: &LlmScheduler, usage: &PoolUsage, busy_fraction: f64, span: f64) -> PoolTotals {
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
fn prefix_cache(llm: &LlmConfig, core: &LlmScheduler) -> Option<PrefixCacheSummary> {
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
