//! The fleet's sections: `[[regions]]` with their `[[regions.pools]]`,
//! `[[rtt]]` between regions, `[[populations]]` of users, and `[fleet]`'s
//! global-router settings, and `[[failures]]` that strike it. A fleet replaces `[replica]` and `[workload]`'s
//! arrivals: each pool is a replica pool as `[replica]` describes one (the
//! shared `[batching]`, `[engine]`, `[kv]` and `[slo]` apply to every
//! pool), and each population brings its own arrivals and sizes.

use super::workload::WorkloadSection;
use crate::core::llm::RouterPolicy;
use crate::time::SimDuration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The global router's settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    /// Spill a request to the next-nearest region serving its model once
    /// the nearest pool holds this many outstanding requests per replica.
    /// Default: 64.
    pub spillover_outstanding_per_replica: Option<f64>,
    /// Bytes one token takes on the wire (prompt in, output out), for the
    /// egress of requests served in another region than their users'.
    /// Default: 4.
    pub bytes_per_token: Option<f64>,
    /// How often the global router's health checks probe each region: a
    /// failed region is seen down at most this long after it fails.
    /// Default: "10s".
    pub health_check_interval: Option<SimDuration>,
    /// The DNS/GSLB record's time to live: clients keep resolving to a
    /// region this long after the router stops announcing it. Default: "30s".
    pub dns_ttl: Option<SimDuration>,
    /// Nodes of 8 GPUs per rack, for `rack_loss` and the failure domains
    /// of pools with `mtbf`. Default: 4.
    pub nodes_per_rack: Option<u32>,
    /// The width of the windows the report judges SLO attainment over:
    /// each window's answers (by when they reached their users) are
    /// counted within SLO or not. Default: "1m".
    pub slo_window: Option<SimDuration>,
    /// The fraction of a window's answers that must be within SLO for the
    /// window to meet it. Default: 0.99 (the `[slo]` targets are p99s).
    pub slo_target: Option<f64>,
    /// How new replicas of autoscaled pools start, and their warm pools.
    pub cold_start: Option<super::ColdStartSection>,
    /// Run every autoscaled pool fixed at its `max_replicas` (static peak
    /// provisioning), to compare with autoscaling. Default: false.
    pub static_peak: Option<bool>,
    /// Folder holding `gpus/` and `models/`, relative to the scenario file.
    /// Default: `../profiles` from the scenario's folder, else `./profiles`.
    pub profiles: Option<PathBuf>,
    /// Mean time between failures of a whole node of 8 GPUs (host, NIC,
    /// power supply), with `node_mttr`, in pools with `mtbf`: a node
    /// failing takes down every replica with a GPU on it. Default: nodes
    /// fail only through their GPUs.
    pub node_mtbf: Option<SimDuration>,
    pub node_mttr: Option<SimDuration>,
    /// The same for a rack (top-of-rack switch, power feed), with `rack_mttr`.
    pub rack_mtbf: Option<SimDuration>,
    pub rack_mttr: Option<SimDuration>,
    /// How a run with random failures is simulated. Default: "request-level".
    pub method: Option<FleetMethod>,
    /// `method = "performability"`: how long each capacity level's
    /// request-level run lasts after `run.warmup`. Default: "60s".
    pub level_run: Option<SimDuration>,
}

/// How a fleet run is simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FleetMethod {
    /// Every request over the whole run, failures as they come.
    RequestLevel,
    /// Failures drawn over the whole run, requests simulated only for a
    /// short run at each number of replicas up that the failures reach:
    /// for horizons (a month) too long to simulate request by request.
    Performability,
}

/// A region: where pools run, what its GPUs and its egress cost.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionSection {
    /// Unique name, e.g. "us-east".
    pub name: String,
    /// Multiplies each GPU profile's $ per GPU-hour here. Default: 1.
    pub gpu_price_multiplier: Option<f64>,
    /// $ per GB leaving this region: charged for requests it serves for
    /// users of another region. Default: 0.
    pub egress_usd_per_gb: Option<f64>,
    /// The pools of replicas in this region.
    #[serde(default)]
    pub pools: Vec<PoolSection>,
}

/// A pool of identical replicas of one model (as `[replica]` describes one).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolSection {
    /// Model profile name (a file in `profiles/models/`); requests name it.
    pub model: String,
    /// GPU profile name (a file in `profiles/gpus/`).
    pub gpu: String,
    /// Tensor-parallel degree: GPUs per replica. Default: 1.
    pub tp: Option<u32>,
    /// Number of replicas. Default: 1.
    pub replicas: Option<u32>,
    /// How the pool's requests pick a replica. Default: "round-robin".
    pub routing: Option<RouterPolicy>,
    /// Fraction of GPU memory kept for activations. Default: 0.1.
    pub activation_reserve: Option<f64>,
    /// Most requests waiting per replica; overflow is `overloaded`. Default: unbounded.
    pub queue_capacity: Option<u64>,
    /// The SLO targets of this pool's requests, replacing `[slo]` (each
    /// model its own: a chat model's TTFT, a batch model's end-to-end).
    /// Default: the scenario's `[slo]`.
    pub slo: Option<super::llm::SloSection>,
    /// Mean time between failures of each GPU (with `mttr`): a replica is
    /// down while any of its GPUs is. Default: GPUs never fail.
    pub mtbf: Option<SimDuration>,
    /// Mean time to repair a failed GPU (with `mtbf`).
    pub mttr: Option<SimDuration>,
    /// Scale the pool between `min_replicas` and `max_replicas` (then
    /// `replicas` is the count it starts with). Default: a fixed pool.
    pub autoscale: Option<super::AutoscaleSection>,
}

