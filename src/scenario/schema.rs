//! The scenario file format: plain serde structs, strict (`deny_unknown_fields`).
//!
//! Why structs with optional fields instead of tagged enums: the cross-field
//! rules ("`scv` only with gamma arrivals") are checked by the section
//! resolvers, where each error names the exact key and a hint, which serde's
//! enum errors cannot do. Every default is stated in the doc comment of its field; those
//! comments are also the JSON Schema descriptions (`servesim schema`).
//!
//! The format is split by section family (`workload`, `llm`, `fleet`, `frontdoor`,
//! `safety`, `plan`; the station's and the run's sections live here) and re-exported
//! as one namespace. No resolver is imported here: these types only say
//! what a file may contain.

mod autoscale;
mod check;
mod fleet;
mod frontdoor;
mod llm;
mod plan;
mod safety;
mod workload;

pub use autoscale::*;
pub use check::*;
pub use fleet::*;
pub use frontdoor::*;
pub use llm::*;
pub use plan::*;
pub use safety::*;
pub use workload::*;

use crate::core::station::{QueueLayout, Routing};
use crate::time::SimDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// A real serving engine's scheduler and defaults (LLM serving);
    /// replaces `[batching]` and `[kv]`'s scheduling knobs.
    pub engine: Option<EngineSection>,
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
    pub safety: Option<SafetySection>,
    /// Tenants of a multi-tenant front door (LLM serving): each with its
    /// own arrivals, sizes, class, weight, limits and SLOs. With tenants,
    /// `workload` holds no arrival or size keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantSection>,
    /// The front door's gateway: limits, fair queues, admission (tenants only).
    pub gateway: Option<GatewaySection>,
    /// Client behaviour: timeouts, retries, breaker (tenants only).
    pub clients: Option<ClientsSection>,
    /// A marked interval (a spike) for the front door's report (tenants only).
    pub trigger: Option<TriggerSection>,
    /// SLO assertions for CI, evaluated by `servesim check` and ignored by
    /// `servesim run`: `metric = "<op> <value>"`, e.g. `ttft_p99 = "<= 2s"`,
    /// `goodput_fraction = ">= 0.99"`, `"invariants.all_hold" = true`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub check: CheckSection,
    /// The search space of `servesim plan` (ignored by `servesim run`).
    pub plan: Option<PlanSection>,
    /// The fleet's global router (with `[[regions]]` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetSection>,
    /// A fleet: regions holding pools of replicas; replaces `[replica]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<RegionSection>,
    /// Round-trip times between the fleet's regions, one entry per pair.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rtt: Vec<RttSection>,
    /// The fleet's users, each with its own arrivals; they replace
    /// `[workload]`'s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub populations: Vec<PopulationSection>,
    /// Scheduled failures of the fleet's regions and pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailureSection>,
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
    /// Run even when the expected work is above the limit (20 million
    /// requests); `--allow-large` sets it. Default: false.
    pub allow_large: Option<bool>,
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
