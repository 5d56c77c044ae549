//! The `fleet` section of `summary.json`: each pool's own `llm` section,
//! where it runs and what it serves, and what crossing regions cost.
//!
//! Why per pool: pools of a fleet differ in model, GPU and region, so one
//! `llm` section cannot describe them; the top-level `llm` section is kept
//! for a fleet of one pool, where it is exactly the single-pool run's.

use super::llm::LlmSummary;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetSummary {
    /// Requests served in another region than their users' (measured).
    pub cross_region_requests: u64,
    /// Prompt and output bytes of those requests, and their egress price.
    pub egress_bytes: f64,
    pub egress_usd: f64,
    /// In the scenario's order (region by region).
    pub pools: Vec<FleetPoolSummary>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetPoolSummary {
    pub region: String,
    pub model: String,
    /// Requests the global router sent here (over the whole run).
    pub routed: u64,
    pub llm: LlmSummary,
}
