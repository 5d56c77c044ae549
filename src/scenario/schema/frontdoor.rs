//! The multi-tenant front door's sections: `[[tenants]]`, `[gateway]`,
//! `[clients]` and `[trigger]`.

use super::llm::ReplicaSection;
use super::safety::ClassNumbers;
use super::workload::{ArrivalKind, RateStep, TokenDist};
use crate::time::SimDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PriorityClass {
    /// Interactive, latency-critical; may preempt batch work.
    Realtime,
    Streaming,
    /// Throughput work; served after the others (with aging, never starved).
    Batch,
}

/// A tenant of the front door.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    /// Unique name (also names its random streams and its report row).
    pub name: String,
    /// Tier label (e.g. "free", "enterprise"); see `gateway.shed_order`. Default: "default".
    pub tier: Option<String>,
    /// Fair-queuing weight within its priority class, > 0. Default: 1.
    pub weight: Option<f64>,
    /// "realtime", "streaming" or "batch". Default: "streaming".
    pub priority: Option<PriorityClass>,
    /// Arrival process: "poisson", "deterministic" or "gamma". Default: "poisson".
    pub arrival: Option<ArrivalKind>,
    /// Mean arrival rate, requests per second.
    pub rate_per_s: Option<f64>,
    /// Gamma arrivals only: squared coefficient of variation of the gaps.
    pub scv: Option<f64>,
    /// Piecewise-constant rate changes (a spike: a higher rate, then back).
    #[serde(default)]
    pub schedule: Vec<RateStep>,
    pub prompt_tokens: Option<TokenDist>,
    pub output_tokens: Option<TokenDist>,
    /// Per-request targets, from the first attempt: `{ ttft = "2s", e2e = "30s" }`.
    pub slo: Option<TenantSloSection>,
    /// Longest a request may wait in the gateway: admission rejects it if
    /// the predicted wait is longer, and it is rejected if still queued then.
    pub deadline: Option<SimDuration>,
    /// Rate limits (GCRA): requests and tokens (prompt + expected output).
    pub limits: Option<LimitsSection>,
    /// Most requests of this tenant in the pool at once. Default: no cap.
    pub max_concurrency: Option<u32>,
    /// This tenant's safety traffic mix (with `[safety]` only), in place of
    /// `safety.mix`: `{ benign = 0.5, borderline = 0.2, harmful = 0.3 }`
    /// (relative weights; an absent class weighs 0).
    pub safety_mix: Option<ClassNumbers>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSloSection {
    pub ttft: Option<SimDuration>,
    pub e2e: Option<SimDuration>,
}

/// Token buckets as GCRA: a rate and a burst, on requests and on tokens.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub requests_per_s: Option<f64>,
    /// Requests allowed back to back, >= 1. Default: 1.
    pub request_burst: Option<f64>,
    pub tokens_per_s: Option<f64>,
    /// Tokens allowed at once, >= 1. Default: tokens_per_s (one second's worth).
    pub token_burst: Option<f64>,
}

/// The gateway in front of the pool.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// Requests dispatched to the pool and unanswered, per replica. Default: batching.max_batch.
    pub max_in_flight_per_replica: Option<u32>,
    /// A lower-class request waiting this long goes before fresh higher-class ones. Default: none (strict priority).
    pub aging: Option<SimDuration>,
    /// Realtime requests preempt batch requests in a full pool. Default: false.
    pub preemption: Option<bool>,
    /// Tiers in shedding order, shed first first (e.g. ["free", "pro", "enterprise"]). Default: one tier.
    pub shed_order: Option<Vec<String>>,
    /// Most requests held in the gateway. Default: unbounded.
    pub max_queue: Option<u64>,
    /// Reject requests whose predicted wait (Little's law) exceeds their deadline. Default: false.
    pub predicted_wait: Option<bool>,
    /// KV-cache use (fraction) above which pressure sheds tiers. Default: none.
    pub kv_high: Option<f64>,
    /// Time constant of the measured drain rate. Default: "10s".
    pub drain_window: Option<SimDuration>,
    /// Limits on all tenants together.
    pub limits: Option<LimitsSection>,
    /// Degradation: a pool of a smaller model (keys as in `[replica]`; the
    /// same batching and KV settings). A request the primary pool's
    /// admission refuses faces the same checks against this pool's state,
    /// and is served there if it passes. Default: none.
    pub fallback: Option<ReplicaSection>,
}

/// What every tenant's clients do on slow or refused requests.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ClientsSection {
    /// Per-attempt timeout; the client cancels the attempt. Default: none.
    pub timeout: Option<SimDuration>,
    /// Attempts per request, the first included. Default: 1.
    pub max_attempts: Option<u32>,
    /// Base of the exponential backoff (full jitter). Default: "100ms".
    pub backoff: Option<SimDuration>,
    /// Cap of the backoff. Default: "10s".
    pub backoff_cap: Option<SimDuration>,
    /// Wait at least the Retry-After of a rate-limited answer. Default: true.
    pub honour_retry_after: Option<bool>,
    /// Retries at most this fraction of first attempts (10 s decay). Default: none.
    pub retry_budget: Option<f64>,
    /// Circuit breaker: `{ failures = 5, open_for = "5s" }`. Default: none.
    pub breaker: Option<BreakerSection>,
    /// Retries reuse the idempotency key; a result that completed meanwhile is answered from a cache. Default: true.
    pub idempotency: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerSection {
    /// Consecutive failed attempts that open the breaker, >= 1.
    pub failures: u32,
    /// How long it stays open before a probe.
    pub open_for: SimDuration,
}

/// A marked event (a spike, lost replicas) for reports: before, during and after.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerSection {
    pub at: SimDuration,
    pub until: SimDuration,
    /// Default: "trigger".
    pub label: Option<String>,
}
