//! The multi-tenant front door in a scenario file: `[[tenants]]`,
//! `[gateway]`, `[clients]` and `[trigger]` — their serde shapes and their
//! resolution into the gateway's, the tenants' and the clients' settings.
//!
//! Every tenant value is checked with its own key (`tenants[1].weight`) so
//! an error points at the line that wrote it: weights > 0, bursts >= 1,
//! rates > 0, unique names, tiers named in `gateway.shed_order`. The cost a
//! request is charged by fair queuing is its estimated GPU-seconds from the
//! pool's own step-time model (see [`CostModel`]).

use super::llm::LlmConfig;
use super::locate::Locator;
use super::schema::{ArrivalKind, RateStep, ReplicaSection, ScenarioFile, TokenDist};
use super::ScenarioError;
use crate::core::gateway::{AdmissionConfig, Class, GatewayConfig, Gcra, Limits, TenantPolicy};
use crate::core::llm::StepShape;
use crate::model::clients::{BreakerPolicy, ClientPolicy};
use crate::model::step::StepModel;
use crate::time::SimDuration;
use crate::workload::tenants::{Tenant, TenantSlo};
use crate::workload::{ArrivalSpec, RateSchedule};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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
    pub safety_mix: Option<super::safety::ClassNumbers>,
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

/// A marked interval of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub at: SimDuration,
    pub until: SimDuration,
    pub label: String,
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

/// Keys that make no sense without `[[tenants]]`, or that tenants replace.
pub(super) fn check_placement(file: &ScenarioFile, loc: &Locator) -> Result<(), ScenarioError> {
    let hint = "declare [[tenants]] (each with its own rate and sizes), or remove the key";
    if file.tenants.is_empty() {
        for (key, set) in [
            ("gateway", file.gateway.is_some()),
            ("clients", file.clients.is_some()),
            ("trigger", file.trigger.is_some()),
        ] {
            if set {
                return Err(loc.error(key, "only a multi-tenant front door ([[tenants]]) uses it", hint));
            }
        }
        return Ok(());
    }
    if file.replica.is_none() {
        return Err(loc.error("tenants", "tenants need LLM serving (a [replica] table)", "add [replica]"));
    }
    let w = &file.workload;
    let why = "with [[tenants]], each tenant sets its own arrivals and sizes";
    for (key, set) in [
        ("workload.arrival", w.arrival.is_some()),
        ("workload.rate_per_s", w.rate_per_s.is_some()),
        ("workload.scv", w.scv.is_some()),
        ("workload.schedule", !w.schedule.is_empty()),
        ("workload.trace", w.trace.is_some()),
        ("workload.prompt_tokens", w.prompt_tokens.is_some()),
        ("workload.output_tokens", w.output_tokens.is_some()),
        ("workload.shared_prefix", w.shared_prefix.is_some()),
    ] {
        if set {
            return Err(loc.error(key, format!("not allowed here: {why}"), "move it into a [[tenants]] entry"));
        }
    }
    if file.run.duration.is_none() {
        return Err(loc.error(
            "run.duration",
            "missing: tenants' arrivals stop at run.duration",
            "e.g. duration = \"5m\"",
        ));
    }
    Ok(())
}

fn limits(loc: &Locator, key: &str, l: &Option<LimitsSection>) -> Result<Limits, ScenarioError> {
    let Some(l) = l else { return Ok(Limits::default()) };
    let one = |rate: Option<f64>, burst: Option<f64>, what: &str, default_burst: f64| {
        let Some(rate) = rate else {
            return match burst {
                Some(_) => Err(loc.error(
                    &format!("{key}.{what}_burst"),
                    format!("a burst needs a rate: {what}s_per_s is not set"),
                    format!("set {what}s_per_s, or remove {what}_burst"),
                )),
                None => Ok(None),
            };
        };
        if !(rate.is_finite() && rate > 0.0) {
            return Err(loc.error(
                &format!("{key}.{what}s_per_s"),
                format!("expected a rate > 0 per second, got {rate}"),
                "remove the key for no limit",
            ));
        }
        let burst = burst.unwrap_or(default_burst.max(1.0));
        if !(burst.is_finite() && burst >= 1.0) {
            return Err(loc.error(
                &format!("{key}.{what}_burst"),
                format!("expected a burst >= 1 {what}, got {burst}"),
                format!("the most {what}s allowed back to back; 1 means no burst"),
            ));
        }
        Ok(Some(Gcra::new(rate, burst)))
    };
    Ok(Limits {
        requests: one(l.requests_per_s, l.request_burst, "request", 1.0)?,
        tokens: one(l.tokens_per_s, l.token_burst, "token", l.tokens_per_s.unwrap_or(1.0))?,
    })
}

