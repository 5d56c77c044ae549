//! The scenario file format: plain serde structs, strict (`deny_unknown_fields`).
//!
//! Why structs with optional fields instead of tagged enums: the cross-field
//! rules ("`scv` only with gamma arrivals") are checked in `validate.rs`,
//! where each error names the exact key and a hint, which serde's enum errors
//! cannot do. Every default is stated in the doc comment of its field; those
//! comments are also the JSON Schema descriptions (`servesim schema`).

use crate::core::station::{QueueLayout, Routing};
use crate::time::SimDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A scenario: one workload offered to one serving station, and how to run it.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name of the scenario and of its report folder. Default: the file stem.
    pub name: Option<String>,
    /// Master seed; every random stream derives from it. Default: 1.
    pub seed: Option<u64>,
    /// How long to run and what to measure.
    #[serde(default)]
    pub run: RunSection,
    /// Who sends requests, and when.
    #[serde(default)]
    pub workload: WorkloadSection,
    /// The GPUs (servers) and their queues.
    #[serde(default)]
    pub servers: ServersSection,
    /// How waiting requests are grouped into batches.
    #[serde(default)]
    pub batching: BatchingSection,
    /// How long one batch takes on one GPU.
    #[serde(default)]
    pub service: ServiceSection,
    /// Settings for `servesim validate` (independent replications).
    #[serde(default)]
    pub validation: ValidationSection,
    /// LLM serving: replicas of a model on GPUs, with token-level requests.
    /// When present, `servers` and `service` must be absent.
    pub replica: Option<ReplicaSection>,
    /// Each replica's paged KV cache (LLM serving).
    #[serde(default)]
    pub kv: KvSection,
    /// Service-level objectives, evaluated in the report (LLM serving).
    #[serde(default)]
    pub slo: SloSection,
    /// Prefill/decode pools and the KV-transfer link (LLM serving with
    /// `batching.policy = "disaggregated"` only).
    pub disaggregation: Option<DisaggregationSection>,
    /// The safety pipeline: input checks before inference, output checks
    /// before the caller sees tokens (LLM serving only).
    pub safety: Option<super::safety::SafetySection>,
    /// Tenants of a multi-tenant front door (LLM serving): each with its
    /// own arrivals, sizes, class, weight, limits and SLOs. With tenants,
    /// `workload` holds no arrival or size keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<super::frontdoor::TenantSection>,
    /// The front door's gateway: limits, fair queues, admission (tenants only).
    pub gateway: Option<super::frontdoor::GatewaySection>,
    /// Client behaviour: timeouts, retries, breaker (tenants only).
    pub clients: Option<super::frontdoor::ClientsSection>,
    /// A marked interval (a spike) for the front door's report (tenants only).
    pub trigger: Option<super::frontdoor::TriggerSection>,
}

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
    /// GPU profile name (a file in `profiles/gpus/`), e.g. "h100-sxm".
    pub gpu: String,
    /// Model profile name (a file in `profiles/models/`), e.g. "llama-2-70b".
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
    /// Folder holding `gpus/` and `models/`, relative to the scenario file.
    /// Default: `../profiles` from the scenario's folder, else `./profiles`.
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

/// Shared system prompts: `{ tokens = 1000, share = 0.8, prefixes = 4 }`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedPrefixSpec {
    /// Tokens of each prefix (>= 1); the prompt is the prefix plus `prompt_tokens`.
    pub tokens: Option<u32>,
    /// Fraction of requests that start with a prefix, in [0, 1]. Default: 1.
    pub share: Option<f64>,
    /// Distinct prefixes, chosen uniformly (stream "prefixes"). Default: 1.
    pub prefixes: Option<u32>,
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

