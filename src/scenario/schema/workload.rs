//! `[workload]`: who sends requests and when, and the shapes a request's
//! sizes, shared prefixes and conversations are written in (tenants reuse
//! the arrival and size shapes).

use crate::time::SimDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    /// Replay of a CSV trace: the Azure LLM inference format, or a measured run's send times and lengths.
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
    /// Trace CSV: Azure's (`TIMESTAMP,ContextTokens,GeneratedTokens`) or a
    /// measured run (`arrival_s,prompt_tokens,output_tokens,ttft_ms,latency_ms`);
    /// a relative path is resolved from the scenario file's folder.
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
    /// Closed-loop benchmark clients (LLM serving): they replace the
    /// arrival process (no `arrival`, `rate_per_s` or `trace` with them).
    pub clients: Option<ClientsSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateStep {
    /// When this rate takes effect.
    pub at: SimDuration,
    /// The new mean rate, requests per second.
    pub rate_per_s: f64,
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

/// Closed-loop benchmark clients, as `vllm bench serve --max-concurrency`,
/// genai-perf / aiperf and inference-perf drive a server:
/// `{ concurrency = 16, requests_per_client = 10 }`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientsSpec {
    /// Clients sending at once; each sends its next request when its
    /// previous answer has arrived (and its think time has passed).
    pub concurrency: Option<u32>,
    /// Measured requests per client: the run sends concurrency ×
    /// requests_per_client (a benchmark's num_prompts). Default: 10.
    pub requests_per_client: Option<u32>,
    /// Pause between an answer and the client's next request (fixed). Default: "0s".
    pub think_time: Option<SimDuration>,
    /// How clients start: "burst" (all at t = 0) or `{ ramp = "10s" }`
    /// (client i of n starts at i/n of the ramp). Default: "burst".
    pub start: Option<ClientStart>,
    /// Requests sent first, through the same clients, and not measured;
    /// the measured requests start when the last of them is answered. Default: 0.
    pub warmup_requests: Option<u32>,
}

/// `start = "burst"` or `start = { ramp = "10s" }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ClientStart {
    /// "burst".
    Named(StartPattern),
    /// `{ ramp = "10s" }`.
    Ramp(RampStart),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StartPattern {
    /// Every client sends its first request at t = 0.
    Burst,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RampStart {
    /// Clients start evenly spread over this span.
    pub ramp: SimDuration,
}