/// What a scheduled failure takes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Every pool of `region`, from `from` to `to`.
    RegionOutage,
    /// `count` replicas of `pool` at `at`, repaired `repair_after` later.
    ReplicaLoss,
    /// Rack number `rack` of `pool` (every replica with a GPU in it) at
    /// `at`, repaired `repair_after` later.
    RackLoss,
    /// From `from` to `to`, users near `users` cannot reach `region`: their
    /// requests sent there fail until the global router sees it (health
    /// check + DNS TTL) and sends them elsewhere.
    Partition,
    /// From `from` to `to`, `pool` runs a bad release: its steps take
    /// `slowdown` times as long, and it answers a fraction `error_rate` of
    /// the requests reaching it `failed`. No health check catches it.
    BadRollout,
    /// From `from` to `to`, a fraction `fraction` of `pool`'s replicas
    /// (its first ones) run `slowdown` times slower.
    Stragglers,
}

impl FailureKind {
    /// Its name in the scenario file.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::RegionOutage => "region_outage",
            FailureKind::ReplicaLoss => "replica_loss",
            FailureKind::RackLoss => "rack_loss",
            FailureKind::Partition => "partition",
            FailureKind::BadRollout => "bad_rollout",
            FailureKind::Stragglers => "stragglers",
        }
    }
}

/// A scheduled failure.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailureSection {
    pub kind: FailureKind,
    /// `region_outage`: the region lost; `partition`: the region its
    /// `users` cannot reach.
    pub region: Option<String>,
    /// `partition`: the region whose users are cut off from `region`.
    pub users: Option<String>,
    /// `replica_loss`, `rack_loss`, `bad_rollout`, `stragglers`: the pool,
    /// as "region/model", e.g. "us-east/llama-3-70b".
    pub pool: Option<String>,
    /// `region_outage`, `partition`, `bad_rollout`, `stragglers`: when it
    /// starts and ends (times into the run).
    pub from: Option<SimDuration>,
    pub to: Option<SimDuration>,
    /// `replica_loss`, `rack_loss`: when the replicas fail, and how long
    /// until they are repaired.
    pub at: Option<SimDuration>,
    pub repair_after: Option<SimDuration>,
    /// `replica_loss`: how many replicas (the pool's first ones).
    pub count: Option<u32>,
    /// `rack_loss`: which of the pool's racks (from 0; replicas are packed
    /// onto consecutive GPUs, 8 to a node, `[fleet] nodes_per_rack` nodes to
    /// a rack).
    pub rack: Option<u32>,
    /// `bad_rollout`, `stragglers`: how many times longer each step takes,
    /// > 0. Default: 1 for `bad_rollout`; required for `stragglers`.
    pub slowdown: Option<f64>,
    /// `bad_rollout`: the fraction of requests reaching the pool answered
    /// `failed`, in [0, 1]. Default: 0.
    pub error_rate: Option<f64>,
    /// `stragglers`: the fraction of the pool's replicas that are slow, in
    /// (0, 1] (rounded up to whole replicas).
    pub fraction: Option<f64>,
}

/// The round-trip time between two regions (both directions).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RttSection {
    /// The two regions, e.g. ["us-east", "eu-west"].
    pub between: [String; 2],
    /// Their round-trip time, e.g. "80ms". Users of a region reach a pool
    /// in another region over this RTT; within a region it is 0.
    pub rtt: SimDuration,
}

/// Users: where they are, what they ask for, and when.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PopulationSection {
    /// Unique name (also names its random streams).
    pub name: String,
    /// Share of the population's requests from users near each region:
    /// `{ "us-east" = 0.7, "eu-west" = 0.3 }` (normalized).
    pub regions: BTreeMap<String, f64>,
    /// Share of its requests for each model: `{ "llama-3-8b" = 1 }` (normalized).
    pub models: BTreeMap<String, f64>,
    /// Its arrivals and sizes, as `[workload]` writes them (poisson,
    /// deterministic or gamma with a schedule, or a trace).
    pub workload: WorkloadSection,
    /// With `[[tenants]]` (a front door before the fleet): the tenant its
    /// users are. Default: the only tenant; required with several.
    pub tenant: Option<String>,
}
