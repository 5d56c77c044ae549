//! The `[check]` table: SLO assertions a CI job evaluates with `servesim
//! check`. `servesim run` ignores it; the syntax and its meaning are parsed
//! by the checker (`plan::check`), so that a bad assertion is an error of
//! `check`, not of every command that loads the scenario.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One `[check]` entry, keyed by a metric: a friendly name (`ttft_p99`,
/// `goodput_fraction`, `usd_per_million_output_tokens`) or a `summary.json`
/// path (`llm.cost.usd`; dotted keys nest, so `llm.slo_met = true` works).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum CheckValue {
    /// A boolean metric must equal this, e.g. `"invariants.all_hold" = true`.
    Flag(bool),
    /// Refused with a hint: write the comparison, e.g. `">= 0.99"`.
    Number(f64),
    /// A comparison: `"<= 2s"`, `">= 0.99"`, `"< 95%"`, `"== true"`
    /// (operators <=, <, >=, >, ==, !=; durations compare with `_s` metrics).
    Assertion(String),
    /// Assertions under a dotted prefix (`[check.llm]`, `llm.slo_met = true`).
    Table(BTreeMap<String, CheckValue>),
}

/// `[check]`: metric = assertion, evaluated by `servesim check`.
pub type CheckSection = BTreeMap<String, CheckValue>;
