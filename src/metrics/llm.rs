//! Token-level metrics of LLM serving, beside the request-level ones in the
//! recorder: TTFT, TPOT, inter-token latency (TBT), normalized latency,
//! token throughput, goodput, SLO verdicts, memory-bandwidth use and cost.
//!
//! Definitions (all over measured, completed requests):
//! - TTFT: arrival to first output token.
//! - TPOT: (end-to-end − TTFT) / (output tokens − 1), for ≥ 2 output tokens.
//! - TBT: the gap between consecutive tokens of a sequence; every decoding
//!   sequence in a step sees that step's duration, so a step of n sequences
//!   adds n samples (one O(1) weighted record, not n).
//! - normalized latency: end-to-end / output tokens.
//! - goodput: completions per second meeting every SLO target set.
//! - KV transfer (disaggregated serving only): transfers started in the
//!   measured interval, their bytes, and each one's time on the link
//!   (latency + bytes / bandwidth). TTFT ends at prefill completion, before
//!   the transfer; end-to-end and TPOT include it.
//! - prefix cache (with `kv.prefix_cache` on only): over the whole run, like
//!   preemptions, summed over replicas: `lookups` (admissions of any
//!   request), `hits` (admissions whose prefix was cached on that replica),
//!   `hit_rate` = hits / lookups (at most the share of requests with a
//!   prefix), `cached_prompt_tokens` (prefill skipped) and `evictions`.

