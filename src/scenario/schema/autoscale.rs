//! A fleet pool's autoscaler (`autoscale = { ... }`) and how its new
//! replicas start (`cold_start = { ... }`).
//!
//! Why the cold start names bandwidths and a weight strategy rather than a
//! duration: the weight download of replicas that start together is a
//! weight-distribution problem (many nodes, one registry), answered by the
//! same model as `servesim distribute`; only the provisioning and the
//! container start are given as durations.

use crate::model::units::Bandwidth;
use crate::model::weight_strategy::Strategy;
use crate::time::SimDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the autoscaler keeps at its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScaleMetric {
    /// Busy fraction of the serving replicas' time (a step in flight) over
    /// the last interval, 0..1.
    Utilization,
    /// Requests waiting (admitted to no batch yet) per serving replica, now.
    QueueDepth,
    /// KV blocks in use / the serving replicas' KV blocks, now, 0..1.
    KvUse,
    /// Requests in flight (waiting or running) per serving replica, averaged
    /// over the last interval: Knative's concurrency target.
    Concurrency,
}

impl ScaleMetric {
    /// Its name in the scenario file and the report.
    pub fn name(self) -> &'static str {
        match self {
            ScaleMetric::Utilization => "utilization",
            ScaleMetric::QueueDepth => "queue_depth",
            ScaleMetric::KvUse => "kv_use",
            ScaleMetric::Concurrency => "concurrency",
        }
    }
}

/// The pool's autoscaler, after Kubernetes' Horizontal Pod Autoscaler.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSection {
    /// Fewest serving replicas (>= 1). Default: the pool's `replicas`.
    pub min_replicas: Option<u32>,
    /// Most replicas: the pool's slots (required).
    pub max_replicas: Option<u32>,
    /// The metric kept at `target`. Default: "utilization".
    pub metric: Option<ScaleMetric>,
    /// Its target value (> 0), e.g. 0.7 for utilization (required).
    pub target: Option<f64>,
    /// How often the autoscaler evaluates. Default: "15s".
    pub interval: Option<SimDuration>,
    /// No change while metric / target is within 1 ± tolerance. Default: 0.1.
    pub tolerance: Option<f64>,
    /// Scale up to the lowest recommendation over this window. Default: "0s".
    pub scale_up_window: Option<SimDuration>,
    /// Scale down to the highest recommendation over this window. Default: "5m".
    pub scale_down_window: Option<SimDuration>,
    /// No scaling this long after the last change. Default: "0s".
    pub cooldown: Option<SimDuration>,
}

/// How a new replica of an autoscaled pool starts (`[fleet.cold_start]`):
/// node provisioning, container start, weight download (the
/// weight-distribution model), weight load; and the warm pools.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColdStartSection {
    /// From the request for a node until it is up. Default: "2m".
    pub provision: Option<SimDuration>,
    /// Pulling and starting the serving container. Default: "30s".
    pub container_start: Option<SimDuration>,
    /// How the weights reach the starting nodes: "fan-out" (registry only:
    /// every node from the registry), "swarm" (peer-to-peer among the
    /// starting nodes), or another `servesim distribute` strategy.
    /// Default: "fan-out".
    #[schemars(with = "String")]
    pub weight_strategy: Option<Strategy>,
    /// The registry's upload, e.g. "100Gbps". Default: "100Gbps".
    #[schemars(with = "String")]
    pub origin_upload: Option<Bandwidth>,
    /// Each node's network bandwidth (up and down). Default: "50Gbps".
    #[schemars(with = "String")]
    pub node_bandwidth: Option<Bandwidth>,
    /// How long a released node's local disk keeps the weights: a replica
    /// started again on its slot within this time skips the download.
    /// Default: "30m".
    pub cache_ttl: Option<SimDuration>,
    /// Idle nodes each autoscaled pool keeps provisioned with the weights
    /// on disk (billed while idle; within its `max_replicas` slots): a
    /// scale-out takes them first and skips provisioning and the download.
    /// Default: 0.
    pub warm_pool: Option<u32>,
}
