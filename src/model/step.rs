//! GPU step time: how long one iteration of a replica takes, from profiles.
//!
//! Why a roofline: an LLM serving step is either limited by reading bytes
//! from HBM (decode: every weight once per step, plus each sequence's KV
//! cache) or by tensor-core arithmetic (prefill: ~2 FLOPs per parameter per
//! token). The larger of the two times, plus a fixed per-step overhead and
//! the tensor-parallel all-reduces, reproduces the shapes a planner cares
//! about — decode nearly flat in batch size until the compute roof, prefill
//! linear in tokens — and every coefficient is a datasheet number times an
//! efficiency, or a calibrated measurement.
//!
//! One step of a replica of `tp` GPUs (values per GPU; the GPUs run in
//! lockstep, so the step takes as long as one GPU's share):
//!
//! ```text
//! time     = overhead + max(bytes / eff_bandwidth, flops / eff_flops) + comm
//! tokens   = prefill_tokens + decode_seqs
//! bytes    = weight_bytes / tp                                  (read once)
//!          + kv_token_bytes_gpu * (prefill_cached + decode_context) (KV read)
//!          + kv_token_bytes_gpu * tokens                       (KV write)
//! flops    = 2 * parameters / tp * tokens
//!          + 4 * layers * heads * head_dim / tp * attended
//! attended = prefill_attended + decode_context + decode_seqs
//!            (a query attends to its cached context and to itself; a
//!             prefill chunk of c tokens on p cached ones: c*p + c(c+1)/2)
//! comm     = 0                                                  if tp = 1
//!          = 2 * layers * (2(tp-1)/tp * tokens * hidden * dtype_bytes
//!                          / eff_nvlink_bandwidth + nvlink_latency)
//! kv_token_bytes_gpu = 2 * layers * max(kv_heads / tp, 1) * head_dim * dtype_bytes
//! eff_bandwidth = memory_bandwidth * memory_bandwidth_efficiency  (or calibrated)
//! eff_flops     = bf16_flops * flops_efficiency                   (or calibrated)
//! ```
//!
//! The attention term (optional, calibrated only). Attention kernels run at
//! a different efficiency than the GEMMs (a long-context decode reads its
//! KV cache well below the rate the weights stream at), so a calibrated
//! profile with both `effective_attention_bandwidth_bytes_per_s` and
//! `effective_attention_flops_per_s` splits the roofline in two:
//!
//! ```text
//! time            = overhead + max(linear_bytes / eff_bandwidth, linear_flops / eff_flops)
//!                 + max(kv_bytes / eff_attention_bandwidth, attention_flops / eff_attention_flops)
//!                 + comm
//! kv_bytes        = kv_token_bytes_gpu * (prefill_cached + decode_context + tokens)
//! attention_flops = 4 * layers * heads * head_dim / tp * attended
//! linear_bytes    = bytes - kv_bytes       (the weights)
//! linear_flops    = flops - attention_flops
//! ```
//!
//! Without those keys the single max form above applies, unchanged.
//!
//! Tensor parallelism (Megatron style): `tp` must divide the attention
//! heads. KV heads are split when `tp` divides them and replicated when `tp`
//! is a multiple of them (one KV head per GPU, as vLLM does); any other `tp`
//! is an error. Replication is why the KV bytes per GPU use
//! `max(kv_heads / tp, 1)`. Comm is not overlapped with compute (two
//! all-reduces per layer: after attention and after the FFN).
//!
//! Simplifications, on purpose (each within the efficiency factors'
//! uncertainty, and absorbed by a calibrated profile):
//! - `parameters` counts the input embedding as read and multiplied every
//!   step (only the looked-up rows are read) and the lm_head as applied to
//!   every prefill token (engines apply it to each prompt's last token).
//!   That overstates decode bytes by vocab x hidden / parameters (6.5% for
//!   Llama-3-8B, 1.5% for Llama-3-70B, 0.4% for Llama-2-70B) and prefill
//!   FLOPs by about twice that.
//! - A model's sliding-window layers read and attend to at most their
//!   window: `prefill_cached`, `decode_context` and `prefill_attended` above
//!   are the layers' average ([`super::window`]).
//! - Activation traffic and the overlap of communication with compute are
//!   left out, and so is the attention kernels' own efficiency at long
//!   context unless a calibrated profile has the attention term.
//!
//! Engine calibration. A replica whose calibrated profile has coefficients
//! for its serving engine (`[engines.<kind>]`, fitted to measured runs;
//! shipped for the H100 in `profiles/calibrated/h100-sxm-engines.toml`) is priced by the engine step
//! model instead ([`super::engine_step`]): per-step and per-sequence CPU
//! time, weights streamed (MoE: only the experts the batch hits), GEMM
//! FLOPs at the weight format's peak, KV reads and writes, prefill
//! attention FLOPs, all-reduce latency per hop and NVLink bytes, each with
//! its own inverse efficiency, plus a per-request fixed cost before the
//! first token ([`StepModel::request_overhead`]). Without such a table the
//! roofline above applies unchanged.
//!
//! Cost: O(1) per step — callers keep the sums in [`StepShape`] (the
//! core's description of a step) incrementally; nothing here loops over
//! sequences.