/// A token count: `{ fixed = 512 }`, lognormal `{ median = 1000, p99 = 8000 }`,
/// geometric `{ mean = 200 }` (memoryless: the discrete exponential), or
/// `{ empirical = "trace.csv" }` (prompt and output sizes only: the trace's
/// `ContextTokens` or `GeneratedTokens` column, resampled), optionally
/// capped by `max`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenDist {
    pub fixed: Option<u32>,
    pub mean: Option<f64>,
    pub empirical: Option<PathBuf>,
    pub median: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// Arrivals stop after this much simulated time. Required unless
    /// `max_requests` is set or the workload is a trace.
    pub duration: Option<SimDuration>,
    /// Arrivals stop after this many requests.
    pub max_requests: Option<u64>,
    /// Requests arriving before this time are served but not measured. Default: "0s".
    pub warmup: Option<SimDuration>,
    /// Run on after arrivals stop until every request has an outcome. Default: true.
    pub drain: Option<bool>,
    /// Width of a `timeseries.csv` row. Default: the arrival span / 100, rounded to a humane value.
    pub window: Option<SimDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ArrivalKind {
    /// Exponential gaps (memoryless users).
    #[default]
    Poisson,
    /// Evenly spaced arrivals (a load generator).
    Deterministic,
    /// Gamma-distributed gaps with squared coefficient of variation `scv` (bursty when > 1).
    Gamma,
    /// Replay of a CSV trace in the Azure LLM inference format.
    Trace,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSection {
    /// Arrival process. Default: "poisson".
    pub arrival: Option<ArrivalKind>,
    /// Mean arrival rate, requests per second (poisson, deterministic, gamma).
    pub rate_per_s: Option<f64>,
    /// Squared coefficient of variation of inter-arrival gaps (gamma only).
    pub scv: Option<f64>,
    /// Piecewise-constant rate changes: from `at` on, the rate is `rate_per_s`.
    #[serde(default)]
    pub schedule: Vec<RateStep>,
    /// Trace CSV (`TIMESTAMP,ContextTokens,GeneratedTokens`); a relative path
    /// is resolved from the scenario file's folder.
    pub trace: Option<PathBuf>,
    /// Trace replay speed: 2.0 replays twice as fast. Default: 1.0.
    pub time_scale: Option<f64>,
    /// Prompt lengths of synthetic arrivals (LLM serving; traces carry their own).
    pub prompt_tokens: Option<TokenDist>,
    /// Output lengths of synthetic arrivals (LLM serving; traces carry their own).
    pub output_tokens: Option<TokenDist>,
    /// Shared system prompts (LLM serving): synthetic prompts follow one;
    /// a trace's prompts keep their length and start with one.
    pub shared_prefix: Option<SharedPrefixSpec>,
    /// Multi-turn conversations (LLM serving, synthetic arrivals): each
    /// arrival opens one; later turns follow their predecessor's answer.
    pub conversations: Option<ConversationsSpec>,
}

/// `{ turns = { median = 3, p99 = 20 }, think_time = "20s" }`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationsSpec {
    /// Turns per conversation (a token-count-style distribution, >= 1).
    pub turns: Option<TokenDist>,
    /// Mean pause between a turn's answer and the user's next turn
    /// (exponentially distributed; stream "think-time").
    pub think_time: Option<SimDuration>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateStep {
    /// When this rate takes effect.
    pub at: SimDuration,
    /// The new mean rate, requests per second.
    pub rate_per_s: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Discipline {
    /// First come, first served: a GPU runs one batch at a time.
    #[default]
    Fcfs,
    /// Processor sharing: all admitted requests share the servers equally
    /// (each gets min(1, servers/n) of a server). Requires max_batch = 1.
    ProcessorSharing,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ServersSection {
    /// Number of GPUs (servers). Default: 1.
    pub count: Option<u32>,
    /// Queue discipline. Default: "fcfs".
    pub discipline: Option<Discipline>,
    /// One shared queue or one queue per GPU. Default: "shared".
    pub queue: Option<QueueLayout>,
    /// How arrivals pick a queue when `queue = "per-server"`. Default: "round-robin".
    pub routing: Option<Routing>,
    /// Most requests that may wait in one queue (processor sharing: most
    /// requests in service); overflow is rejected as `overloaded`. Default: unbounded.
    pub queue_capacity: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BatchingSection {
    /// LLM serving: "static", "continuous", "chunked-prefill" or "disaggregated". Default: "static".
    pub policy: Option<BatchingPolicy>,
    /// LLM serving (continuous): most tokens in one step. Default: 8192.
    pub max_batched_tokens: Option<u32>,
    /// LLM serving (chunked-prefill): the per-step token budget. Default: 512.
    pub chunk_tokens: Option<u32>,
    /// Most requests in one batch. Default: 1 (no batching).
    pub max_batch: Option<u32>,
    /// Dispatch a partial batch once its oldest request has waited this long.
    /// Default: "0s" (dispatch whatever is waiting as soon as a GPU is free).
    pub max_wait: Option<SimDuration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceModelKind {
    /// `base + per_item * batch_size`.
    #[default]
    Affine,
    /// `by_batch_size[n-1]` for a batch of n.
    Table,
    /// Random batch time, independent of batch size, with mean `mean`.
    Exponential,
    Deterministic,
    Lognormal,
    Gamma,
    Hyperexponential,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceSection {
    /// Batch service-time model. Default: "affine".
    pub model: Option<ServiceModelKind>,
    /// Affine: fixed cost of one batch (kernel launch, weight read).
    pub base: Option<SimDuration>,
    /// Affine: added cost per request in the batch.
    pub per_item: Option<SimDuration>,
    /// Table: measured batch times for batch sizes 1, 2, ..., max_batch.
    pub by_batch_size: Option<Vec<SimDuration>>,
    /// Distribution models: mean batch time.
    pub mean: Option<SimDuration>,
    /// lognormal / gamma / hyperexponential: squared coefficient of variation.
    pub scv: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ValidationSection {
    /// Independent replications. Default: 20.
    pub replications: Option<u32>,
    /// Measured requests per replication. Default: 50000.
    pub requests: Option<u64>,
    /// Requests discarded at the start of each replication. Default: 5000.
    pub warmup_requests: Option<u64>,
}