fn tenant(
    loc: &Locator,
    i: usize,
    t: &TenantSection,
    sizes: impl Fn(&str, &Option<TokenDist>) -> Result<crate::workload::tokens::TokenSizes, ScenarioError>,
) -> Result<Tenant, ScenarioError> {
    let key = format!("tenants[{i}]");
    let k = |s: &str| format!("{key}.{s}");
    if t.name.is_empty() || !t.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(loc.error(
            &k("name"),
            format!("`{}` is not a tenant name", t.name),
            "use letters, digits, `-`, `_`, `.`",
        ));
    }
    let weight = t.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        return Err(loc.error(
            &k("weight"),
            format!("expected a weight > 0, got {weight}"),
            "a weight is a share of the pool within its priority class; a tenant that should get nothing needs no entry",
        ));
    }
    let kind = t.arrival.unwrap_or_default();
    if kind == ArrivalKind::Trace {
        return Err(loc.error(&k("arrival"), "tenants cannot replay a trace", "use poisson, deterministic or gamma"));
    }
    let arrivals = super::validate::renewal(loc, &key, kind, t.rate_per_s, t.scv, &t.schedule)?;
    if let Some(0) = t.max_concurrency {
        return Err(loc.error(&k("max_concurrency"), "expected an integer >= 1, got 0", "remove it for no cap"));
    }
    if t.deadline == Some(SimDuration::ZERO) {
        return Err(loc.error(&k("deadline"), "expected a duration > 0", "e.g. deadline = \"5s\""));
    }
    Ok(Tenant {
        name: t.name.clone(),
        tier: t.tier.clone().unwrap_or_else(|| "default".into()),
        class: match t.priority.unwrap_or(PriorityClass::Streaming) {
            PriorityClass::Realtime => Class::Realtime,
            PriorityClass::Streaming => Class::Streaming,
            PriorityClass::Batch => Class::Batch,
        },
        weight,
        arrivals,
        prompt_tokens: sizes(&k("prompt_tokens"), &t.prompt_tokens)?,
        output_tokens: sizes(&k("output_tokens"), &t.output_tokens)?,
        slo: t.slo.as_ref().map_or(TenantSlo::default(), |s| TenantSlo { ttft: s.ttft, e2e: s.e2e }),
        deadline: t.deadline,
        limits: limits(loc, &k("limits"), &t.limits)?,
        max_concurrency: t.max_concurrency,
        safety_mix: t.safety_mix.map(|m| super::safety::traffic_mix(loc, &k("safety_mix"), m, [0.0; 3])).transpose()?,
    })
}

