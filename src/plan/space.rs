//! The search space of `servesim plan`, read from a scenario's `[plan]`
//! section: its dimensions (a scenario key and its alternatives), the
//! replica-count range, and how an SLO verdict is reached (replications,
//! confidence, margin).
//!
//! Every configuration is validated here, before anything runs, so an
//! unknown GPU or key fails fast, placed at the `[plan]` entry that named
//! it rather than at the `--set` override it became.

// A scenario error ends the plan before anything is written; it happens
// at most once, so it travels unboxed, as in the scenario module.
#![allow(clippy::result_large_err)]

use super::source::Source;
use crate::metrics::llm::Slo;
use crate::scenario::{self, Locator, Origin, Scenario, ScenarioError, Serving};

/// One dimension of the search: a scenario key and the override text of
/// each alternative, with where in `[plan]` each was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    pub key: String,
    pub values: Vec<String>,
    /// The `[plan]` key path of each value, for errors (`plan.gpus[1]`).
    pub written_at: Vec<String>,
}

/// One point of the product of the dimensions, without a replica count.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `key=value` overrides, one per dimension, in dimension order.
    pub sets: Vec<String>,
    /// Dollars per hour of one replica: tp x the GPU's price.
    pub usd_per_replica_hour: f64,
}

impl Config {
    /// The configuration as `key=value` pairs, space-separated.
    pub fn label(&self) -> String {
        self.sets.join(" ")
    }
}

/// Everything `servesim plan` searches, validated.
#[derive(Debug, Clone)]
pub struct Space {
    /// Where every point is loaded from (the user's overrides, profiles, seed).
    pub source: Source,
    /// The scenario as written (with the user's `--set` overrides).
    pub base: Scenario,
    pub dimensions: Vec<Dimension>,
    pub configs: Vec<Config>,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub replications: u32,
    pub confidence: f64,
    pub margin: f64,
    pub slo: Slo,
}

/// The text `--set` needs for a `[plan]` value: numbers and booleans as
/// written; a string bare when `--set` would read it back as that string,
/// else quoted (so `"16"` stays a string).
fn override_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => match s.parse::<toml_edit::Value>() {
            Ok(_) => Some(toml_edit::Value::from(s.as_str()).to_string()),
            Err(_) if s.trim() == s && !s.is_empty() => Some(s.clone()),
            Err(_) => Some(toml_edit::Value::from(s.as_str()).to_string()),
        },
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads the `[plan]` section of `source` and validates every
/// configuration it spans.
pub fn read(source: &Source) -> Result<Space, ScenarioError> {
    let text = scenario::read(&source.path, "scenarios/")?;
    let base = source.from_text(&text, &[])?;
    let loc = Locator::new(&text, &source.path, &source.overrides)?;
    let Some(plan) = base.file.plan.clone() else {
        return Err(loc.error(
            "plan",
            "no `[plan]` section: nothing to search",
            "add [plan] with the alternatives to try, e.g. gpus = [\"h100-sxm\", \"h200\"] and tp = [2, 4, 8]",
        ));
    };
    let Serving::Llm(llm) = &base.serving else {
        return Err(loc.error("replica", "planning needs an LLM-serving scenario", "add a [replica] section"));
    };
    let slo = llm.slo;
    if slo.ttft_p99.is_none() && slo.tpot_p99.is_none() && slo.e2e_p99.is_none() {
        return Err(loc.error(
            "slo",
            "no SLO target: nothing to plan for",
            "set at least one of slo.ttft_p99, slo.tpot_p99, slo.e2e_p99, e.g. ttft_p99 = \"2s\"",
        ));
    }
    let mut dimensions = Vec::new();
    let named: [(&str, &str, Option<Vec<serde_json::Value>>); 4] = [
        ("gpus", "replica.gpu", plan.gpus.map(|v| v.into_iter().map(serde_json::Value::from).collect())),
        ("tp", "replica.tp", plan.tp.map(|v| v.into_iter().map(serde_json::Value::from).collect())),
        ("policies", "batching.policy", plan.policies.map(|v| v.into_iter().map(serde_json::Value::from).collect())),
        ("engines", "engine.kind", plan.engines.map(|v| v.into_iter().map(serde_json::Value::from).collect())),
    ];
    let named = named.into_iter().filter_map(|(name, key, v)| v.map(|v| (format!("plan.{name}"), key.to_string(), v)));
    let vary = plan.vary.into_iter().map(|(key, v)| ("plan.vary".to_string(), key, v));
    for (at, key, values) in named.chain(vary) {
        dimensions.push(dimension(&loc, &at, key, &values)?);
    }
    let min_replicas = plan.min_replicas.unwrap_or(1);
    let max_replicas = plan.max_replicas.unwrap_or(32);
    if min_replicas == 0 {
        return Err(loc.error("plan.min_replicas", "expected an integer >= 1, got 0", "a pool needs a replica"));
    }
    if max_replicas < min_replicas {
        return Err(loc.error(
            "plan.max_replicas",
            format!("expected at least plan.min_replicas ({min_replicas}), got {max_replicas}: the range is empty"),
            "widen the range, e.g. min_replicas = 1, max_replicas = 16",
        ));
    }
    let replications = plan.replications.unwrap_or(3);
    if replications < 2 {
        return Err(loc.error(
            "plan.replications",
            format!("expected an integer >= 2, got {replications}"),
            "a confidence interval needs at least two replications",
        ));
    }
    let confidence = plan.confidence.unwrap_or(0.95);
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(loc.error(
            "plan.confidence",
            format!("expected a number in (0, 1), got {confidence}"),
            "e.g. 0.95",
        ));
    }
    let margin = plan.margin.unwrap_or(0.0);
    if !(0.0..1.0).contains(&margin) {
        return Err(loc.error(
            "plan.margin",
            format!("expected a fraction in [0, 1), got {margin}"),
            "0.1 asks each SLO's upper bound to stay within 90% of its target",
        ));
    }
    let configs = configs(source, &text, &dimensions, min_replicas, &loc)?;
    Ok(Space {
        source: source.clone(),
        base,
        dimensions,
        configs,
        min_replicas,
        max_replicas,
        replications,
        confidence,
        margin,
        slo,
    })
}

