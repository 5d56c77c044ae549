//! The multi-tenant front door in a scenario file: `[[tenants]]`,
//! `[gateway]`, `[clients]` and `[trigger]` resolved into the gateway's,
//! the tenants' and the clients' settings.
//!
//! Every tenant value is checked with its own key (`tenants[1].weight`) so
//! an error points at the line that wrote it: weights > 0, bursts >= 1,
//! rates > 0, unique names, tiers named in `gateway.shed_order`. The cost a
//! request is charged by fair queuing is its estimated GPU-seconds from the
//! pool's own step-time model (see [`CostModel`]). A fallback pool
//! (`gateway.fallback`) is resolved by the LLM resolver, like `[replica]`.

use super::check::{self, renewal, token_sizes, traffic_mix};
use super::error::ScenarioError;
use super::llm;
use super::locate::Locator;
use super::schema::{ArrivalKind, ClientsSection, LimitsSection, PriorityClass, ScenarioFile, TenantSection};
use super::serving::{CostModel, FrontDoorConfig, LlmConfig, Trigger};
use crate::core::gateway::{AdmissionConfig, Class, GatewayConfig, Gcra, Limits, TenantPolicy};
use crate::model::clients::{BreakerPolicy, ClientPolicy};
use crate::time::SimDuration;
use crate::workload::tenants::{Tenant, TenantDemand, TenantSlo};
use crate::workload::{ArrivalSpec, RateSchedule};
use std::collections::BTreeSet;
use std::path::Path;

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
    if file.replica.is_none() && file.regions.is_empty() {
        return Err(loc.error(
            "tenants",
            "tenants need LLM serving (a [replica] table, or a fleet's [[regions]])",
            "add [replica]",
        ));
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

/// Tenant `i`; `own_demand`: whether it sends requests of its own (a
/// single pool) or a fleet's populations send them (its arrival and size
/// keys refused).
fn tenant(loc: &Locator, i: usize, t: &TenantSection, own_demand: bool, path: &Path) -> Result<Tenant, ScenarioError> {
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
    let demand = match own_demand {
        true => Some(demand(loc, &key, t, path)?),
        false => {
            let why = "in a fleet, a tenant's requests come from the [[populations]] that name it";
            let hint = "move the tenant's rate and sizes into a population's workload, with tenant = \"NAME\"";
            let set = [
                ("arrival", t.arrival.is_some()),
                ("rate_per_s", t.rate_per_s.is_some()),
                ("scv", t.scv.is_some()),
                ("schedule", !t.schedule.is_empty()),
                ("prompt_tokens", t.prompt_tokens.is_some()),
                ("output_tokens", t.output_tokens.is_some()),
            ];
            if let Some((name, _)) = set.iter().find(|(_, set)| *set) {
                return Err(loc.error(&k(name), format!("not allowed here: {why}"), hint));
            }
            None
        }
    };
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
        demand,
        slo: t.slo.as_ref().map_or(TenantSlo::default(), |s| TenantSlo { ttft: s.ttft, e2e: s.e2e }),
        deadline: t.deadline,
        limits: limits(loc, &k("limits"), &t.limits)?,
        max_concurrency: t.max_concurrency,
        safety_mix: t.safety_mix.map(|m| traffic_mix(loc, &k("safety_mix"), m, [0.0; 3])).transpose()?,
    })
}

/// A single-pool tenant's own arrivals and sizes, at its keys.
fn demand(loc: &Locator, key: &str, t: &TenantSection, path: &Path) -> Result<TenantDemand, ScenarioError> {
    let k = |s: &str| format!("{key}.{s}");
    let kind = t.arrival.unwrap_or_default();
    if kind == ArrivalKind::Trace {
        return Err(loc.error(&k("arrival"), "tenants cannot replay a trace", "use poisson, deterministic or gamma"));
    }
    Ok(TenantDemand {
        arrivals: renewal(loc, key, kind, t.rate_per_s, t.scv, &t.schedule)?,
        prompt_tokens: token_sizes(loc, &k("prompt_tokens"), &t.prompt_tokens, Some(|r| r.prompt_tokens), path)?,
        output_tokens: token_sizes(loc, &k("output_tokens"), &t.output_tokens, Some(|r| r.output_tokens), path)?,
    })
}

/// Resolves the front door of `primary`, an LLM pool, for a scenario with
/// tenants (None without); `is_trace` and `source` as for the pool.
/// `fleet`: the front door stands in front of a fleet of that many
/// replicas, whose first pool is `primary` (its step model prices the
/// requests for fair queuing); its tenants' requests come from the
/// fleet's populations, and it has no fallback pool.
pub(super) fn resolve(
    file: &ScenarioFile,
    primary: &LlmConfig,
    fleet: Option<u32>,
    is_trace: bool,
    source: llm::Source,
    loc: &Locator,
) -> Result<Option<Box<FrontDoorConfig>>, ScenarioError> {
    let path = source.path;
    if file.tenants.is_empty() {
        return Ok(None);
    }
    let why = "a fleet's front door routes every request through the global router";
    let fallback = file.gateway.as_ref().and_then(|g| g.fallback.as_ref());
    check::forbid(loc, "gateway.fallback", &fallback.filter(|_| fleet.is_some()), why)?;
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
        tenants.push(tenant(loc, i, t, fleet.is_none(), path)?);
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
        max_in_flight: vec![u64::from(per_replica) * u64::from(fleet.unwrap_or(primary.replicas))],
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
    let fallback =
        g.fallback.as_ref().map(|f| llm::fallback(file, f, is_trace, source, loc)).transpose()?.map(Box::new);
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
