//! `[engine]`: a real serving engine's scheduler and its shipped defaults,
//! each overridable, and the engine's rule for how much GPU memory its KV
//! cache gets.
//!
//! Defaults (engine release, where read; re-check a tag before relying on
//! a line):
//!
//! | | vLLM V1 (0.12) | vLLM V0 | SGLang (0.5) | TensorRT-LLM (1.0) |
//! |---|---|---|---|---|
//! | most sequences | 1,024 (256 under 70 GiB or on an A100) | 256 | 4,096 | 2,048 |
//! | tokens per step | 8,192 (2,048 under 70 GiB or on an A100) | 8,192 | 8,192 (16,384 from 160 GiB) | 8,192 |
//! | chunked prefill | on | off | on | off |
//! | KV block (page) | 16 | 16 | 1 | 32 |
//! | overlap scheduler | off (on from 0.14) | off | on | on |
//! | memory rule | 0.9·M − W − profiled | same | mfs·M − W | 0.9·(M − W − 9 GB) |
//! | a token's KV, sliding window | full layers | every layer | full + 0.8 window layers | every layer |
//!
//! Sources: vLLM `vllm/engine/arg_utils.py` `EngineArgs.get_batch_defaults`
//! (`vllm serve` on a GPU of >= 70 GiB other than an A100, whose device
//! name it checks: 8,192 batched tokens and 1,024 sequences, else 2,048 and
//! 256; V1 always chunks prefills), `CacheConfig`
//! (`block_size` 16, `gpu_memory_utilization` 0.9; the KV cache gets that
//! share of memory less weights and what profiling finds,
//! `gpu_worker.determine_available_memory`: non-torch memory, the peak of a
//! forward of `max_num_batched_tokens` tokens and the sampler's logits,
//! [`vllm_profiled_bytes`]). V0 (`vllm/core/scheduler.py`)
//! ran whole prompts with a 1% block watermark: the engine-neutral
//! `continuous` policy (`chunked-prefill` when chunking is asked for).
//! SGLang `python/sglang/srt/server_args.py` (`chunked_prefill_size` 8,192
//! on GPUs under 160 GiB, 16,384 above, `page_size` 1, `mem_fraction_static`
//! from the memory reserved for activations and CUDA graphs: (9.5 + tp/2)
//! GiB on 80 GB parts, (12 + tp/2) GiB on the H200,
//! [`sglang_tier`]); its running-request cap is sized from the
//! memory pool, 4,096 here. TensorRT-LLM `tensorrt_llm/llmapi/llm_args.py`
//! (`max_batch_size` 2,048, `max_num_tokens` 8,192, chunked context off)
//! and `KvCacheConfig` (`tokens_per_block` 32, `free_gpu_memory_fraction`
//! 0.9 of the memory free after loading: 9 GB per GPU of runtime and
//! activations here, the measured KV knee of Qwen3-32B fp8 at TP1).
//!
//! The overlap scheduler plans step j+1 while step j runs and handles step
//! j's outputs after launching j+1, so a request that arrives during step j
//! first runs in step j+2 (`ReplicaConfig::overlap`): TensorRT-LLM's
//! PyTorch executor (`disable_overlap_scheduler` False in
//! `tensorrt_llm/llmapi/llm_args.py`; `PyExecutor._executor_loop_overlap`),
//! SGLang's (`disable_overlap_schedule` False in `server_args.py`;
//! `Scheduler.event_loop_overlap`). vLLM up to 0.13 runs a step's outputs
//! before planning the next unless `--async-scheduling` is given; from 0.14
//! async scheduling is its default (`vllm/config/scheduler.py`
//! `async_scheduling = Field(default=None)`, turned on in
//! `vllm/config/vllm.py`), so `version = "0.14"` or later turns the overlap
//! on.
//!
//! Each engine preempts by recompute (vLLM V1, SGLang) or never
//! (TensorRT-LLM); there is no watermark but vLLM V0's.

