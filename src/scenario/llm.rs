//! Resolving an LLM-serving scenario (`[replica]` present): profiles are
//! looked up, the step-time model and KV capacity computed, and every
//! policy knob checked, so a run never starts on an impossible replica.

use super::locate::Locator;
use super::schema::*;
use super::ScenarioError;
use crate::core::llm::{Policy, ReplicaConfig, RouterPolicy};
use crate::model::profile::{self, GpuProfile, ModelProfile, ProfileError};
use crate::model::step::{self, StepModel};
use crate::time::SimDuration;
use crate::workload::tokens::TokenSizes;
use std::path::{Path, PathBuf};

/// SLO targets; `None` means not set.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slo {
    pub ttft_p99: Option<SimDuration>,
    pub tpot_p99: Option<SimDuration>,
    pub e2e_p99: Option<SimDuration>,
}

/// A validated LLM-serving setup.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub gpu: GpuProfile,
    pub model: ModelProfile,
    pub tp: u32,
    pub replicas: u32,
    pub routing: RouterPolicy,
    pub replica: ReplicaConfig,
    pub step: StepModel,
    pub kv_capacity_tokens: u64,
    /// Sizes of synthetic arrivals (None for traces, which carry their own).
    pub sizes: Option<(TokenSizes, TokenSizes)>,
    pub price_per_gpu_hour_usd: f64,
    pub slo: Slo,
}

fn profile_error(loc: &Locator, key: &str, e: ProfileError) -> ScenarioError {
    let key = if e.key().is_empty() { key.to_string() } else { format!("{key} ({})", e.key()) };
    loc.error(&key, e.to_string(), "profiles live in profiles/gpus/ and profiles/models/; `ls profiles/*` lists them")
}

fn profiles_dir(r: &ReplicaSection, path: &Path) -> PathBuf {
    let here = path.parent().unwrap_or(Path::new("."));
    match &r.profiles {
        Some(p) if p.is_relative() => here.join(p),
        Some(p) => p.clone(),
        None if here.join("../profiles").is_dir() => here.join("../profiles"),
        None => PathBuf::from("profiles"),
    }
}

fn sizes(loc: &Locator, key: &str, d: &Option<TokenDist>) -> Result<TokenSizes, ScenarioError> {
    let Some(d) = d else {
        return Err(loc.error(
            key,
            "missing: synthetic arrivals need a size",
            "e.g. { median = 1000, p99 = 8000 } or { fixed = 512 }",
        ));
    };
    match (d.fixed, d.median, d.p99) {
        (Some(n), None, None) if n >= 1 => Ok(TokenSizes::Fixed(n)),
        (None, Some(m), Some(q)) => TokenSizes::lognormal(m, q, d.max).map_err(|e| loc.error(key, e, "")),
        _ => Err(loc.error(
            key,
            "expected either `fixed` (>= 1) or both `median` and `p99`",
            "e.g. { median = 1000, p99 = 8000, max = 32768 } or { fixed = 512 }",
        )),
    }
}

