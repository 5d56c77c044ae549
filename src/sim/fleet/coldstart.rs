//! How long a new replica takes to serve: provisioning, container start,
//! weight download, weight load.
//!
//! Why the download comes from the weight-distribution model: replicas
//! that start together fetch the same checkpoint at once, so they share
//! the registry's upload (registry-only, `fan-out`) or each other's
//! (peer-to-peer, `swarm`), and one replica's download time depends on
//! how many start with it. Each batch is the distribution scenario
//! [`distribution`] describes (the starting nodes, the model's
//! weight bytes, the pool's strategy, registry and node bandwidths), run by
//! the same code as `servesim distribute`. What is not modeled: nodes
//! already serving do not seed the swarm, and batches started at
//! different times do not share the registry (each is its own scenario).
//!
//! A batch's times depend only on its size, so they are computed once per
//! (pool, nodes) and reused.

use crate::distribute::config::{DistributionFile, NodesSection, OriginSection, Strategies, WeightsSection};
use crate::distribute::{self, Plan};
use crate::model::units::Bytes;
use crate::scenario::ColdStart;
use crate::time::SimDuration;
use std::collections::BTreeMap;
use std::path::Path;

/// The distribution scenario of `nodes` nodes fetching `c`'s weights at
/// once: the file `servesim distribute` would run for them.
fn distribution(c: &ColdStart, nodes: u32) -> DistributionFile {
    DistributionFile {
        strategy: Some(Strategies(vec![c.strategy])),
        weights: Some(WeightsSection { size: Some(Bytes(c.weight_bytes)), chunk: None }),
        origin: OriginSection { upload: Some(c.origin_upload), ..OriginSection::default() },
        nodes: NodesSection { count: Some(nodes), upload: Some(c.node_bandwidth), ..NodesSection::default() },
        ..DistributionFile::default()
    }
}

/// [`distribution`]'s plan, as `servesim distribute` loads it.
fn plan(c: &ColdStart, nodes: u32) -> Plan {
    let text = toml::to_string(&distribution(c, nodes)).expect("a distribution file serializes");
    // The resolver checked every value the distribution loader checks.
    distribute::load::from_text(&text, Path::new("cold-start.toml"), &[])
        .expect("a resolved cold start is a valid distribution")
}

/// The parts of one replica's start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct StartTimes {
    pub(super) provision: SimDuration,
    pub(super) container: SimDuration,
    pub(super) download: SimDuration,
    pub(super) load: SimDuration,
    /// Nodes in its download's batch (0 without a download).
    pub(super) batch: u32,
}

impl StartTimes {
    pub(super) fn total(&self) -> SimDuration {
        self.provision + self.container + self.download + self.load
    }
}

/// Download times per batch size, per autoscaled pool.
#[derive(Default)]
pub(super) struct ColdStarts {
    downloads: BTreeMap<(usize, u32), Vec<SimDuration>>,
}

impl ColdStarts {
    /// Each node's download when `nodes` nodes of pool `scaler` fetch the
    /// weights together, in node order.
    pub(super) fn downloads(&mut self, scaler: usize, c: &ColdStart, nodes: u32) -> &[SimDuration] {
        self.downloads.entry((scaler, nodes)).or_insert_with(|| {
            distribute::node_completion_s(&plan(c, nodes), c.strategy)
                .into_iter()
                // A distribution without faults delivers to every node.
                .map(|done| SimDuration::from_secs_f64(done.expect("no faults: every node completes")))
                .collect()
        })
    }
}

/// A node provisioned now that downloads with `batch` nodes in `download`.
pub(super) fn cold(c: &ColdStart, download: SimDuration, batch: u32) -> StartTimes {
    StartTimes { provision: c.provision, container: c.container_start, download, load: c.load, batch }
}

/// A node provisioned now whose disk still holds the weights.
pub(super) fn cached(c: &ColdStart) -> StartTimes {
    StartTimes {
        provision: c.provision,
        container: c.container_start,
        download: SimDuration::ZERO,
        load: c.load,
        batch: 0,
    }
}

/// A warm node: provisioned, the weights on disk; the container starts and loads them.
pub(super) fn warm(c: &ColdStart) -> StartTimes {
    StartTimes {
        provision: SimDuration::ZERO,
        container: c.container_start,
        download: SimDuration::ZERO,
        load: c.load,
        batch: 0,
    }
}
