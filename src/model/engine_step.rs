//! The engine step model: a step's time as a serving engine spends it,
//! with coefficients measured per (GPU, engine).
//!
//! Why a second model: the datasheet roofline of [`super::step`] prices the
//! GPU's work only. Measured runs of vLLM, SGLang and TensorRT-LLM show
//! time the roofline has no term for: CPU time per step and per sequence
//! (scheduling, sampling, detokenizing), all-reduce latency that grows with
//! the tensor-parallel degree, GEMMs and attention kernels below peak by
//! different factors, fp8 GEMMs at their own rate, MoE layers that read only
//! the experts their tokens hit, and a fixed per-request cost before the
//! first token (tokenize, HTTP, first-token path). Each term below is one
//! physical cost; its coefficient is an inverse efficiency (time at peak x
//! k, k >= 1) or a CPU time, so a fit on one GPU transfers to another
//! through that GPU's datasheet rates (the CPU times move with the host).
//!
//! One step, per GPU of a replica of `tp` GPUs (attention and dense layers
//! tensor-parallel; routed experts over `moe_ep` GPUs x `moe_tp` shards,
//! `moe_ep * moe_tp = tp`):
//!
//! ```text
//! time = step_cpu                                     c_step: scheduler, launches
//!      + seq_layer_latency * n_seqs * layers          c_seq: per sequence and layer
//!      + layer_latency * layers                       c_layer: kernel latencies per layer
//!      + prompt_layer_cpu * layers  (prompt tokens)   c_eager: eager launches
//!      + max(weight_bytes / HBM * weight_stream_inefficiency,
//!            gemm_flops / PEAK[w] * gemm_inefficiency[w])
//!      + kv_bytes / HBM * kv_inefficiency
//!      + attention_flops / PEAK[bf16] * attention_inefficiency
//!      + 2 * layers * log2(tp) * allreduce_hop_latency  (tp > 1)
//!      + allreduce_bytes / NVLINK * nvlink_inefficiency
//!
//! n_seqs          = decode_seqs + prefill_seqs (chunks in the step)
//! tokens          = prefill_tokens + decode_seqs
//! dense_layer     = attention (hidden*heads*head_dim*2 + 2*hidden*kv_heads*head_dim)
//!                 + dense MLP 3*hidden*intermediate | MoE router hidden*experts
//!                   + shared_experts * expert
//! expert          = 3 * hidden * expert_intermediate_size
//! weight_bytes    = layers * dense_layer * bytes[w] / tp + vocab * hidden * bytes[act] / tp  (lm_head)
//!                 + hits_busiest(ep, tokens) * layers * expert * bytes[experts] / moe_tp
//! hits_busiest    = expected experts hit on the busiest of the ep GPUs holding E/ep each
//!                   (E (1 - (1 - k/E)^tokens) / ep when ep = 1; see [`super::moe`])
//! gemm_flops      = 2 * layers * dense_layer / tp * tokens
//!                 + 2 * layers * k * expert / (ep * moe_tp) * tokens
//!                 + 2 * vocab * hidden / tp * n_seqs        (lm_head per sequence)
//! kv_bytes        = kv_token_bytes_gpu * (prefill_cached + decode_context + tokens)   (read + write)
//! kv_token_bytes_gpu = 2 * layers * max(kv_heads / tp, 1) * head_dim * bytes[kv]
//! attention_flops = 4 * layers * heads / tp * head_dim * prefill_attended
//! allreduce_bytes = 2 * layers * 2(tp-1)/tp * hidden * bytes[act] * tokens   (ring)
//! TTFT           += request_overhead                 c_req, per request (see request_overhead)
//! stream          = token_stream_cpu per output token  c_tok, the API server's (the replica's
//!                   `token_stream_cost`: tokens reach clients one after another)
//! ```
//!
//! `prompt_layer_cpu`: engines capture CUDA graphs for decode-only steps
//! and run a step with prompt work eagerly, launching its kernels layer by
//! layer from the host (TensorRT-LLM's `cuda_graph_config`: graphs hold
//! "decoding requests only ... it's hard to capture a single graph with
//! prefill requests"); a speculative verify step is not a prompt step.
//! `layer_latency` is the per-layer floor every step pays (kernel launch
//! gaps and tails inside a graph); it is fitted only for an engine whose
//! rows cover models of different depths, since for one model it cannot
//! be told apart from `step_cpu`. `seq_layer_latency` is what a sequence
//! adds to a step, per layer: the measured time per added sequence grows
//! with the model's depth (TensorRT-LLM's models of 32, 64 and 94 layers),
//! as the decode kernels' per-sequence work does (attention's blocks per
//! sequence and page-table walk, routing); for an engine measured on one
//! model it is a time per sequence.
//!
//! `PEAK[w]` is the GPU's dense rate for the weight format when it has one
//! (`fp8_flops_per_s`, `fp4_flops_per_s`), else its bf16 rate (weight-only
//! formats are dequantized into bf16 GEMMs). Decode attention is counted in
//! `kv_bytes` (it reads the cache; its FLOPs hide under that read); prefill
//! attention in `attention_flops`. A model's sliding-window layers read
//! and attend to at most their window ([`super::window`]: the cached and
//! attended tokens above are the layers' average). The input embedding is
//! a lookup, not streamed. Left out: MLA, pipeline parallelism, attention
//! data parallelism, and the overlap of communication with compute.
//!
//! Expert parallelism (`moe_ep` > 1, the scenario's `engine.moe_ep`) with
//! tensor-parallel attention has no all-to-all: after attention's
//! all-reduce every GPU holds every token's hidden state, so dispatch is
//! free; each GPU runs the tokens routed to its `E/ep` experts and the
//! partial outputs are summed by the layer's second all-reduce, priced
//! above (TensorRT-LLM's fused MoE modules, `tensorrt_llm/_torch/modules/
//! fused_moe/`, enable all-to-all only with `mapping.enable_attention_dp`,
//! attention data parallelism, which servesim does not express). Each GPU streams the hit
//! experts among its `E/ep` and computes `k/(ep * moe_tp)` of each token's
//! expert work, and the layer waits for the GPU that hit the most experts:
//! at small batches an EP group streams more per GPU than the same GPUs
//! sharding every expert (`moe_tp`), where each GPU reads a slice of every
//! hit expert. Expert FLOPs are priced at the mean (a step of many tokens
//! spreads them evenly; a step of few is bound by streaming, not FLOPs).
//!
//! Where the structure comes from: a research reproduction of 647 measured
//! closed-loop runs (aiconfigurator's H100 silicon data: vLLM 0.12, SGLang
//! 0.5, TensorRT-LLM 1.0) in which each term was removed in turn and the
//! fit re-run; each kept term moved the error measurably. The shipped H100
//! coefficients (`profiles/calibrated/h100-sxm-engines.toml`) are fitted to
//! those runs by `servesim calibrate --benchmarks` ([`crate::bench::fit`]),
//! through this model and the simulator.

