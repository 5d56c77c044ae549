//! The global router: which pool a request goes to, from its users'
//! region and its model.
//!
//! Pools are indexed by model, and for each (users' region, model) the
//! pools serving that model are kept nearest first (by the RTT from the
//! users' region; ties in the scenario's order). A request goes to the
//! first of them below its spillover limit (outstanding requests per
//! replica); when every one is at its limit, to the nearest. Per request
//! that is O(pools of the request's model) at worst and O(1) while the
//! nearest pool has room: never a scan over every pool of the fleet.
//!
//! A region the health checks found down (and whose DNS records have
//! expired) is drained: its pools are passed over while any pool of the
//! model elsewhere is left, until it is re-admitted. A partition found
//! between users' region and a region cuts that pair only: those users'
//! requests pass over that region's pools, everyone else's do not.

use crate::scenario::FleetConfig;

pub(super) struct GlobalRouter {
    models: usize,
    /// By `users' region * models + model`: pool indices, nearest first.
    candidates: Vec<Vec<u32>>,
    /// Per pool: the outstanding requests at which it spills over.
    limit: Vec<u64>,
    /// Outstanding requests per replica before a pool spills over.
    spill: f64,
    /// Per pool: its region.
    region: Vec<usize>,
    /// Per region: the failures that drained it and have not re-admitted it.
    drained: Vec<u32>,
    /// By `users' region * regions + region`: the partitions found between
    /// them and not yet healed.
    cut: Vec<u32>,
}

impl GlobalRouter {
    pub(super) fn new(fleet: &FleetConfig) -> Self {
        let models = fleet.models.len();
        let mut candidates = Vec::with_capacity(fleet.regions.len() * models);
        for from in 0..fleet.regions.len() {
            for model in 0..models {
                let mut pools: Vec<u32> =
                    (0..fleet.pools.len() as u32).filter(|&p| fleet.pools[p as usize].model == model).collect();
                // A stable sort keeps the scenario's order among equals.
                pools.sort_by_key(|&p| fleet.rtt[from][fleet.pools[p as usize].region]);
                candidates.push(pools);
            }
        }
        let spill = fleet.spillover_outstanding_per_replica;
        let limit = fleet.pools.iter().map(|p| (spill * f64::from(p.llm.replicas)).ceil() as u64).collect();
        let region = fleet.pools.iter().map(|p| p.region).collect();
        let regions = fleet.regions.len();
        GlobalRouter {
            models,
            candidates,
            limit,
            spill,
            region,
            drained: vec![0; regions],
            cut: vec![0; regions * regions],
        }
    }

    /// Pool `pool` serves with `replicas` replicas now (its autoscaler
    /// changed it): its spillover limit follows.
    pub(super) fn resize(&mut self, pool: u32, replicas: u32) {
        self.limit[pool as usize] = (self.spill * f64::from(replicas)).ceil() as u64;
    }

    /// Traffic leaves `region` (a failure was detected there).
    pub(super) fn drain(&mut self, region: usize) {
        self.drained[region] += 1;
    }

    /// Traffic may return to `region` (its failure was seen to end).
    pub(super) fn readmit(&mut self, region: usize) {
        self.drained[region] -= 1;
    }

    /// Users near `users` stop (`cut`) or resume sending to `region`.
    pub(super) fn partition(&mut self, users: usize, region: usize, cut: bool) {
        let pair = &mut self.cut[users * self.drained.len() + region];
        match cut {
            true => *pair += 1,
            false => *pair -= 1,
        }
    }

    /// The pool for a request of `model` from users near `region`, given
    /// each pool's outstanding requests: the nearest undrained one below
    /// its limit, else the nearest undrained one, else the nearest; `None`
    /// when no pool serves it.
    pub(super) fn route(&self, region: usize, model: usize, outstanding: impl Fn(u32) -> u64) -> Option<u32> {
        let pools = &self.candidates[region * self.models + model];
        let regions = self.drained.len();
        let up = |p: u32| {
            let at = self.region[p as usize];
            self.drained[at] == 0 && self.cut[region * regions + at] == 0
        };
        pools
            .iter()
            .copied()
            .find(|&p| up(p) && outstanding(p) < self.limit[p as usize])
            .or_else(|| pools.iter().copied().find(|&p| up(p)))
            .or_else(|| pools.first().copied())
    }
}
