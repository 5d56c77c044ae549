//! What a resolved scenario serves with: a classic station, LLM serving
//! (pools of replicas, optionally behind a multi-tenant front door), or a
//! fleet of such pools across regions. These are the types the drivers
//! read.
//!
//! Why apart from the resolvers: a pool may have a front door and a front
//! door may have a fallback pool, so [`LlmConfig`] and [`FrontDoorConfig`]
//! hold each other. Kept together here, the LLM and the front-door
//! resolvers both build them and neither imports the other both ways.

use crate::core::gateway::GatewayConfig;
use crate::core::llm::{Disaggregation, ReplicaConfig, RouterPolicy, StepShape};
use crate::core::station::StationConfig;
use crate::metrics::llm::Slo;
use crate::model::clients::ClientPolicy;
use crate::model::profile::{GpuMemory, GpuProfile, ModelProfile};
use crate::model::step::StepModel;
use crate::model::ServiceModel;
use crate::time::SimDuration;
use crate::workload::conversations::ConversationSpec;
use crate::workload::prefixes::SharedPrefix;
use crate::workload::tenants::Tenant;
use crate::workload::tokens::TokenSizes;
use crate::workload::ArrivalSpec;

/// What serves the requests.
#[derive(Debug, Clone)]
pub enum Serving {
    /// A classic station: requests are jobs with a batch service time.
    Station { station: StationConfig, service: ServiceModel },
    /// LLM serving: token-level requests on model replicas.
    Llm(Box<LlmConfig>),
    /// A fleet: pools of several models in several regions behind a global router.
    Fleet(Box<FleetConfig>),
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
    /// Where a GPU's memory goes (the peak is filled in by the run).
    pub memory: GpuMemory,
    /// Sizes of synthetic arrivals (None for traces, which carry their own).
    pub sizes: Option<(TokenSizes, TokenSizes)>,
    pub price_per_gpu_hour_usd: f64,
    pub slo: Slo,
    /// Set with `batching.policy = "disaggregated"`; replicas then run `Continuous`.
    pub disaggregation: Option<Disaggregation>,
    /// Shared system prompts of synthetic arrivals.
    pub shared_prefix: Option<SharedPrefix>,
    /// Multi-turn conversations (synthetic arrivals).
    pub conversations: Option<ConversationSpec>,
    /// The multi-tenant front door (`[[tenants]]`); None without tenants.
    pub frontdoor: Option<Box<FrontDoorConfig>>,
}

impl LlmConfig {
    /// Prices the pool with `step`, and takes from it what it decides for
    /// the replicas (the server's time per streamed token).
    pub fn price_with(&mut self, step: StepModel) {
        self.replica.token_stream_cost = step.token_stream_cost();
        self.step = step;
    }
}

/// A validated front door.
#[derive(Debug, Clone)]
pub struct FrontDoorConfig {
    pub tenants: Vec<Tenant>,
    pub gateway: GatewayConfig,
    /// Degradation: the smaller model's pool, tried when the primary refuses.
    pub fallback: Option<Box<LlmConfig>>,
    pub clients: ClientPolicy,
    pub trigger: Option<Trigger>,
    pub cost: CostModel,
}

/// A marked interval of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub at: SimDuration,
    pub until: SimDuration,
    pub label: String,
}

/// Estimated GPU-seconds of a request: `prompt · prefill + output · decode`,
/// per token, from the pool's step-time model: a 2,048-token prefill step,
/// and a decode step of `reference_batch` sequences of 1,024 tokens each
/// divided among them (the GPU time one sequence's token takes in a full
/// batch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    pub prefill_s_per_token: f64,
    pub decode_s_per_token: f64,
}

impl CostModel {
    pub fn new(step: &StepModel, reference_batch: u32) -> CostModel {
        let b = u64::from(reference_batch.max(1));
        let prefill = step.time(&StepShape::prefill(2048, 0)).as_secs_f64() / 2048.0;
        let decode = step.time(&StepShape::decode(b, b * 1024)).as_secs_f64() / b as f64;
        CostModel { prefill_s_per_token: prefill, decode_s_per_token: decode }
    }

