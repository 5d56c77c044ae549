//! The distribution scenario file, as written: strict serde structs
//! (`deny_unknown_fields`), every field optional with its default stated.
//!
//! Why a separate format from serving scenarios: the question is different
//! (how long until every node holds the weights), and so are the nouns
//! (file, chunk, origin, node, rack, region). The top-level `[weights]` table
//! marks a file as a distribution scenario. Meaning checks (zero bandwidth,
//! chunk larger than the file, ...) live in `load.rs`, where each error
//! names its key and line.

use crate::model::units::{Bandwidth, Bytes};
pub use crate::model::weight_strategy::{Strategies, Strategy};
use crate::time::SimDuration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DistributionFile {
    /// Scenario and report-folder name. Default: the file stem.
    pub name: Option<String>,
    /// Master seed. Default: 1.
    pub seed: Option<u64>,
    /// One strategy or several (a comparison table). Default: all five.
    pub strategy: Option<Strategies>,
    /// The file being distributed (required).
    pub weights: Option<WeightsSection>,
    #[serde(default)]
    pub origin: OriginSection,
    #[serde(default)]
    pub nodes: NodesSection,
    #[serde(default)]
    pub topology: TopologySection,
    #[serde(default)]
    pub tree: TreeSection,
    #[serde(default)]
    pub swarm: SwarmSection,
    #[serde(default)]
    pub faults: FaultsSection,
    #[serde(default)]
    pub security: SecuritySection,
    #[serde(default)]
    pub network: NetworkSection,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WeightsSection {
    /// Size of the file (required), e.g. "140GB".
    pub size: Option<Bytes>,
    /// Chunk size, at most `size`. Default: "256MB" (the file size if that is smaller).
    pub chunk: Option<Bytes>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OriginSection {
    /// Origins (each a full copy). Default: 1.
    pub count: Option<u32>,
    /// Upload bandwidth of each origin (required).
    pub upload: Option<Bandwidth>,
    /// Concurrent uploads per origin in a swarm. Default: enough transfers at
    /// a peer's per-slot rate (node upload / `swarm.upload_slots`) to fill
    /// the origin's upload.
    pub upload_slots: Option<u32>,
    /// Region of the origins (index into `topology.regions`). Default: 0.
    pub region: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NodesSection {
    /// Nodes that must receive the file (required, >= 1).
    pub count: Option<u32>,
    /// Upload bandwidth per node (required).
    pub upload: Option<Bandwidth>,
    /// Download bandwidth per node. Default: `upload`.
    pub download: Option<Bandwidth>,
    /// Per-node bandwidth spread: each node's bandwidths are multiplied by a
    /// lognormal factor with mean 1 and this coefficient of variation. Default: 0.
    pub bandwidth_cv: Option<f64>,
    /// Fraction of nodes that are stragglers. Default: 0.
    pub stragglers: Option<f64>,
    /// Bandwidth multiplier of a straggler. Default: 0.25.
    pub straggler_speed: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TopologySection {
    /// Nodes per rack (consecutive ids). Default: all nodes in one rack.
    pub rack_size: Option<u32>,
    /// Capacity of each rack's uplink (and of its downlink). Default: unlimited.
    pub rack_uplink: Option<Bandwidth>,
    /// Region names; racks are split into contiguous blocks, one per region. Default: one region.
    pub regions: Option<Vec<String>>,
    /// Capacity of each region's WAN egress (and ingress). Default: unlimited.
    pub wan: Option<Bandwidth>,
    /// Set-up latency of a transfer that crosses regions. Default: "0s".
    pub wan_latency: Option<SimDuration>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TreeSection {
    /// Children per node (k of the k-ary tree). Default: 2.
    pub fanout: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SwarmSection {
    /// Concurrent uploads per peer. Default: 1.
    pub upload_slots: Option<u32>,
    /// Concurrent downloads per peer (transfers from the origin do not
    /// count against it). Default: enough transfers at a peer's per-slot
    /// rate (node upload / `upload_slots`) to fill the node's download.
    pub download_slots: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FaultsSection {
    /// Nodes that crash mid-transfer, chosen at random. Default: 0.
    pub crashes: Option<u32>,
    /// Crashes happen uniformly between `crash_from` and `crash_until`. Default: "0s".
    pub crash_from: Option<SimDuration>,
    /// Default: "60s".
    pub crash_until: Option<SimDuration>,
    /// Probability that a delivered chunk fails its checksum and is fetched again. Default: 0.
    pub checksum_failure_rate: Option<f64>,
    /// The origins go down at this time (their transfers are lost). Default: never.
    pub origin_down_at: Option<SimDuration>,
    /// ... and come back after this long. Required with `origin_down_at`.
    pub origin_down_for: Option<SimDuration>,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecuritySection {
    /// Cap on each node's egress rate (exfiltration control). Default: none.
    pub egress_cap: Option<Bandwidth>,
    /// Bytes on the wire per payload byte (encryption/framing overhead, >= 1). Default: 1.0.
    pub encryption_overhead: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Fairness {
    /// Max-min fair on the neighbourhood of each change (fast; see `network.rs`).
    #[default]
    Local,
    /// Max-min fair over every flow after every change (slow; for checking).
    Exact,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// How rates are recomputed: "local" (default) or "exact".
    pub fairness: Option<Fairness>,
    /// Full re-solve period of links shared by more than 64 flows. Default: "10ms".
    pub resolve_every: Option<SimDuration>,
}
