//! One engine's step-time coefficients on one GPU, as a calibrated profile
//! stores them (`[engines.<kind>]`): plain data with its meaning checks,
//! below both the profile loader that reads it and the engine step model
//! (`engine_step.rs`) that prices steps with it.

use super::precision::Dtype;
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One engine's step coefficients on one GPU (`[engines.<kind>]` of a
/// calibrated profile). Inefficiencies are `1 / achieved fraction of peak`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineCoefficients {
    /// CPU time per step: scheduling, kernel launches (c_step).
    pub step_cpu: SimDuration,
    /// Time per sequence in a step and per model layer: the work each
    /// layer does per sequence (decode attention's per-sequence blocks and
    /// page-table walk, per-token routing), sampling and bookkeeping
    /// spread over the layers (c_seq).
    pub seq_layer_latency: SimDuration,
    /// Time per model layer of every step (kernel latencies) (c_layer).
    /// Default: 0.
    #[serde(default)]
    pub layer_latency: SimDuration,
    /// CPU time per model layer of a step that computes prompt tokens:
    /// engines replay CUDA graphs for decode-only steps and launch such a
    /// step's kernels one by one (c_eager). Default: 0.
    #[serde(default)]
    pub prompt_layer_cpu: SimDuration,
    /// Fixed time a request spends before its first token beyond the steps:
    /// tokenize, HTTP, first-token path (c_req).
    pub request_overhead: SimDuration,
    /// CPU time of the engine's API server per output token it streams
    /// (detokenize, send), one token after another per replica (c_tok).
    /// Default: 0.
    #[serde(default)]
    pub token_stream_cpu: SimDuration,
    /// Latency of one all-reduce hop; an all-reduce over `tp` GPUs takes
    /// `log2(tp)` of them (c_ar).
    pub allreduce_hop_latency: SimDuration,
    /// Streaming weights from HBM (k_hbm).
    pub weight_stream_inefficiency: f64,
    /// GEMMs, by weight format; `bf16` required, other formats default to it.
    pub gemm_inefficiency: BTreeMap<Dtype, f64>,
    /// Reading and writing the KV cache (k_kv).
    pub kv_inefficiency: f64,
    /// Prefill attention FLOPs at the bf16 peak (k_attn).
    pub attention_inefficiency: f64,
    /// All-reduce bytes over NVLink, one direction (k_nvl).
    pub nvlink_inefficiency: f64,
}

impl EngineCoefficients {
    /// The GEMM inefficiency for weights in `dtype`.
    pub fn gemm(&self, dtype: Dtype) -> f64 {
        self.gemm_inefficiency.get(&dtype).or_else(|| self.gemm_inefficiency.get(&Dtype::Bf16)).copied().unwrap_or(1.0)
    }

    /// Meaning checks; `Err((key under the engine's table, expected))`.
    pub fn check(&self) -> Result<(), (String, String)> {
        if !self.gemm_inefficiency.contains_key(&Dtype::Bf16) {
            return Err((
                "gemm_inefficiency.bf16".into(),
                "expected the bf16 GEMM inefficiency (the default for other formats)".into(),
            ));
        }
        let named = [
            ("weight_stream_inefficiency", self.weight_stream_inefficiency),
            ("kv_inefficiency", self.kv_inefficiency),
            ("attention_inefficiency", self.attention_inefficiency),
            ("nvlink_inefficiency", self.nvlink_inefficiency),
        ];
        let gemms = self.gemm_inefficiency.iter().map(|(d, v)| (d.name(), *v));
        for (key, v) in named.into_iter().chain(gemms) {
            if !(v.is_finite() && v >= 1.0) {
                return Err((
                    key.to_string(),
                    format!("expected an inverse efficiency >= 1 (1 = the datasheet peak), got {v}"),
                ));
            }
        }
        Ok(())
    }
}