pub(super) fn resolve(
    file: &ScenarioFile,
    r: &ReplicaSection,
    is_trace: bool,
    path: &Path,
    loc: &Locator,
) -> Result<LlmConfig, ScenarioError> {
    let dir = profiles_dir(r, path);
    let gpu: GpuProfile = profile::find(&dir, &r.gpu).map_err(|e| profile_error(loc, "replica.gpu", e))?;
    let model: ModelProfile = profile::find(&dir, &r.model).map_err(|e| profile_error(loc, "replica.model", e))?;
    let tp = r.tp.unwrap_or(1);
    if tp == 0 {
        return Err(loc.error("replica.tp", "expected an integer >= 1, got 0", "tp is GPUs per replica"));
    }
    let replicas = r.count.unwrap_or(1);
    if replicas == 0 {
        return Err(loc.error("replica.count", "expected an integer >= 1, got 0", "a pool needs at least one replica"));
    }
    let reserve = r.activation_reserve.unwrap_or(0.1);
    let kv_capacity_tokens =
        step::kv_capacity_tokens(&gpu, &model, tp, reserve).map_err(|e| profile_error(loc, "replica", e))?;
    let step = StepModel::new(&gpu, &model, tp, None).map_err(|e| profile_error(loc, "replica", e))?;

    let kv = &file.kv;
    let block_tokens = kv.block_tokens.unwrap_or(16);
    if block_tokens == 0 {
        return Err(loc.error("kv.block_tokens", "expected an integer >= 1, got 0", "16 is typical (vLLM)"));
    }
    let watermark = kv.watermark.unwrap_or(0.01);
    if !(watermark.is_finite() && (0.0..0.5).contains(&watermark)) {
        return Err(loc.error(
            "kv.watermark",
            format!("expected a fraction in [0, 0.5), got {watermark}"),
            "0.01 keeps 1% free",
        ));
    }
    let kv_blocks = kv_capacity_tokens / u64::from(block_tokens);
    let b = &file.batching;
    let max_seqs = b.max_batch.unwrap_or(256);
    if max_seqs == 0 {
        return Err(loc.error(
            "batching.max_batch",
            "expected an integer >= 1, got 0",
            "the most sequences in a batch",
        ));
    }
    let max_batched_tokens = b.max_batched_tokens.unwrap_or(8192);
    let policy = match b.policy.unwrap_or_default() {
        BatchingPolicy::Static => Policy::Static { max_wait: b.max_wait.unwrap_or_default() },
        BatchingPolicy::Continuous => Policy::Continuous,
        BatchingPolicy::ChunkedPrefill => Policy::ChunkedPrefill { chunk_tokens: b.chunk_tokens.unwrap_or(512) },
    };
    if max_batched_tokens == 0 || b.chunk_tokens == Some(0) {
        let key = if max_batched_tokens == 0 { "batching.max_batched_tokens" } else { "batching.chunk_tokens" };
        return Err(loc.error(key, "expected an integer >= 1, got 0", "a step must process at least one token"));
    }
    if b.max_wait.is_some() && !matches!(policy, Policy::Static { .. }) {
        return Err(loc.error("batching.max_wait", "only the static policy waits to fill a batch", "remove max_wait"));
    }
    let sizes = if is_trace {
        if file.workload.prompt_tokens.is_some() || file.workload.output_tokens.is_some() {
            return Err(loc.error(
                "workload.prompt_tokens",
                "a trace carries its own token counts",
                "remove prompt_tokens / output_tokens",
            ));
        }
        None
    } else {
        Some((
            sizes(loc, "workload.prompt_tokens", &file.workload.prompt_tokens)?,
            sizes(loc, "workload.output_tokens", &file.workload.output_tokens)?,
        ))
    };
    let price = r.price_per_gpu_hour_usd.unwrap_or(gpu.price_per_gpu_hour_usd);
    if !(price.is_finite() && price >= 0.0) {
        return Err(loc.error("replica.price_per_gpu_hour_usd", format!("expected dollars >= 0, got {price}"), ""));
    }
    let s = &file.slo;
    Ok(LlmConfig {
        replica: ReplicaConfig {
            policy,
            max_seqs,
            max_batched_tokens,
            kv_blocks,
            block_tokens,
            watermark_blocks: (kv_blocks as f64 * watermark).ceil() as u64,
            preemption: kv.preemption.unwrap_or_default(),
            kv_bytes_per_token: step::kv_bytes_per_token_per_gpu(&model, tp),
            queue_capacity: r.queue_capacity,
        },
        gpu,
        model,
        tp,
        replicas,
        routing: r.routing.unwrap_or_default(),
        step,
        kv_capacity_tokens,
        sizes,
        price_per_gpu_hour_usd: price,
        slo: Slo { ttft_p99: s.ttft_p99, tpot_p99: s.tpot_p99, e2e_p99: s.e2e_p99 },
    })
}
