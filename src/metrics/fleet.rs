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
    /// Replica failures drawn from pools' `mtbf` over the run.
    #[serde(skip_serializing_if = "is_zero")]
    pub replica_failures: u64,
    /// Each scheduled failure, in the scenario's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<IncidentSummary>,
    /// The autoscalers' decisions, cold starts and bills (with an autoscaled pool).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<super::autoscale::AutoscaleSummary>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A scheduled failure and what it cost.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncidentSummary {
    /// `region_outage`, `replica_loss` or `rack_loss`.
    pub kind: String,
    pub region: String,
    /// The pool, "region/model", for a loss inside one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// When it started and ended (s into the run).
    pub from_s: f64,
    pub to_s: f64,
    /// Replicas it took down.
    pub replicas: u64,
    /// A region outage: from its start until the router moved traffic away.
    pub time_to_detect_s: Option<f64>,
    /// A region outage: the last request routed into the region while down.
    pub last_routed_in_s: Option<f64>,
    /// Requests answered `failed` by its pools (its region's, for an outage)
    /// while it was under way (an outage: until traffic was back).
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetPoolSummary {
    pub region: String,
    pub model: String,
    /// Requests the global router sent here (over the whole run).
    pub routed: u64,
    pub llm: LlmSummary,
}
