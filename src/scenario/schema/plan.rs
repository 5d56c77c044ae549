//! `[plan]`: the search space of `servesim plan`. `servesim run` ignores it,
//! so a planning scenario is also an ordinary scenario (its own `[replica]`
//! is one point of the space).
//!
//! Why "a key and its alternatives": every dimension of the search is a
//! scenario key applied as a `--set` override, so anything a scenario can
//! say can be planned over, and every point reproduces with `servesim run
//! --set ...`. The common dimensions have their own names (`gpus`, `tp`,
//! `policies`, `engines`); `vary` takes any other key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PlanSection {
    /// GPU profiles to try (`replica.gpu`), e.g. ["h100-sxm", "h200"].
    /// Default: the scenario's own.
    pub gpus: Option<Vec<String>>,
    /// Tensor-parallel degrees to try (`replica.tp`), e.g. [2, 4, 8].
    /// Default: the scenario's own.
    pub tp: Option<Vec<u32>>,
    /// Batching policies to try (`batching.policy`). Default: the scenario's own.
    pub policies: Option<Vec<String>>,
    /// Serving engines to try (`engine.kind`). Default: the scenario's own.
    pub engines: Option<Vec<String>>,
    /// Any other scenario keys, each with its alternatives, e.g.
    /// `vary = { "replica.routing" = ["round-robin", "least-outstanding"] }`.
    /// Every combination of every dimension is one configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vary: BTreeMap<String, Vec<serde_json::Value>>,
    /// Fewest replicas searched. Default: 1.
    pub min_replicas: Option<u32>,
    /// Most replicas searched; a configuration that misses an SLO even
    /// with this many is reported as infeasible. Default: 32.
    pub max_replicas: Option<u32>,
    /// Independent replications of each evaluated point (at least 2: the
    /// SLO verdict uses their confidence interval). Default: 3.
    pub replications: Option<u32>,
    /// Confidence of the interval whose upper end must meet each SLO,
    /// in (0, 1). Default: 0.95.
    pub confidence: Option<f64>,
    /// Safety margin: the upper confidence bound must be within
    /// target x (1 − margin), in [0, 1). Default: 0.
    pub margin: Option<f64>,
}