use super::latency::{LatencyStat, LatencySummary};
use crate::core::llm::Served;
use crate::model::profile::GpuMemory;
use crate::time::{SimDuration, SimTime};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LlmSummary {
    pub model: String,
    pub gpu: String,
    pub tp: u32,
    pub replicas: u32,
    pub policy: String,
    pub kv_capacity_tokens_per_replica: u64,
    /// Where each GPU's memory goes, and the KV cache's peak use.
    pub memory: GpuMemory,
    pub ttft: LatencySummary,
    pub tpot: LatencySummary,
    pub tbt: LatencySummary,
    pub normalized_latency_s_per_token: LatencySummary,
    pub tokens: TokenStats,
    pub goodput_per_s: f64,
    /// Fraction of measured completions that met every SLO.
    pub goodput_fraction: f64,
    /// Mean fraction of time replicas were running a step.
    pub gpu_busy_fraction: f64,
    /// Bytes moved per GPU / (busy time × peak bandwidth).
    pub memory_bandwidth_utilization: f64,
    /// Time-average fraction of KV blocks in use (measured interval).
    pub kv_utilization_mean: f64,
    pub preemptions: u64,
    pub recomputed_tokens: u64,
    pub swapped_bytes: u64,
    pub slo: Vec<SloCheck>,
    /// Every SLO target set was met (true when none is set).
    pub slo_met: bool,
    pub cost: Cost,
    /// KV-cache transfers from the prefill to the decode pool (disaggregated only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_transfer: Option<KvTransferSummary>,
    /// Shared-prefix KV cache (only when `kv.prefix_cache` is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<PrefixCacheSummary>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrefixCacheSummary {
    /// "lru" or "lfu".
    pub eviction: String,
    /// Admissions of requests, with or without a prefix (whole run).
    pub lookups: u64,
    /// Admissions that found the prefix cached on their replica.
    pub hits: u64,
    /// hits / lookups (0 when there were none).
    pub hit_rate: f64,
    /// Prompt tokens whose prefill was skipped.
    pub cached_prompt_tokens: u64,
    pub evictions: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KvTransferSummary {
    pub prefill_replicas: u32,
    pub decode_replicas: u32,
    pub link_bandwidth_bytes_per_s: f64,
    pub link_latency_s: f64,
    /// Transfers started in the measured interval.
    pub transfers: u64,
    pub bytes: u64,
    /// Time on the link per transfer.
    pub transfer_time: LatencySummary,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenStats {
    pub prompt: u64,
    pub output: u64,
    pub prompt_per_s: f64,
    pub output_per_s: f64,
}

/// SLO targets; `None` means not set.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slo {
    pub ttft_p99: Option<SimDuration>,
    pub tpot_p99: Option<SimDuration>,
    pub e2e_p99: Option<SimDuration>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloCheck {
    /// `ttft_p99`, `tpot_p99` or `e2e_p99`.
    pub metric: String,
    pub target_s: f64,
    pub actual_s: f64,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cost {
    /// Provisioned GPU-hours over the measured interval (replicas × tp × span).
    pub gpu_hours: f64,
    pub price_per_gpu_hour_usd: f64,
    pub usd: f64,
    /// The whole cost divided by the measured prompt (output) tokens, per million.
    pub usd_per_million_input_tokens: f64,
    pub usd_per_million_output_tokens: f64,
    /// The share of cost spent while replicas were idle.
    pub idle_usd: f64,
}

/// Fixed facts about the pool, for the summary.
pub struct PoolInfo {
    pub model: String,
    pub gpu: String,
    pub tp: u32,
    pub replicas: u32,
    pub policy: String,
    pub kv_capacity_tokens: u64,
    pub memory: GpuMemory,
    pub price_per_gpu_hour_usd: f64,
    pub slo: Slo,
}

/// Totals only the driver knows at the end.
pub struct PoolTotals {
    pub measure_span_s: f64,
    pub busy_fraction: f64,
    pub bytes_per_gpu: f64,
    pub peak_bandwidth_bytes_per_s: f64,
    /// Replica-seconds spent running steps (Σ over replicas).
    pub busy_s: f64,
    pub kv_utilization_mean: f64,
    pub preemptions: u64,
    pub recomputed_tokens: u64,
    pub swapped_bytes: u64,
}

#[derive(Default)]
pub struct LlmRecorder {
    ttft: LatencyStat,
    tpot: LatencyStat,
    tbt: LatencyStat,
    normalized: LatencyStat,
    e2e: LatencyStat,
    prompt_tokens: u64,
    output_tokens: u64,
    good: u64,
}

fn within(actual: SimDuration, target: Option<SimDuration>) -> bool {
    target.is_none_or(|t| actual <= t)
}

/// A completed request's latencies, as defined above.
#[derive(Debug, Clone, Copy)]
pub struct RequestLatency {
    pub ttft: SimDuration,
    /// `None` for fewer than 2 output tokens.
    pub tpot: Option<SimDuration>,
    pub e2e: SimDuration,
}

impl RequestLatency {
    /// The latencies of request `s`, completed at `now`.
    pub fn of(now: SimTime, s: &Served) -> Self {
        let e2e = now.since(s.arrived);
        let ttft = s.first_token.map_or(e2e, |t| t.since(s.arrived));
        let tpot = (s.output_tokens >= 2).then(|| SimDuration((e2e.0 - ttft.0) / u64::from(s.output_tokens - 1)));
        RequestLatency { ttft, tpot, e2e }
    }
}

impl Slo {
    /// Whether one request met every target set (each p99 target read as
    /// a per-request bound): what goodput counts.
    pub fn met_by(&self, l: &RequestLatency) -> bool {
        within(l.ttft, self.ttft_p99) && within(l.e2e, self.e2e_p99) && l.tpot.is_none_or(|t| within(t, self.tpot_p99))
    }
}

impl LlmRecorder {
    /// Measured completions that met every SLO target so far.
    pub fn good(&self) -> u64 {
        self.good
    }

    /// A measured request completed at `now`.
    pub fn completed(&mut self, now: SimTime, s: &Served, slo: &Slo) {
        let l = RequestLatency::of(now, s);
        self.ttft.record(l.ttft.0);
        self.e2e.record(l.e2e.0);
        if let Some(tpot) = l.tpot {
            self.tpot.record(tpot.0);
        }
        self.normalized.record(l.e2e.0 / u64::from(s.output_tokens.max(1)));
        self.prompt_tokens += u64::from(s.prompt_tokens);
        self.output_tokens += u64::from(s.output_tokens);
        self.good += u64::from(slo.met_by(&l));
    }

    /// TTFT and TPOT distributions, for plotting.
    pub fn cdfs(self) -> [(&'static str, LatencyStat); 2] {
        [("TTFT", self.ttft), ("TPOT", self.tpot)]
    }

    /// A step of `duration` produced one token for each of `decode_seqs`.
    pub fn step(&mut self, duration: SimDuration, decode_seqs: u64) {
        if decode_seqs > 0 {
            self.tbt.record_n(duration.0, decode_seqs);
        }
    }

    pub fn finish(&self, pool: &PoolInfo, t: &PoolTotals) -> LlmSummary {
        let span = t.measure_span_s;
        let per_s = |x: f64| if span > 0.0 { x / span } else { 0.0 };
        let completed = self.e2e.count();
        let mut slo = Vec::new();
        for (metric, target, stat) in [
            ("ttft_p99", pool.slo.ttft_p99, &self.ttft),
            ("tpot_p99", pool.slo.tpot_p99, &self.tpot),
            ("e2e_p99", pool.slo.e2e_p99, &self.e2e),
        ] {
            if let Some(target) = target {
                let actual_s = stat.quantile_s(0.99);
                slo.push(SloCheck {
                    metric: metric.into(),
                    target_s: target.as_secs_f64(),
                    actual_s,
                    met: actual_s <= target.as_secs_f64(),
                });
            }
        }
        let gpu_hours = f64::from(pool.replicas) * f64::from(pool.tp) * span / 3600.0;
        let usd = gpu_hours * pool.price_per_gpu_hour_usd;
        let per_million = |tokens: u64| if tokens > 0 { usd / (tokens as f64 / 1e6) } else { 0.0 };
        let busy_bw = t.busy_s * t.peak_bandwidth_bytes_per_s;
        LlmSummary {
            model: pool.model.clone(),
            gpu: pool.gpu.clone(),
            tp: pool.tp,
            replicas: pool.replicas,
            policy: pool.policy.clone(),
            kv_capacity_tokens_per_replica: pool.kv_capacity_tokens,
            memory: pool.memory,
            ttft: self.ttft.summary(),
            tpot: self.tpot.summary(),
            tbt: self.tbt.summary(),
            normalized_latency_s_per_token: self.normalized.summary(),
            tokens: TokenStats {
                prompt: self.prompt_tokens,
                output: self.output_tokens,
                prompt_per_s: per_s(self.prompt_tokens as f64),
                output_per_s: per_s(self.output_tokens as f64),
            },
            goodput_per_s: per_s(self.good as f64),
            goodput_fraction: if completed > 0 { self.good as f64 / completed as f64 } else { 0.0 },
            gpu_busy_fraction: t.busy_fraction,
            memory_bandwidth_utilization: if busy_bw > 0.0 { t.bytes_per_gpu / busy_bw } else { 0.0 },
            kv_utilization_mean: t.kv_utilization_mean,
            preemptions: t.preemptions,
            recomputed_tokens: t.recomputed_tokens,
            swapped_bytes: t.swapped_bytes,
            slo_met: slo.iter().all(|c| c.met),
            slo,
            cost: Cost {
                gpu_hours,
                price_per_gpu_hour_usd: pool.price_per_gpu_hour_usd,
                usd,
                usd_per_million_input_tokens: per_million(self.prompt_tokens),
                usd_per_million_output_tokens: per_million(self.output_tokens),
                idle_usd: usd * (1.0 - t.busy_fraction).max(0.0),
            },
            kv_transfer: None,
            prefix_cache: None,
        }
    }
}