use super::error::ScenarioError;
use super::locate::Locator;
use super::schema::{EngineKind, EngineSection, ScenarioFile};
use crate::core::llm::{Policy, Preemption};
use crate::model::engine_step::Parallelism;
use crate::model::profile::{GpuMemory, GpuProfile, ModelProfile};
use crate::model::step;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// How a replica schedules and how much KV it holds: decided by the
/// engine, or by `[batching]` and `[kv]` for the engine-neutral policies.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Scheduling {
    pub policy: Policy,
    pub max_seqs: u32,
    pub max_batched_tokens: u32,
    pub block_tokens: u32,
    pub watermark: f64,
    pub preemption: Preemption,
    /// The engine plans a step while the previous one runs.
    pub overlap: bool,
    pub kv_blocks: u64,
    /// KV tokens per replica, as reported.
    pub kv_capacity_tokens: u64,
    pub memory: GpuMemory,
}

/// The engine's scheduler, defaults and KV capacity for `model` on `tp`
/// GPUs of `gpu`; `[batching]` and `[kv]`'s scheduling keys are refused
/// (the engine owns them).
pub(super) fn resolve(
    file: &ScenarioFile,
    e: &EngineSection,
    gpu: &GpuProfile,
    model: &ModelProfile,
    tp: u32,
    loc: &Locator,
) -> Result<Scheduling, ScenarioError> {
    refuse_neutral_keys(file, loc)?;
    let release = release(e, loc)?;
    let v0 =
        e.kind == EngineKind::Vllm && release.is_some_and(|(major, minor)| major == 0 && minor.is_none_or(|m| m < 8));
    // vLLM keeps its small defaults on an A100 whatever its memory.
    let big = gpu.memory_bytes as f64 >= 70.0 * GIB && !gpu.name.to_lowercase().contains("a100");
    let (seqs, tokens, chunked, block) = match (e.kind, v0) {
        (EngineKind::Vllm, true) => (256, 8192, false, 16),
        (EngineKind::Vllm, false) if big => (1024, 8192, true, 16),
        (EngineKind::Vllm, false) => (256, 2048, true, 16),
        (EngineKind::Sglang, _) => (4096, sglang_tier(gpu.memory_bytes as f64 / GIB, tp).1, true, 1),
        (EngineKind::Trtllm, _) => (2048, 8192, false, 32),
    };
    let max_seqs = positive(loc, "engine.max_num_seqs", e.max_num_seqs.unwrap_or(seqs))?;
    let max_batched_tokens =
        positive(loc, "engine.max_num_batched_tokens", e.max_num_batched_tokens.unwrap_or(tokens))?;
    let block_tokens = positive(loc, "engine.block_tokens", e.block_tokens.unwrap_or(block))?;
    let chunked = e.chunked_prefill.unwrap_or(chunked);
    let policy = match (e.kind, v0) {
        (EngineKind::Vllm, true) if chunked => Policy::ChunkedPrefill { chunk_tokens: max_batched_tokens },
        (EngineKind::Vllm, true) => Policy::Continuous,
        (EngineKind::Vllm, false) => Policy::VllmV1 { chunked },
        (EngineKind::Sglang, _) => Policy::Sglang { chunked },
        (EngineKind::Trtllm, _) => Policy::Trtllm { chunked },
    };
    let memory_bytes = gpu.memory_bytes as f64;
    let weights = model.weight_bytes().div_ceil(u64::from(tp));
    let profiled = vllm_profiled_bytes(model, tp, max_batched_tokens, max_seqs);
    let kv_bytes = kv_bytes_per_gpu(e, (memory_bytes, weights as f64, profiled), tp, loc)?;
    let per_token = pool_bytes_per_token(e.kind, v0, model, tp);
    let kv_blocks = match e.kv_blocks {
        Some(0) => {
            return Err(loc.error(
                "engine.kv_blocks",
                "expected an integer >= 1, got 0",
                "omit it to use the engine's memory rule",
            ))
        }
        Some(b) => b,
        None if kv_bytes < (per_token * u64::from(block_tokens)) as f64 => {
            return Err(loc.error(
                "engine",
                format!(
                    "{}'s memory rule leaves no KV cache: {:.1} GB per GPU holds {:.1} GB of weights",
                    kind_name(e.kind),
                    memory_bytes / 1e9,
                    weights as f64 / 1e9
                ),
                "raise replica.tp, pick a GPU with more memory, or set engine.kv_blocks",
            ))
        }
        None => (kv_bytes as u64 / per_token) / u64::from(block_tokens),
    };
    let kv_cache = kv_blocks * u64::from(block_tokens) * per_token;
    Ok(Scheduling {
        policy,
        max_seqs,
        max_batched_tokens,
        block_tokens,
        watermark: if v0 { 0.01 } else { 0.0 },
        preemption: Preemption::Recompute,
        overlap: e.overlap_scheduler.unwrap_or(overlap_default(e.kind, release)),
        kv_blocks,
        kv_capacity_tokens: kv_blocks * u64::from(block_tokens),
        memory: GpuMemory {
            memory_bytes_per_gpu: gpu.memory_bytes,
            weights_bytes_per_gpu: weights,
            activation_reserve_bytes_per_gpu: gpu.memory_bytes.saturating_sub(weights + kv_cache),
            kv_cache_bytes_per_gpu: kv_cache,
            kv_blocks_per_replica: kv_blocks,
            kv_peak_utilization: 0.0,
        },
    })
}

