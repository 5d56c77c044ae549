//! Stochastic hardware failures: when each GPU, and each failure domain
//! around it, is down over a run, and so when each replica is down.
//!
//! The model is the textbook one, so its outcomes can be checked against
//! theory: every component (a GPU, a node of GPUs, a rack of nodes, a zone
//! of racks) alternates between up and down with exponential times to
//! failure (mean MTBF) and to repair (mean MTTR), independently of every
//! other. A domain failing takes down every GPU inside it at once: that is
//! the correlation a power feed or a top-of-rack switch brings. A TP-k
//! replica needs all of its k GPUs, so it is down whenever any of them or
//! any domain enclosing one of them is down; its down time is the union of
//! theirs.
//!
//! Each component starts in its stationary state (up with probability
//! MTBF / (MTBF + MTTR); by memorylessness the time left in that state is
//! again exponential), so the fleet is in steady state from time zero:
//! the long-run up fraction of a TP-k replica, (MTBF / (MTBF + MTTR))^k
//! without domain failures, holds at every instant, not only in the limit.
//!
//! Cost: O(failures over the horizon) draws per component and a sort and
//! merge per replica; nothing per request.

use crate::time::{SimDuration, SimTime};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A component's exponential failure and repair times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reliability {
    /// Mean time between failures (mean up time).
    pub mtbf: SimDuration,
    /// Mean time to repair (mean down time).
    pub mttr: SimDuration,
}

impl Reliability {
    /// The long-run fraction of time the component is up: MTBF / (MTBF + MTTR).
    pub fn availability(&self) -> f64 {
        let (up, down) = (self.mtbf.as_secs_f64(), self.mttr.as_secs_f64());
        up / (up + down)
    }
}

/// How GPUs nest into failure domains, and how reliable each level is.
/// A level without reliability never fails as a whole.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureModel {
    pub gpu: Reliability,
    /// GPUs per node (8 on a DGX-style host).
    pub gpus_per_node: u32,
    pub nodes_per_rack: u32,
    pub racks_per_zone: u32,
    pub node: Option<Reliability>,
    pub rack: Option<Reliability>,
    pub zone: Option<Reliability>,
}

/// A half-open interval `[from, to)` of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    pub from: SimTime,
    pub to: SimTime,
}

impl Interval {
    pub fn len(&self) -> SimDuration {
        self.to.since(self.from)
    }

    pub fn is_empty(&self) -> bool {
        self.to <= self.from
    }

    pub fn contains(&self, t: SimTime) -> bool {
        self.from <= t && t < self.to
    }
}

/// An exponential draw of mean `mean`, in nanoseconds (at least 1).
fn exponential(rng: &mut ChaCha8Rng, mean: SimDuration) -> SimDuration {
    let u: f64 = rng.random();
    SimDuration::from_secs_f64(-mean.as_secs_f64() * (1.0 - u).ln()).max(SimDuration(1))
}

/// The down intervals of one component over `[0, horizon)`, started in its
/// stationary state: sorted, disjoint, clipped to the horizon.
pub fn down_intervals(r: Reliability, horizon: SimDuration, rng: &mut ChaCha8Rng) -> Vec<Interval> {
    let end = SimTime::ZERO + horizon;
    let mut down = Vec::new();
    let mut t = SimTime::ZERO;
    let mut up = rng.random::<f64>() < r.availability();
    while t < end {
        let stay = exponential(rng, if up { r.mtbf } else { r.mttr });
        let until = if stay.0 >= end.0 - t.0 { end } else { t + stay };
        if !up {
            down.push(Interval { from: t, to: until });
        }
        t = until;
        up = !up;
    }
    down
}

/// The union of interval lists: sorted, disjoint, touching intervals merged.
pub fn union(lists: &[&[Interval]]) -> Vec<Interval> {
    let mut all: Vec<Interval> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    all.sort_unstable();
    let mut merged: Vec<Interval> = Vec::with_capacity(all.len());
    for i in all {
        match merged.last_mut() {
            Some(last) if i.from <= last.to => last.to = last.to.max(i.to),
            _ => merged.push(i),
        }
    }
    merged
}

/// Down intervals of every GPU and every failure domain of a pool of
/// `replicas` TP-`tp` replicas, and of each replica.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolFailures {
    /// Per GPU, in placement order (replica `r` holds GPUs `r*tp .. (r+1)*tp`).
    pub gpus: Vec<Vec<Interval>>,
    /// Per node, per rack and per zone (empty lists where the level never fails).
    pub nodes: Vec<Vec<Interval>>,
    pub racks: Vec<Vec<Interval>>,
    pub zones: Vec<Vec<Interval>>,
    /// Per replica: the union over its GPUs and the domains enclosing them.
    pub replicas: Vec<Vec<Interval>>,
}