/// One dimension, each value turned into override text.
fn dimension(loc: &Locator, at: &str, key: String, values: &[serde_json::Value]) -> Result<Dimension, ScenarioError> {
    let here = if at == "plan.vary" { format!("plan.vary.\"{key}\"") } else { at.to_string() };
    if values.is_empty() {
        return Err(loc.error(
            at,
            format!("`{here}` lists no values: the search space is empty"),
            "list at least one alternative, or remove the key to keep the scenario's own value",
        ));
    }
    let mut texts = Vec::new();
    let mut written_at = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let Some(text) = override_text(v) else {
            return Err(loc.error(at, format!("`{here}`: expected strings, numbers or booleans, got {v}"), ""));
        };
        texts.push(text);
        written_at.push(if at == "plan.vary" { at.to_string() } else { format!("{at}[{i}]") });
    }
    Ok(Dimension { key, values: texts, written_at })
}

/// Every combination of the dimensions (the last varies fastest), each
/// loaded once at `min_replicas` so its errors surface before any run.
fn configs(
    source: &Source,
    text: &str,
    dimensions: &[Dimension],
    min_replicas: u32,
    loc: &Locator,
) -> Result<Vec<Config>, ScenarioError> {
    let mut picks: Vec<Vec<usize>> = vec![Vec::new()];
    for d in dimensions {
        picks =
            picks.into_iter().flat_map(|p| (0..d.values.len()).map(move |i| [p.clone(), vec![i]].concat())).collect();
    }
    let mut out = Vec::new();
    for pick in picks {
        let sets: Vec<String> =
            dimensions.iter().zip(&pick).map(|(d, &i)| format!("{}={}", d.key, d.values[i])).collect();
        let mut all = sets.clone();
        all.push(format!("replica.count={min_replicas}"));
        let placed = |e: ScenarioError| match &e.origin {
            Origin::Override(raw) => match sets.iter().position(|s| s == raw) {
                Some(d) => {
                    let at = &dimensions[d].written_at[pick[d]];
                    loc.error(at, format!("{raw}: {}", e.message), e.hint.clone().unwrap_or_default())
                }
                None => e,
            },
            _ => e,
        };
        let s = source.from_text(text, &all).map_err(placed)?;
        let Serving::Llm(llm) = &s.serving else {
            return Err(loc.error(
                "plan",
                format!("{}: not LLM serving", sets.join(" ")),
                "plan over LLM-serving keys",
            ));
        };
        out.push(Config { sets, usd_per_replica_hour: llm.price_per_gpu_hour_usd * f64::from(llm.tp) });
    }
    Ok(out)
}