/// How the replica's `tp` GPUs split `model`: `engine.moe_ep` groups hold
/// the routed experts (each `E / moe_ep` of them, sharded over `tp /
/// moe_ep` GPUs); attention and dense layers stay tensor-parallel.
pub(super) fn parallelism(
    e: &EngineSection,
    model: &ModelProfile,
    tp: u32,
    loc: &Locator,
) -> Result<Parallelism, ScenarioError> {
    let ep = positive(loc, "engine.moe_ep", e.moe_ep.unwrap_or(1))?;
    if ep == 1 {
        return Ok(Parallelism::tensor(tp));
    }
    let Some(moe) = model.moe else {
        return Err(loc.error(
            "engine.moe_ep",
            format!("{} has no routed experts, so there is nothing to split over moe_ep = {ep}", model.name),
            "remove moe_ep (or set it to 1) for a dense model",
        ));
    };
    if !tp.is_multiple_of(ep) {
        return Err(loc.error(
            "engine.moe_ep",
            format!("moe_ep = {ep} does not divide replica.tp = {tp}: each expert group needs tp / moe_ep GPUs"),
            format!("use a divisor of {tp}, e.g. moe_ep = {tp}"),
        ));
    }
    if !moe.experts.is_multiple_of(ep) {
        return Err(loc.error(
            "engine.moe_ep",
            format!("moe_ep = {ep} does not divide {}'s {} experts evenly", model.name, moe.experts),
            "use a divisor of the expert count that also divides replica.tp",
        ));
    }
    Ok(Parallelism { tp, moe_tp: tp / ep, moe_ep: ep })
}

/// Bytes a token of context takes in the engine's KV pool on one GPU:
/// every layer's keys and values, less what a model's sliding window
/// spares. vLLM V1's hybrid allocator keeps one pool in which full-attention
/// layers hold every token and window layers only their window, freeing
/// older blocks (`docs/design/hybrid_kv_cache_manager.md`), so a token
/// costs the full layers alone. SGLang splits its memory so that full
/// tokens x full layers + 0.8 x full tokens x window layers fill it
/// (`swa_full_tokens_ratio` 0.8 in `server_args.py`,
/// `ModelRunner.set_num_token_hybrid`). TensorRT-LLM and vLLM V0 are priced
/// as if every layer held every token: TensorRT-LLM's
/// `BlockManager::calculateWindowSizeToShare` (`kvCacheManager.cpp`) can
/// split its pool by window size, but its own note says the block count
/// is computed as if every layer were full attention, and no release was
/// checked further. The window's own blocks, at most the window and one
/// block per sequence, are left out.
fn pool_bytes_per_token(kind: EngineKind, v0: bool, model: &ModelProfile, tp: u32) -> u64 {
    let all = step::kv_bytes_per_token_per_gpu(model, tp).max(1);
    let Some(window) = model.sliding_window else { return all };
    let window_layers_held = match (kind, v0) {
        (EngineKind::Vllm, false) => 0.0,
        (EngineKind::Sglang, _) => 0.8,
        _ => 1.0,
    };
    let (layers, windowed) = (f64::from(model.layers), f64::from(window.layers));
    ((all as f64 * (layers - windowed + window_layers_held * windowed) / layers).ceil() as u64).max(1)
}