/// Resolves the front door of an LLM scenario with tenants (None without).
/// `fallback` resolves `gateway.fallback` into a pool.
pub(super) fn resolve(
    file: &ScenarioFile,
    primary: &LlmConfig,
    loc: &Locator,
    sizes: impl Fn(&str, &Option<TokenDist>) -> Result<crate::workload::tokens::TokenSizes, ScenarioError>,
    fallback: impl FnOnce(&ReplicaSection) -> Result<LlmConfig, ScenarioError>,
) -> Result<Option<Box<FrontDoorConfig>>, ScenarioError> {
    if file.tenants.is_empty() {
        return Ok(None);
    }
    let mut names = BTreeSet::new();
    let mut tenants = Vec::new();
    for (i, t) in file.tenants.iter().enumerate() {
        if !names.insert(t.name.as_str()) {
            return Err(loc.error(
                &format!("tenants[{i}].name"),
                format!("duplicate tenant name `{}`", t.name),
                "tenant names must be unique: they name random streams and report rows",
            ));
        }
        tenants.push(tenant(loc, i, t, &sizes)?);
    }
    let g = file.gateway.clone().unwrap_or_default();
    let order = g.shed_order.clone().unwrap_or_default();
    let mut policies = Vec::new();
    for (i, t) in tenants.iter().enumerate() {
        let shed_rank = match order.iter().position(|tier| *tier == t.tier) {
            Some(r) => r as u32,
            None if order.is_empty() => 0,
            None => {
                return Err(loc.error(
                    &format!("tenants[{i}].tier"),
                    format!("tier `{}` is not in gateway.shed_order {order:?}", t.tier),
                    "list every tier in gateway.shed_order, shed first first",
                ))
            }
        };
        policies.push(TenantPolicy {
            class: t.class,
            weight: t.weight,
            shed_rank,
            limits: t.limits,
            max_concurrency: t.max_concurrency,
            deadline: t.deadline,
        });
    }
    let per_replica = g.max_in_flight_per_replica.unwrap_or(primary.replica.max_seqs);
    if per_replica == 0 {
        return Err(loc.error(
            "gateway.max_in_flight_per_replica",
            "expected an integer >= 1, got 0",
            "one full batch per replica (batching.max_batch) keeps replicas busy",
        ));
    }
    if g.max_queue == Some(0) {
        return Err(loc.error("gateway.max_queue", "expected an integer >= 1, got 0", "remove it for no cap"));
    }
    if let Some(h) = g.kv_high.filter(|h| !(h.is_finite() && (0.0..1.0).contains(h))) {
        return Err(loc.error("gateway.kv_high", format!("expected a fraction in [0, 1), got {h}"), "e.g. 0.9"));
    }
    if g.drain_window == Some(SimDuration::ZERO) {
        return Err(loc.error("gateway.drain_window", "expected a duration > 0", "e.g. \"10s\""));
    }
    let mut gateway = GatewayConfig {
        tenants: policies,
        global: limits(loc, "gateway.limits", &g.limits)?,
        max_in_flight: vec![u64::from(per_replica) * u64::from(primary.replicas)],
        aging: g.aging,
        preemption: g.preemption.unwrap_or(false),
        admission: AdmissionConfig {
            max_queue: g.max_queue,
            predicted_wait: g.predicted_wait.unwrap_or(false),
            kv_high: g.kv_high,
            drain_window: g.drain_window.unwrap_or(SimDuration::from_secs(10)),
            tiers: order.len().max(1) as u32,
        },
    };
    let fallback = g.fallback.as_ref().map(fallback).transpose()?.map(Box::new);
    if let Some(f) = &fallback {
        gateway.max_in_flight.push(u64::from(per_replica.min(f.replica.max_seqs)) * u64::from(f.replicas));
    }
    Ok(Some(Box::new(FrontDoorConfig {
        tenants,
        gateway,
        fallback,
        clients: clients(file.clients.clone().unwrap_or_default(), loc)?,
        trigger: trigger(file, loc)?,
        cost: CostModel::new(&primary.step, primary.replica.max_seqs.min(64)),
    })))
}

fn clients(c: ClientsSection, loc: &Locator) -> Result<ClientPolicy, ScenarioError> {
    let max_attempts = c.max_attempts.unwrap_or(1);
    if max_attempts == 0 {
        return Err(loc.error("clients.max_attempts", "expected an integer >= 1, got 0", "1 means never retry"));
    }
    if let Some(r) = c.retry_budget.filter(|r| !(r.is_finite() && *r >= 0.0)) {
        return Err(loc.error("clients.retry_budget", format!("expected a fraction >= 0, got {r}"), "0.1 allows 10%"));
    }
    if c.breaker.as_ref().is_some_and(|b| b.failures == 0) {
        return Err(loc.error("clients.breaker.failures", "expected an integer >= 1, got 0", "e.g. 5"));
    }
    Ok(ClientPolicy {
        timeout: c.timeout.filter(|t| *t > SimDuration::ZERO),
        max_attempts,
        backoff: c.backoff.unwrap_or(SimDuration::from_millis(100)),
        backoff_cap: c.backoff_cap.unwrap_or(SimDuration::from_secs(10)),
        honour_retry_after: c.honour_retry_after.unwrap_or(true),
        retry_budget: c.retry_budget,
        breaker: c.breaker.map(|b| BreakerPolicy { failures: b.failures, open_for: b.open_for }),
        idempotency: c.idempotency.unwrap_or(true),
    })
}

fn trigger(file: &ScenarioFile, loc: &Locator) -> Result<Option<Trigger>, ScenarioError> {
    let Some(t) = &file.trigger else { return Ok(None) };
    if t.until <= t.at {
        return Err(loc.error(
            "trigger.until",
            "expected a time after trigger.at",
            "e.g. at = \"60s\", until = \"90s\"",
        ));
    }
    Ok(Some(Trigger { at: t.at, until: t.until, label: t.label.clone().unwrap_or_else(|| "trigger".into()) }))
}

/// The scenario-level arrival spec of a tenant scenario: Poisson at the sum
/// of the tenants' first rates (only sizes the timeline when no duration is
/// set, which tenants forbid).
pub(super) fn aggregate_arrivals(file: &ScenarioFile) -> ArrivalSpec {
    let rate: f64 = file.tenants.iter().filter_map(|t| t.rate_per_s).filter(|r| r.is_finite() && *r > 0.0).sum();
    ArrivalSpec::Renewal {
        gap: crate::workload::dist::Dist::Exponential { mean: 1.0 },
        rate: RateSchedule::new(rate.max(f64::MIN_POSITIVE), &[]),
    }
}