use super::coefficients::EngineCoefficients;
use super::moe::BusiestExperts;
use super::profile::{GpuProfile, ModelProfile, ProfileError};
use super::step_cost::StepCost;
use super::window::{self, WindowShare};
use crate::core::llm::StepShape;
use crate::time::SimDuration;

/// How a replica's GPUs split the model: attention and dense layers over
/// `tp`, routed experts over `moe_ep` groups of `moe_tp` shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    pub tp: u32,
    pub moe_tp: u32,
    pub moe_ep: u32,
}

impl Parallelism {
    /// Dense tensor parallelism: experts (if any) sharded like the rest.
    pub fn tensor(tp: u32) -> Parallelism {
        Parallelism { tp, moe_tp: tp, moe_ep: 1 }
    }
}

/// Precomputed per-replica constants of the engine step model: O(1) a step.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineStep {
    coefficients: EngineCoefficients,
    hbm: f64,
    bf16_peak: f64,
    nvlink: f64,
    dense_weight_bytes: f64,
    /// One routed expert's bytes on this GPU, all layers.
    expert_bytes: f64,
    /// Experts hit on the busiest GPU of the expert-parallel group.
    routing: Option<BusiestExperts>,
    dense_flops_per_token: f64,
    expert_flops_per_token: f64,
    lm_head_flops_per_seq: f64,
    gemm_s_per_flop: f64,
    kv_bytes_per_token: f64,
    /// c_eager × layers: a step with prompt work.
    prompt_step_cpu_s: f64,
    layers_latency_s: f64,
    /// c_seq × layers: a sequence's time in a step.
    seq_latency_s: f64,
    attention_flops_per_key: f64,
    /// The model's sliding window and its layers ([`window`]).
    window: Option<WindowShare>,
    allreduce_latency_s: f64,
    allreduce_bytes_per_token: f64,
}