/// Whether the engine's release overlaps planning a step with running the
/// previous one by default: vLLM from 0.14 (its `SchedulerConfig`'s
/// `async_scheduling` defaults to None, which `VllmConfig` turns on unless
/// pipeline parallelism or a non-EAGLE draft method rules it out; 0.13 and
/// earlier default it off), TensorRT-LLM and SGLang always.
fn overlap_default(kind: EngineKind, release: Option<(u32, Option<u32>)>) -> bool {
    match kind {
        EngineKind::Trtllm | EngineKind::Sglang => true,
        EngineKind::Vllm => release.is_some_and(|(major, minor)| (major, minor.unwrap_or(0)) >= (0, 14)),
    }
}

fn kind_name(kind: EngineKind) -> &'static str {
    match kind {
        EngineKind::Vllm => "vllm",
        EngineKind::Sglang => "sglang",
        EngineKind::Trtllm => "trtllm",
    }
}

/// The release `engine.version` names, as (major, minor); None: the
/// release the defaults above were read from. vLLM's V0 scheduler is
/// `version = "0"` or a 0.x release before 0.8 (V1 became the default in
/// 0.8), and its overlap default follows the release ([`overlap_default`]).
fn release(e: &EngineSection, loc: &Locator) -> Result<Option<(u32, Option<u32>)>, ScenarioError> {
    let Some(v) = &e.version else { return Ok(None) };
    release_number(v).map(Some).ok_or_else(|| {
        loc.error(
            "engine.version",
            format!("expected a release number such as \"0.12\", got \"{v}\""),
            "for vLLM, \"0\" selects the V0 scheduler",
        )
    })
}

/// A release number's major and minor (`"0.12.0"`, `"1.0.0rc3"`: what
/// follows the minor is not read), or None for text that does not start
/// with one (a build label such as `"nightly-dev"`).
pub fn release_number(text: &str) -> Option<(u32, Option<u32>)> {
    let mut parts = text.split('.').map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), None) => Some((major, None)),
        (Some(Ok(major)), Some(Ok(minor))) => Some((major, Some(minor))),
        _ => None,
    }
}

fn positive(loc: &Locator, key: &str, n: u32) -> Result<u32, ScenarioError> {
    match n {
        0 => Err(loc.error(key, "expected an integer >= 1, got 0", "omit it for the engine's default")),
        n => Ok(n),
    }
}

/// What vLLM's memory profiling counts per GPU besides weights and KV
/// (`vllm/v1/worker/gpu_worker.py` `determine_available_memory`, which
/// runs `gpu_model_runner.profile_run`): the memory torch does not
/// allocate (NCCL and cuBLAS workspaces, the CUDA context's share), taken
/// as [`VLLM_NON_TORCH_BYTES`], plus the peak of the profiling forward of
/// `max_num_batched_tokens` tokens, whose widest tensors are the MLP's
/// gate/up output and its activation (3 x the per-GPU intermediate width;
/// an MoE layer's routed tokens k times over the expert width), plus the
/// dummy sampler's fp32 logits for `max_num_seqs` rows. The engine's limits
/// therefore move its KV cache: a benchmark configuration with a small step
/// budget holds more KV than the shipped defaults.
fn vllm_profiled_bytes(model: &ModelProfile, tp: u32, tokens: u32, seqs: u32) -> f64 {
    let width = match model.moe {
        Some(m) => f64::from(m.experts_per_token) * f64::from(m.expert_intermediate_size),
        None => f64::from(model.intermediate_size),
    };
    let act = model.precision_or_uniform().activations.bytes();
    let forward = f64::from(tokens) * 3.0 * width / f64::from(tp.max(1)) * act;
    let logits = f64::from(seqs.min(tokens)) * f64::from(model.vocab_size) * 4.0;
    VLLM_NON_TORCH_BYTES + forward + logits
}

/// vLLM's non-torch memory per GPU, set from the measured H100 runs: the
/// KV knee of Qwen3-32B at TP2 with 4,096-token prompts (64 and 128
/// clients under aiconfigurator's limits, where the whole profiled reserve
/// comes to about 3 GB) is matched best at 2.5 GB, and within 0.4 points of
/// vLLM's TTFT MAPE anywhere from 1.5 to 4 GB.
const VLLM_NON_TORCH_BYTES: f64 = 2.5e9;