use super::engine_step::{EngineStep, Parallelism};
use super::profile::{CalibratedProfile, GpuProfile, ModelProfile, ProfileError};
use super::step_cost::StepCost;
use super::window::{self, WindowShare};
use crate::core::llm::StepShape;
use crate::time::SimDuration;

/// KV-cache bytes per token for the whole model: `2 (K and V) x layers x
/// kv_heads x head_dim x bytes` of the KV cache's format (`dtype_bytes`
/// unless `[precision]` says otherwise; rounded up for packed formats).
pub fn kv_bytes_per_token(model: &ModelProfile) -> u64 {
    let elements = 2 * u64::from(model.layers) * u64::from(model.kv_heads) * u64::from(model.head_dim);
    (elements as f64 * model.precision_or_uniform().kv_cache.bytes()).ceil() as u64
}

/// KV-cache bytes per token on each GPU of a `tp` replica: KV heads are
/// split over the GPUs, or replicated (one per GPU) when `tp > kv_heads`.
/// Call after [`check_tp`].
pub fn kv_bytes_per_token_per_gpu(model: &ModelProfile, tp: u32) -> u64 {
    let heads_per_gpu = (model.kv_heads / tp.max(1)).max(1);
    kv_bytes_per_token(model) / u64::from(model.kv_heads) * u64::from(heads_per_gpu)
}

