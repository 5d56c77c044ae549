//! The `fleet` section of `summary.json`: each pool's own `llm` section,
//! where it runs and what it serves, and what crossing regions cost.
//!
//! Why per pool: pools of a fleet differ in model, GPU and region, so one
//! `llm` section cannot describe them; the top-level `llm` section is kept
//! for a fleet of one pool, where it is exactly the single-pool run's.
//! Fleet-wide and per-region/per-model figures, and SLO attainment over
//! time, come from [`super::fleet_breakdown`] and [`super::fleet_windows`].

use super::fleet_breakdown::FleetGroupSummary;
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
    /// The measured requests of the whole fleet, then broken down by the
    /// region serving them, their users' region and their model
    /// (`fleet_breakdown.rs`): availability, outcomes, latency, cost.
    pub total: FleetGroupSummary,
    pub by_region: Vec<FleetGroupSummary>,
    pub by_users_region: Vec<FleetGroupSummary>,
    pub by_model: Vec<FleetGroupSummary>,
    /// SLO attainment per window (`fleet_windows.rs`).
    pub slo_windows: SloWindowsSummary,
    /// Replica failures drawn from pools' `mtbf` over the run.
    #[serde(skip_serializing_if = "is_zero")]
    pub replica_failures: u64,
    /// Each scheduled failure, in the scenario's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub incidents: Vec<IncidentSummary>,
    /// A performability run (`[fleet] method`): the random failures over
    /// the whole run and what they cost; the other sections describe the
    /// fleet at full strength over one level run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performability: Option<super::performability::PerformabilitySummary>,
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
    /// `region_outage`, `replica_loss`, `rack_loss`, `partition`,
    /// `bad_rollout` or `stragglers`.
    pub kind: String,
    pub region: String,
    /// A partition: the region whose users could not reach `region`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<String>,
    /// The pool, "region/model", for a failure inside one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// When it started and ended (s into the run).
    pub from_s: f64,
    pub to_s: f64,
    /// Replicas it took down.
    pub replicas: u64,
    /// A region outage or a partition: from its start until the router
    /// moved traffic away.
    pub time_to_detect_s: Option<f64>,
    /// A region outage or a partition: the last request routed into the
    /// region (from the cut-off users) while it lasted.
    pub last_routed_in_s: Option<f64>,
    /// Requests answered `failed` by its pools (its region's, for an outage)
    /// while it was under way (an outage: until traffic was back).
    pub failed: u64,
    /// Measured requests answered while it was under way, and the share
    /// of them within SLO (`None` without answers).
    pub answered: u64,
    pub slo_attainment: Option<f64>,
    /// The start of the first SLO window from its end on that met the
    /// target, and how long after its end that was (`None`: never).
    pub recovered_at_s: Option<f64>,
    pub time_to_recover_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetPoolSummary {
    pub region: String,
    pub model: String,
    /// Requests the global router sent here (over the whole run).
    pub routed: u64,
    pub llm: LlmSummary,
}

/// The `fleet.slo_windows` section.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloWindowsSummary {
    /// The windows' width (`[fleet] slo_window`, doubled if merged).
    pub window_s: f64,
    /// The share of a window's answers within SLO that meets the SLO.
    pub target: f64,
    /// Windows holding at least one answer, and those meeting the target.
    pub windows: u64,
    pub met: u64,
    /// met / windows (0 without windows).
    pub met_fraction: f64,
    /// The lowest attainment of a window with answers (1 without windows).
    pub min_attainment: f64,
}
