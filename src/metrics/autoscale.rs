//! The `fleet.autoscaling` section of `summary.json`: what the autoscalers
//! decided, how long each replica took to start, and what each autoscaled
//! pool's GPUs cost while provisioned.
//!
//! Why the cold start is broken down: its parts have different fixes
//! (provisioning: warm pools; the download: a peer-to-peer strategy or a
//! node-local cache; the load: faster host-to-GPU copies), and a planner
//! must see which one dominates.

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct AutoscaleSummary {
    /// Every change of a pool's replica count, in time order.
    pub decisions: Vec<ScaleDecision>,
    /// Every replica started during the run, in order of start.
    pub cold_starts: Vec<ColdStartSummary>,
    /// Per autoscaled pool, in the scenario's order.
    pub pools: Vec<AutoscalePoolSummary>,
}

/// One autoscaler decision.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScaleDecision {
    /// When (s into the run).
    pub t_s: f64,
    /// "region/model".
    pub pool: String,
    /// Replicas serving or starting, before and after.
    pub from: u32,
    pub to: u32,
    /// The metric's name and its value at the evaluation.
    pub metric: String,
    pub value: f64,
    /// Its recommendation before the stabilization windows and bounds.
    pub recommended: u32,
}

/// How one replica started.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ColdStartSummary {
    /// "region/model" and the replica's slot in it.
    pub pool: String,
    pub replica: u32,
    /// "cold" (provisioned, downloaded), "cached" (the node's disk still
    /// held the weights), "warm" (from the warm pool) or "warm_refill" (a
    /// node provisioned into the warm pool).
    pub kind: String,
    /// When it was asked for, and when it could serve (s into the run; a
    /// start ready only after arrivals stopped never served).
    pub start_s: f64,
    pub ready_s: f64,
    /// Its parts: ready_s - start_s = provision + container + download + load.
    pub provision_s: f64,
    pub container_s: f64,
    pub download_s: f64,
    pub load_s: f64,
    /// Nodes that fetched the weights together with it (the download's
    /// distribution scenario), and its strategy; 0 and "" without a download.
    pub download_nodes: u32,
    pub weight_strategy: String,
    /// A scale-in called the start off before it was ready (its node was
    /// released; it never served).
    pub cancelled: bool,
}

/// An autoscaled pool's capacity and bill.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AutoscalePoolSummary {
    pub pool: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Most replicas serving at once.
    pub peak_replicas: u32,
    /// Replicas serving at the end of the run.
    pub final_replicas: u32,
    /// GPU-hours billed over the measured interval: every node from its
    /// provisioning start until released (starting, warm, serving,
    /// draining), and their price.
    pub gpu_hours: f64,
    pub usd: f64,
    /// GPU-hours a fixed pool of max_replicas would have billed.
    pub static_peak_gpu_hours: f64,
}