/// Checks that a tensor-parallel degree can shard `model` (see module doc).
pub fn check_tp(model: &ModelProfile, tp: u32) -> Result<(), ProfileError> {
    let bad = |key: &str, message: String| Err(ProfileError::Replica { key: key.into(), message });
    let (heads, kv) = (model.attention_heads, model.kv_heads);
    if tp == 0 {
        return bad("tp", "expected a tensor-parallel degree >= 1, got 0".into());
    }
    if !heads.is_multiple_of(tp) {
        return bad(
            "tp",
            format!(
                "tp = {tp} does not divide {}'s attention_heads = {heads}; use one of {}",
                model.name,
                valid_tps(model).iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    if !kv.is_multiple_of(tp) && !tp.is_multiple_of(kv) {
        return bad(
            "tp",
            format!(
                "tp = {tp} neither divides nor is a multiple of {}'s kv_heads = {kv}, so KV heads cannot be \
                 split or replicated evenly; use one of {}",
                model.name,
                valid_tps(model).iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
        );
    }
    Ok(())
}

fn valid_tps(model: &ModelProfile) -> Vec<u32> {
    let (h, kv) = (model.attention_heads, model.kv_heads);
    (1..=h).filter(|&t| h.is_multiple_of(t) && (kv.is_multiple_of(t) || t.is_multiple_of(kv))).collect()
}

/// Bytes left per GPU once weights and the reserve are placed, or an error
/// that says what does not fit and the smallest `tp` that would.
fn free_bytes_per_gpu(
    gpu: &GpuProfile,
    model: &ModelProfile,
    tp: u32,
    reserve_fraction: f64,
) -> Result<u64, ProfileError> {
    let fits = |tp: u32| {
        let reserve = (reserve_fraction * gpu.memory_bytes as f64) as u64;
        gpu.memory_bytes.checked_sub(model.weight_bytes().div_ceil(u64::from(tp)))?.checked_sub(reserve)
    };
    match fits(tp) {
        Some(free) if free >= kv_bytes_per_token_per_gpu(model, tp) => Ok(free),
        _ => {
            let smallest = valid_tps(model)
                .into_iter()
                .find(|&t| fits(t).is_some_and(|free| free >= kv_bytes_per_token_per_gpu(model, t)));
            let advice = smallest.map_or("no tensor-parallel degree fits".into(), |t| format!("use tp >= {t}"));
            let reserve = match reserve_fraction {
                0.0 => String::new(),
                f => {
                    format!(" plus an activation reserve of {:.2} GB ({f} x memory)", f * gpu.memory_bytes as f64 / 1e9)
                }
            };
            Err(ProfileError::Replica {
                key: "tp".into(),
                message: format!(
                    "{} does not fit on {tp} x {}: its weights ({} parameters x {} bytes = {:.2} GB) need {:.2} GB \
                     per GPU at tp = {tp}{reserve}, out of memory_bytes = {:.2} GB, leaving no room for the KV cache; \
                     {advice}",
                    model.name,
                    gpu.name,
                    model.parameters,
                    model.dtype_bytes,
                    model.weight_bytes() as f64 / 1e9,
                    model.weight_bytes() as f64 / f64::from(tp) / 1e9,
                    gpu.memory_bytes as f64 / 1e9,
                ),
            })
        }
    }
}

/// Tokens of KV cache a replica of `tp` GPUs holds: per GPU,
/// `(memory_bytes - weight_bytes / tp - activation_reserve_fraction x
/// memory_bytes) / kv_bytes_per_token_per_gpu` (floored). Without KV
/// replication this equals `(tp x memory - weights - reserve) /
/// kv_bytes_per_token`. Errors if `tp` is invalid, the reserve is not in
/// [0, 1), or the model leaves room for no token.
pub fn kv_capacity_tokens(
    gpu: &GpuProfile,
    model: &ModelProfile,
    tp: u32,
    activation_reserve_fraction: f64,
) -> Result<u64, ProfileError> {
    check_tp(model, tp)?;
    if !(activation_reserve_fraction.is_finite() && (0.0..1.0).contains(&activation_reserve_fraction)) {
        return Err(ProfileError::Replica {
            key: "activation_reserve_fraction".into(),
            message: format!("expected a fraction of GPU memory in [0, 1), got {activation_reserve_fraction}"),
        });
    }
    Ok(free_bytes_per_gpu(gpu, model, tp, activation_reserve_fraction)? / kv_bytes_per_token_per_gpu(model, tp))
}

/// Precomputed coefficients for one (GPU, model, tp) replica: O(1) per step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepModel {
    tp: u32,
    overhead: SimDuration,
    peak_bandwidth: f64,
    eff_bandwidth: f64,
    eff_flops: f64,
    /// `(bandwidth, FLOP/s)` of the attention term, when calibrated.
    eff_attention: Option<(f64, f64)>,
    weight_bytes_per_gpu: f64,
    kv_bytes_per_token_per_gpu: f64,
    linear_flops_per_token: f64,
    attention_flops_per_key: f64,
    /// The model's sliding window and its layers ([`window`]).
    window: Option<WindowShare>,
    allreduces_per_step: f64,
    ring_bytes_per_token: f64,
    eff_nvlink_bandwidth: f64,
    nvlink_latency_s: f64,
    /// The engine step model, when the calibration has the engine's terms.
    engine: Option<EngineStep>,
}

impl StepModel {
    /// Checks `tp` and that the weights fit, then applies `calibrated` (whose
    /// `gpu` must name `gpu`) over the datasheet x efficiency values.
    pub fn new(
        gpu: &GpuProfile,
        model: &ModelProfile,
        tp: u32,
        calibrated: Option<&CalibratedProfile>,
    ) -> Result<StepModel, ProfileError> {
        check_tp(model, tp)?;
        free_bytes_per_gpu(gpu, model, tp, 0.0)?;
        if let Some(c) = calibrated.filter(|c| c.gpu != gpu.name) {
            return Err(ProfileError::Replica {
                key: "gpu".into(),
                message: format!("calibrated profile `{}` is for gpu `{}`, not `{}`", c.name, c.gpu, gpu.name),
            });
        }
        let cal = calibrated.cloned().unwrap_or_default();
        let tp_f = f64::from(tp);
        let layers = f64::from(model.layers);
        Ok(StepModel {
            tp,
            overhead: cal.step_overhead.unwrap_or(gpu.step_overhead),
            peak_bandwidth: gpu.memory_bandwidth_bytes_per_s,
            eff_bandwidth: cal
                .effective_memory_bandwidth_bytes_per_s
                .unwrap_or(gpu.memory_bandwidth_bytes_per_s * gpu.memory_bandwidth_efficiency),
            eff_flops: cal.effective_flops_per_s.unwrap_or(gpu.bf16_flops_per_s * gpu.flops_efficiency),
            eff_attention: cal.effective_attention_bandwidth_bytes_per_s.zip(cal.effective_attention_flops_per_s),
            weight_bytes_per_gpu: model.weight_bytes() as f64 / tp_f,
            kv_bytes_per_token_per_gpu: kv_bytes_per_token_per_gpu(model, tp) as f64,
            linear_flops_per_token: 2.0 * model.parameters as f64 / tp_f,
            attention_flops_per_key: 4.0 * layers * f64::from(model.attention_heads / tp) * f64::from(model.head_dim),
            window: model.sliding_window.map(|w| w.share(model.layers)),
            allreduces_per_step: if tp > 1 { 2.0 * layers } else { 0.0 },
            ring_bytes_per_token: 2.0 * (tp_f - 1.0) / tp_f
                * f64::from(model.hidden_size)
                * f64::from(model.dtype_bytes),
            eff_nvlink_bandwidth: cal
                .effective_nvlink_bandwidth_bytes_per_s
                .unwrap_or(gpu.nvlink_bandwidth_bytes_per_s * gpu.nvlink_efficiency),
            nvlink_latency_s: gpu.nvlink_latency.as_secs_f64(),
            engine: None,
        })
    }

    /// The step model of a replica served by `engine` (an engine kind:
    /// "vllm", "sglang", "trtllm"): the engine step model when `calibrated`
    /// has `[engines.<engine>]`, else [`StepModel::new`]'s roofline (which
    /// needs dense tensor parallelism).
    pub fn for_engine(
        gpu: &GpuProfile,
        model: &ModelProfile,
        parallel: Parallelism,
        calibrated: Option<&CalibratedProfile>,
        engine: &str,
    ) -> Result<StepModel, ProfileError> {
        let mut step = StepModel::new(gpu, model, parallel.tp, calibrated)?;
        match calibrated.and_then(|c| c.engines.get(engine)) {
            Some(coefficients) => step.engine = Some(EngineStep::new(gpu, model, parallel, coefficients)?),
            None if parallel.moe_ep > 1 => {
                return Err(ProfileError::Replica {
                    key: "moe_ep".into(),
                    message: format!(
                        "expert parallelism is priced by the engine step model only; add [engines.{engine}] to the \
                         calibrated profile (e.g. --profile profiles/calibrated/h100-sxm-engines.toml) or use moe_ep = 1"
                    ),
                })
            }
            None => {}
        }
        Ok(step)
    }

    /// Fixed time each request spends before its first token beyond the
    /// steps (tokenize, HTTP, first-token path): the engine calibration's
    /// `request_overhead`, zero for the roofline.
    pub fn request_overhead(&self) -> SimDuration {
        self.engine.as_ref().map_or(SimDuration::ZERO, EngineStep::request_overhead)
    }

    /// The engine's server time per streamed output token, zero for the
    /// roofline.
    pub fn token_stream_cost(&self) -> SimDuration {
        self.engine.as_ref().map_or(SimDuration::ZERO, EngineStep::token_stream_cost)
    }

    /// The engine step model in use, if any.
    pub fn engine(&self) -> Option<&EngineStep> {
        self.engine.as_ref()
    }

    pub fn tp(&self) -> u32 {
        self.tp
    }

    /// The step's duration; zero for a step with no tokens. O(1).
    pub fn time(&self, shape: &StepShape) -> SimDuration {
        self.cost(shape).time
    }

    /// The step's duration and where it goes. O(1).
    pub fn cost(&self, s: &StepShape) -> StepCost {
        if let Some(engine) = &self.engine {
            return engine.cost(s);
        }
        let tokens = s.tokens() as f64;
        if tokens == 0.0 {
            return StepCost::default();
        }
        let load = window::load(self.window, s);
        let kv_bytes = self.kv_bytes_per_token_per_gpu * (load.cached_read + tokens);
        let bytes = self.weight_bytes_per_gpu + kv_bytes;
        let attended = load.prefill_attended + load.decode_context + s.decode_seqs as f64;
        let linear_flops = self.linear_flops_per_token * tokens;
        let attention_flops = self.attention_flops_per_key * attended;
        let flops = linear_flops + attention_flops;
        let comm_s = self.allreduces_per_step
            * (self.ring_bytes_per_token * tokens / self.eff_nvlink_bandwidth + self.nvlink_latency_s);
        let (memory_s, compute_s, roofline_s) = match self.eff_attention {
            None => {
                let (memory_s, compute_s) = (bytes / self.eff_bandwidth, flops / self.eff_flops);
                (memory_s, compute_s, memory_s.max(compute_s))
            }
            Some((attention_bandwidth, attention_flops_per_s)) => {
                let (linear_memory_s, linear_compute_s) =
                    (self.weight_bytes_per_gpu / self.eff_bandwidth, linear_flops / self.eff_flops);
                let (kv_s, attention_s) = (kv_bytes / attention_bandwidth, attention_flops / attention_flops_per_s);
                (
                    linear_memory_s + kv_s,
                    linear_compute_s + attention_s,
                    linear_memory_s.max(linear_compute_s) + kv_s.max(attention_s),
                )
            }
        };
        StepCost {
            bytes_per_gpu: bytes,
            flops_per_gpu: flops,
            kv_bytes_per_gpu: kv_bytes,
            attention_flops_per_gpu: attention_flops,
            overhead_s: self.overhead.as_secs_f64(),
            memory_s,
            compute_s,
            comm_s,
            time: self.overhead + SimDuration::from_secs_f64(roofline_s + comm_s),
        }
    }

    /// Memory-bandwidth utilization (MBU): bytes each GPU read and wrote
    /// over `busy` time, as a fraction of the datasheet peak. Accumulate
    /// [`StepCost::bytes_per_gpu`] and step times to get it over a run.
    pub fn memory_bandwidth_utilization(&self, bytes_per_gpu: f64, busy: SimDuration) -> f64 {
        let secs = busy.as_secs_f64();
        if secs > 0.0 {
            bytes_per_gpu / (secs * self.peak_bandwidth)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ModelProfile {
        ModelProfile {
            name: "tiny".into(),
            description: String::new(),
            parameters: 1_000_000,
            layers: 2,
            hidden_size: 64,
            attention_heads: 8,
            kv_heads: 2,
            head_dim: 8,
            intermediate_size: 128,
            vocab_size: 100,
            dtype_bytes: 2,
            precision: None,
            moe: None,
            sliding_window: None,
        }
    }

    #[test]
    fn kv_heads_split_or_replicate() {
        let m = tiny();
        assert_eq!(kv_bytes_per_token(&m), 2 * 2 * 2 * 8 * 2);
        assert_eq!(kv_bytes_per_token_per_gpu(&m, 2), 2 * 2 * 8 * 2);
        assert_eq!(kv_bytes_per_token_per_gpu(&m, 8), 2 * 2 * 8 * 2, "one replicated KV head per GPU");
        assert!(check_tp(&m, 4).is_ok() && check_tp(&m, 8).is_ok());
        assert_eq!(check_tp(&m, 3).unwrap_err().key(), "tp");
        assert_eq!(valid_tps(&m), vec![1, 2, 4, 8]);
        let mut odd = m.clone();
        (odd.attention_heads, odd.kv_heads) = (12, 4);
        assert!(check_tp(&odd, 6).unwrap_err().to_string().contains("kv_heads = 4"));
    }
}