impl EngineStep {
    /// Checks the split against the model, then precomputes. `model` must
    /// have passed [`super::step::check_tp`] for `parallel.tp`.
    pub fn new(
        gpu: &GpuProfile,
        model: &ModelProfile,
        parallel: Parallelism,
        coefficients: &EngineCoefficients,
    ) -> Result<EngineStep, ProfileError> {
        let Parallelism { tp, moe_tp, moe_ep } = parallel;
        let bad = |message: String| Err(ProfileError::Replica { key: "moe_ep".into(), message });
        match model.moe {
            Some(moe) if moe_tp.saturating_mul(moe_ep) != tp || !moe.experts.is_multiple_of(moe_ep.max(1)) => {
                return bad(format!(
                    "expected moe_tp x moe_ep = tp = {tp} with moe_ep dividing {}'s {} experts, got moe_tp = {moe_tp}, \
                     moe_ep = {moe_ep}",
                    model.name, moe.experts
                ))
            }
            None if moe_ep != 1 => {
                return bad(format!(
                    "{} has no experts; expert parallelism needs an MoE model (moe_ep = 1)",
                    model.name
                ))
            }
            _ => {}
        }
        let precision = model.precision_or_uniform();
        let (h, layers, tp_f) = (f64::from(model.hidden_size), f64::from(model.layers), f64::from(tp));
        let attention = h * f64::from(model.attention_heads * model.head_dim) * 2.0
            + 2.0 * h * f64::from(model.kv_heads * model.head_dim);
        let (dense_layer, expert) = match model.moe {
            Some(moe) => {
                let expert = moe.expert_parameters(model.hidden_size);
                (attention + h * f64::from(moe.experts) + f64::from(moe.shared_experts) * expert, expert)
            }
            None => (attention + 3.0 * h * f64::from(model.intermediate_size), 0.0),
        };
        let lm_head = f64::from(model.vocab_size) * h;
        let act = precision.activations.bytes();
        let shards = f64::from(moe_ep.max(1)) * f64::from(moe_tp.max(1));
        let experts_per_token = model.moe.map_or(0.0, |m| f64::from(m.experts_per_token));
        let kv_heads_per_gpu = (model.kv_heads / tp.max(1)).max(1);
        let peak = gpu.flops_per_s(precision.weights);
        Ok(EngineStep {
            hbm: gpu.memory_bandwidth_bytes_per_s,
            bf16_peak: gpu.bf16_flops_per_s,
            nvlink: gpu.nvlink_bandwidth_bytes_per_s,
            dense_weight_bytes: layers * dense_layer * precision.weights.bytes() / tp_f + lm_head * act / tp_f,
            expert_bytes: layers * expert * precision.expert_weights().bytes() / f64::from(moe_tp.max(1)),
            routing: model.moe.map(|m| BusiestExperts::new(&m, moe_ep)),
            dense_flops_per_token: 2.0 * layers * dense_layer / tp_f,
            expert_flops_per_token: 2.0 * layers * experts_per_token * expert / shards,
            lm_head_flops_per_seq: 2.0 * lm_head / tp_f,
            gemm_s_per_flop: coefficients.gemm(precision.weights) / peak,
            kv_bytes_per_token: 2.0
                * layers
                * f64::from(kv_heads_per_gpu * model.head_dim)
                * precision.kv_cache.bytes(),
            prompt_step_cpu_s: layers * coefficients.prompt_layer_cpu.as_secs_f64(),
            layers_latency_s: layers * coefficients.layer_latency.as_secs_f64(),
            seq_latency_s: layers * coefficients.seq_layer_latency.as_secs_f64(),
            attention_flops_per_key: 4.0 * layers * f64::from(model.attention_heads / tp) * f64::from(model.head_dim),
            window: model.sliding_window.map(|w| w.share(model.layers)),
            allreduce_latency_s: if tp > 1 {
                2.0 * layers * tp_f.log2() * coefficients.allreduce_hop_latency.as_secs_f64()
            } else {
                0.0
            },
            allreduce_bytes_per_token: if tp > 1 { 2.0 * layers * 2.0 * (tp_f - 1.0) / tp_f * h * act } else { 0.0 },
            coefficients: coefficients.clone(),
        })
    }