/// KV bytes per GPU by the engine's memory rule, with its own fraction key
/// (the other engines' keys are refused, naming the right one), from the
/// GPU's memory, the weights on it and vLLM's profiled reserve.
fn kv_bytes_per_gpu(
    e: &EngineSection,
    (m, w, profiled): (f64, f64, f64),
    tp: u32,
    loc: &Locator,
) -> Result<f64, ScenarioError> {
    let keys = [
        (EngineKind::Vllm, "gpu_memory_utilization", e.gpu_memory_utilization),
        (EngineKind::Sglang, "mem_fraction_static", e.mem_fraction_static),
        (EngineKind::Trtllm, "free_gpu_memory_fraction", e.free_gpu_memory_fraction),
    ];
    let own = keys.iter().find(|k| k.0 == e.kind).map_or("", |k| k.1);
    for (kind, key, value) in keys {
        let full = format!("engine.{key}");
        match value {
            Some(_) if kind != e.kind => {
                return Err(loc.error(
                    &full,
                    format!("`{key}` is {}'s key, not {}'s", kind_name(kind), kind_name(e.kind)),
                    format!("{}'s memory fraction is engine.{own}", kind_name(e.kind)),
                ))
            }
            Some(f) if !(f.is_finite() && f > 0.0 && f <= 1.0) => {
                return Err(loc.error(&full, format!("expected a fraction in (0, 1], got {f}"), "e.g. 0.9"))
            }
            _ => {}
        }
    }
    Ok(match e.kind {
        EngineKind::Vllm => e.gpu_memory_utilization.unwrap_or(0.9) * m - w - profiled,
        EngineKind::Sglang => {
            let reserved = sglang_tier(m / GIB, tp).0 * GIB;
            e.mem_fraction_static.unwrap_or((m - reserved) / m) * m - w
        }
        EngineKind::Trtllm => e.free_gpu_memory_fraction.unwrap_or(0.9) * (m - w - 9e9),
    })
}

/// SGLang's settings by the GPU's memory (`server_args.py`, its memory
/// tiers): the GiB it keeps out of `mem_fraction_static` for activations
/// and CUDA graphs, and its `chunked_prefill_size`. Up to 35 GiB 2.8 +
/// tp/10 GiB; A100 and H100 (under 90 GiB) 9.5 + tp/2; H20 and H200 (under
/// 160 GiB) 12 + tp/2; larger GPUs 32 GiB and 16,384 tokens a step, the
/// others 8,192 (the engine's 2,048-4,096 below 35 GiB is not followed).
fn sglang_tier(memory_gib: f64, tp: u32) -> (f64, u32) {
    let tp = f64::from(tp);
    match memory_gib {
        m if m < 35.0 => (2.8 + tp / 10.0, 8192),
        m if m < 90.0 => (9.5 + tp / 2.0, 8192),
        m if m < 160.0 => (12.0 + tp / 2.0, 8192),
        _ => (32.0, 16384),
    }
}

/// `[batching]` and `[kv]`'s scheduling keys, and `replica.activation_reserve`,
/// belong to the engine-neutral policies.
fn refuse_neutral_keys(file: &ScenarioFile, loc: &Locator) -> Result<(), ScenarioError> {
    let b = &file.batching;
    let kv = &file.kv;
    let taken = [
        ("batching.policy", b.policy.is_some(), "[engine] kind sets the scheduler"),
        ("batching.max_batch", b.max_batch.is_some(), "use engine.max_num_seqs"),
        ("batching.max_batched_tokens", b.max_batched_tokens.is_some(), "use engine.max_num_batched_tokens"),
        (
            "batching.chunk_tokens",
            b.chunk_tokens.is_some(),
            "use engine.max_num_batched_tokens and engine.chunked_prefill",
        ),
        ("batching.max_wait", b.max_wait.is_some(), "engines batch continuously; remove it"),
        ("kv.block_tokens", kv.block_tokens.is_some(), "use engine.block_tokens"),
        ("kv.watermark", kv.watermark.is_some(), "the engine's admission rule replaces it; remove it"),
        ("kv.preemption", kv.preemption.is_some(), "the engine's preemption mode applies; remove it"),
        (
            "replica.activation_reserve",
            file.replica.as_ref().is_some_and(|r| r.activation_reserve.is_some()),
            "the engine's memory rule replaces it: use its memory fraction key or engine.kv_blocks",
        ),
    ];
    match taken.iter().find(|t| t.1) {
        Some((key, _, hint)) => Err(loc.error(key, "not allowed with [engine]: the engine sets it", *hint)),
        None => Ok(()),
    }
}