impl PoolFailures {
    /// When GPU `gpu` could not work: its own failures and its node's,
    /// rack's and zone's, under `model`'s placement.
    pub fn gpu_down(&self, model: &FailureModel, gpu: usize) -> Vec<Interval> {
        let [node, rack, zone] = model.enclosing(gpu);
        union(&[&self.gpus[gpu], &self.nodes[node], &self.racks[rack], &self.zones[zone]])
    }
}

impl FailureModel {
    /// The node, rack and zone (indices) holding GPU `gpu` of a pool.
    pub fn enclosing(&self, gpu: usize) -> [usize; 3] {
        let node = gpu / self.gpus_per_node.max(1) as usize;
        let rack = node / self.nodes_per_rack.max(1) as usize;
        [node, rack, rack / self.racks_per_zone.max(1) as usize]
    }

    /// Draws the pool's failures over `[0, horizon)`. Replicas are packed
    /// onto consecutive GPUs, nodes into racks, racks into zones; the GPUs
    /// are drawn first, then the nodes, racks and zones, each from `rng`
    /// in index order, so one seed gives one history.
    pub fn generate(&self, replicas: u32, tp: u32, horizon: SimDuration, rng: &mut ChaCha8Rng) -> PoolFailures {
        let gpus_total = replicas as usize * tp as usize;
        let per_node = self.gpus_per_node.max(1) as usize;
        let nodes_total = gpus_total.div_ceil(per_node);
        let racks_total = nodes_total.div_ceil(self.nodes_per_rack.max(1) as usize);
        let zones_total = racks_total.div_ceil(self.racks_per_zone.max(1) as usize);
        let gpus: Vec<_> = (0..gpus_total).map(|_| down_intervals(self.gpu, horizon, rng)).collect();
        let mut level = |r: Option<Reliability>, n: usize| -> Vec<Vec<Interval>> {
            (0..n).map(|_| r.map_or_else(Vec::new, |r| down_intervals(r, horizon, rng))).collect()
        };
        let nodes = level(self.node, nodes_total);
        let racks = level(self.rack, racks_total);
        let zones = level(self.zone, zones_total);
        let replica_down = (0..gpus_total)
            .step_by(tp.max(1) as usize)
            .map(|first| {
                let mut lists: Vec<&[Interval]> = Vec::new();
                for (g, gpu) in gpus.iter().enumerate().skip(first).take(tp as usize) {
                    let [node, rack, zone] = self.enclosing(g);
                    lists.extend([&gpu[..], &nodes[node][..], &racks[rack][..], &zones[zone][..]]);
                }
                union(&lists)
            })
            .collect();
        PoolFailures { gpus, nodes, racks, zones, replicas: replica_down }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn iv(a: u64, b: u64) -> Interval {
        Interval { from: SimTime(a), to: SimTime(b) }
    }

    #[test]
    fn union_merges_overlapping_and_touching_intervals() {
        let a = [iv(0, 5), iv(10, 12)];
        let b = [iv(4, 7), iv(12, 13), iv(20, 21)];
        assert_eq!(union(&[&a, &b]), vec![iv(0, 7), iv(10, 13), iv(20, 21)]);
    }

    #[test]
    fn down_intervals_are_sorted_disjoint_and_inside_the_horizon() {
        let r = Reliability { mtbf: SimDuration::from_secs(100), mttr: SimDuration::from_secs(10) };
        let horizon = SimDuration::from_secs(100_000);
        let down = down_intervals(r, horizon, &mut ChaCha8Rng::seed_from_u64(3));
        assert!(down.len() > 100);
        assert!(down.windows(2).all(|w| w[0].to < w[1].from));
        assert!(down.iter().all(|i| !i.is_empty() && i.to <= SimTime::ZERO + horizon));
    }

    #[test]
    fn a_domain_failure_takes_down_every_replica_inside_it() {
        let never = Reliability { mtbf: SimDuration::from_secs(1_000_000_000), mttr: SimDuration(1) };
        let model = FailureModel {
            gpu: never,
            gpus_per_node: 8,
            nodes_per_rack: 1,
            racks_per_zone: 1,
            node: Some(Reliability { mtbf: SimDuration::from_secs(100), mttr: SimDuration::from_secs(10) }),
            rack: None,
            zone: None,
        };
        let f = model.generate(4, 4, SimDuration::from_secs(10_000), &mut ChaCha8Rng::seed_from_u64(9));
        assert_eq!(f.nodes.len(), 2);
        assert_eq!(f.replicas[0], f.nodes[0]);
        assert_eq!(f.replicas[1], f.nodes[0]);
        assert_eq!(f.replicas[2], f.nodes[1]);
    }
}