    /// Weight bytes the busiest GPU streams in a step of `tokens` tokens:
    /// the dense layers and lm_head, plus the routed experts it is expected
    /// to hit.
    pub fn weight_bytes(&self, tokens: u64) -> f64 {
        self.dense_weight_bytes + self.routing.as_ref().map_or(0.0, |hits| hits.get(tokens) * self.expert_bytes)
    }

    /// c_req: fixed per-request time before the first token.
    pub fn request_overhead(&self) -> SimDuration {
        self.coefficients.request_overhead
    }

    /// c_tok: the API server's time per streamed output token.
    pub fn token_stream_cost(&self) -> SimDuration {
        self.coefficients.token_stream_cpu
    }

    /// The step's duration and where it goes. O(1).
    pub fn cost(&self, s: &StepShape) -> StepCost {
        let tokens = s.tokens() as f64;
        if tokens == 0.0 {
            return StepCost::default();
        }
        let c = &self.coefficients;
        let n_seqs = s.decode_seqs.saturating_add(s.prefill_seqs) as f64;
        let weight_bytes = self.weight_bytes(s.tokens());
        let gemm_flops =
            (self.dense_flops_per_token + self.expert_flops_per_token) * tokens + self.lm_head_flops_per_seq * n_seqs;
        let load = window::load(self.window, s);
        let kv_bytes = self.kv_bytes_per_token * (load.cached_read + tokens);
        let attention_flops = self.attention_flops_per_key * load.prefill_attended;
        let stream_s = weight_bytes / self.hbm * c.weight_stream_inefficiency;
        let gemm_s = gemm_flops * self.gemm_s_per_flop;
        let kv_s = kv_bytes / self.hbm * c.kv_inefficiency;
        let attention_s = attention_flops / self.bf16_peak * c.attention_inefficiency;
        let eager_s = if s.prompt_chunks > 0 { self.prompt_step_cpu_s } else { 0.0 };
        let overhead_s = c.step_cpu.as_secs_f64() + self.seq_latency_s * n_seqs + eager_s + self.layers_latency_s;
        let comm_s =
            self.allreduce_latency_s + self.allreduce_bytes_per_token * tokens / self.nvlink * c.nvlink_inefficiency;
        let total = overhead_s + stream_s.max(gemm_s) + kv_s + attention_s + comm_s;
        StepCost {
            bytes_per_gpu: weight_bytes + kv_bytes,
            flops_per_gpu: gemm_flops + attention_flops,
            kv_bytes_per_gpu: kv_bytes,
            attention_flops_per_gpu: attention_flops,
            overhead_s,
            memory_s: stream_s + kv_s,
            compute_s: gemm_s + attention_s,
            comm_s,
            time: SimDuration::from_secs_f64(total),
        }
    }
}