    /// GPU-seconds of `prompt` prefilled and `output` tokens decoded.
    pub fn cost(&self, prompt: u64, output: u64) -> f64 {
        prompt as f64 * self.prefill_s_per_token + output as f64 * self.decode_s_per_token
    }
}

/// A validated fleet: every pool resolved as `[replica]` would be.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub regions: Vec<Region>,
    /// In file order (region by region); a pool's index is its place here.
    pub pools: Vec<FleetPool>,
    /// The model profiles some pool serves, in order of first appearance.
    pub models: Vec<String>,
    /// Round-trip times by region index (0 on the diagonal).
    pub rtt: Vec<Vec<SimDuration>>,
    pub populations: Vec<Population>,
    /// Outstanding requests per replica above which the router spills over.
    pub spillover_outstanding_per_replica: f64,
    pub bytes_per_token: f64,
    /// How long after a region fails, or comes back, the global router
    /// moves traffic: a health-check interval plus the DNS/GSLB TTL.
    pub detection: SimDuration,
    /// Scheduled failures, in file order.
    pub failures: Vec<Failure>,
    /// The report's SLO windows: their width, and the fraction of a
    /// window's answers within SLO that meets the SLO.
    pub slo_window: SimDuration,
    pub slo_target: f64,
    /// `method = "performability"`: each capacity level's request-level
    /// run length (after the warm-up); `None` for a request-level run.
    pub performability: Option<SimDuration>,
    /// The multi-tenant front door in front of the global router, with
    /// `[[tenants]]`.
    pub frontdoor: Option<Box<FrontDoorConfig>>,
}

/// A scheduled failure, resolved: what it takes down and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub kind: crate::scenario::schema::FailureKind,
    /// The region it strikes.
    pub region: usize,
    /// The pool, for a failure inside one.
    pub pool: Option<usize>,
    /// Down over `[from, to)`, times into the run.
    pub from: SimDuration,
    pub to: SimDuration,
    /// `(pool, replica)` taken down (slowed, for stragglers).
    pub replicas: Vec<(usize, u32)>,
    /// A partition: the region whose users cannot reach `region`.
    pub users: Option<usize>,
    /// A bad rollout or stragglers: step times times this (1: unchanged).
    pub slowdown: f64,
    /// A bad rollout: the fraction of requests answered `failed`.
    pub error_rate: f64,
}

impl FleetConfig {
    /// Replicas over every pool (the recorder's servers, numbered pool
    /// by pool).
    pub fn replicas(&self) -> u32 {
        self.pools.iter().map(|p| p.llm.replicas).sum()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub name: String,
    pub gpu_price_multiplier: f64,
    pub egress_usd_per_gb: f64,
}

/// One pool: where it runs, which model (an index into `FleetConfig::models`).
#[derive(Debug, Clone)]
pub struct FleetPool {
    pub region: usize,
    pub model: usize,
    pub llm: LlmConfig,
    /// Its GPUs' random failures and repairs, if they fail.
    pub failures: Option<crate::model::failure::FailureModel>,
    /// Its autoscaler (`llm.replicas` is then its slots, `max_replicas`).
    pub autoscale: Option<crate::scenario::Autoscale>,
}

/// Users with their own arrivals, sizes and mixes (cumulative weights, so
/// a draw is a binary search).
#[derive(Debug, Clone)]
pub struct Population {
    pub name: String,
    pub arrivals: ArrivalSpec,
    /// Drawn sizes (None for a trace, which carries its own).
    pub sizes: Option<(TokenSizes, TokenSizes)>,
    /// `(region index, cumulative share)`, the last share 1.
    pub regions: Vec<(usize, f64)>,
    /// `(model index, cumulative share)`, the last share 1.
    pub models: Vec<(usize, f64)>,
    /// The tenant its users are, behind a front door (0 without one).
    pub tenant: u32,
}
