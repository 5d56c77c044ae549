//! Failures in a fleet run: when replicas go down and come back, when the
//! global router sees a region lost and found again, and what each
//! scheduled failure cost.
//!
//! Why detection is separate from the failure: a region's load balancers
//! learn it is down from health checks, and clients keep resolving its
//! DNS/GSLB records until their TTL runs out, so traffic keeps flowing into
//! a dead region for a health-check interval plus the TTL (the worst case:
//! a check just missed the failure). Requests sent there in that gap fail
//! at the dead pools. The same delay applies when it comes back. A loss
//! inside a pool (replicas, a rack) is the pool's own business: its load
//! balancer routes around the dead replicas (the core's `ReplicaFailed`),
//! and the global router does not move traffic.
//!
//! A partition is an outage for one pair only: users near one region
//! cannot reach another (their connections fail at once), until the same
//! detection delay has passed and the router sends them elsewhere. A bad
//! rollout and stragglers take nothing down, so no health check sees them:
//! the pool's steps run slower (a factor per replica, recomputed from the
//! failures under way when one starts or ends) and a bad rollout answers
//! a fraction of the requests reaching the pool `failed`.
//!
//! Events: four per scheduled failure (start, end, detected, re-admitted;
//! only those before the run's end), two per drawn GPU failure interval of
//! a pool with `mtbf` (from `failure.rs`'s generator, one stream per
//! pool); nothing per request but an O(1) routing note and, per failed
//! answer, a pass over the scheduled failures.

use crate::engine::RngStreams;
use crate::metrics::fleet::IncidentSummary;
use crate::model::failure::PoolFailures;
use crate::scenario::schema::FailureKind;
use crate::scenario::{Failure, FleetConfig};
use crate::time::SimTime;

/// A failure event on the fleet's clock.
#[derive(Debug, Clone, Copy)]
pub(super) enum FailureEvent {
    /// Scheduled failure `failure` takes its replicas down.
    Start {
        failure: u32,
    },
    /// Its replicas are back.
    End {
        failure: u32,
    },
    /// A region outage: the router drains the region.
    Detected {
        failure: u32,
    },
    /// A region outage over: the router re-admits the region.
    Readmitted {
        failure: u32,
    },
    /// A drawn GPU failure takes `replica` of `pool` down, or it is repaired.
    ReplicaDown {
        pool: u32,
        replica: u32,
    },
    ReplicaUp {
        pool: u32,
        replica: u32,
    },
}

/// What one scheduled failure cost, as the run went.
#[derive(Debug, Clone, Copy, Default)]
struct Log {
    /// When the router drained the region.
    detected: Option<SimTime>,
    /// The last request routed into the region while it was down.
    last_routed_in: Option<SimTime>,
    failed: u64,
}

pub(super) struct Failures<'a> {
    fleet: &'a FleetConfig,
    logs: Vec<Log>,
    /// Per scheduled failure: whether it is under way.
    under_way: Vec<bool>,
    /// The partitions under way (few: a pass per request crossing regions).
    partitions: Vec<usize>,
    /// Per region: the region outage under way, if any.
    outage: Vec<Option<usize>>,
    /// Replica failures drawn from pools' `mtbf`.
    pub(super) drawn: u64,
}

/// Pool `pool`'s random failures over `[0, stop)`, if it fails at random:
/// one stream per pool, so a pool's history is the same whatever the
/// others do and however the run is simulated.
pub(super) fn drawn(fleet: &FleetConfig, pool: usize, streams: &RngStreams, stop: SimTime) -> Option<PoolFailures> {
    let p = &fleet.pools[pool];
    let model = p.failures?;
    let mut rng = streams.stream(&format!("pools/{pool}/failures"));
    Some(model.generate(p.llm.replicas, p.llm.tp, stop.since(SimTime::ZERO), &mut rng))
}

impl<'a> Failures<'a> {
    /// Hands every failure event before `stop` (the run's end) to `schedule`.
    pub(super) fn new(
        fleet: &'a FleetConfig,
        streams: &RngStreams,
        stop: Option<SimTime>,
        mut schedule: impl FnMut(SimTime, FailureEvent),
    ) -> Self {
        let mut at = |t: SimTime, e: FailureEvent| {
            if stop.is_none_or(|s| t < s) {
                schedule(t, e);
            }
        };
        for (k, f) in fleet.failures.iter().enumerate() {
            let failure = k as u32;
            let (from, to) = (SimTime::ZERO + f.from, SimTime::ZERO + f.to);
            at(from, FailureEvent::Start { failure });
            at(to, FailureEvent::End { failure });
            if matches!(f.kind, FailureKind::RegionOutage | FailureKind::Partition) {
                at(from + fleet.detection, FailureEvent::Detected { failure });
                at(to + fleet.detection, FailureEvent::Readmitted { failure });
            }
        }
        // The resolver gives pools with an MTBF a run of known length.
        if let Some(stop) = stop {
            for i in 0..fleet.pools.len() {
                let Some(drawn) = drawn(fleet, i, streams, stop) else { continue };
                for (r, down) in drawn.replicas.iter().enumerate() {
                    let (pool, replica) = (i as u32, r as u32);
                    for d in down {
                        at(d.from, FailureEvent::ReplicaDown { pool, replica });
                        at(d.to, FailureEvent::ReplicaUp { pool, replica });
                    }
                }
            }
        }
        Failures {
            fleet,
            logs: vec![Log::default(); fleet.failures.len()],
            under_way: vec![false; fleet.failures.len()],
            partitions: Vec::new(),
            outage: vec![None; fleet.regions.len()],
            drawn: 0,
        }
    }

    pub(super) fn failure(&self, k: u32) -> &'a Failure {
        &self.fleet.failures[k as usize]
    }

    /// Scheduled failure `k` starts (`under_way`) or ends now.
    pub(super) fn mark(&mut self, k: u32, under_way: bool) {
        self.under_way[k as usize] = under_way;
        if self.fleet.failures[k as usize].kind == FailureKind::Partition {
            self.partitions.retain(|&p| p != k as usize);
            if under_way {
                self.partitions.push(k as usize);
            }
        }
    }

    /// Whether a partition under way keeps users near `users` from
    /// reaching `region`; it counts the request sent into it now.
    pub(super) fn cut_off(&mut self, users: usize, region: usize, now: SimTime) -> bool {
        let fleet = self.fleet;
        let hit = self.partitions.iter().copied().find(|&k| {
            let f = &fleet.failures[k];
            f.users == Some(users) && f.region == region
        });
        if let Some(k) = hit {
            self.logs[k].last_routed_in = Some(now);
            self.logs[k].failed += 1;
        }
        hit.is_some()
    }

    /// Pool `pool`'s step-time factor per replica and error rate, from the
    /// bad rollouts and stragglers under way.
    pub(super) fn degraded(&self, pool: usize, replicas: u32) -> (Vec<f64>, f64) {
        let mut slowdown = vec![1.0; replicas as usize];
        let mut ok = 1.0;
        for (f, _) in self.fleet.failures.iter().zip(&self.under_way).filter(|(f, on)| **on && f.pool == Some(pool)) {
            match f.kind {
                FailureKind::BadRollout => {
                    slowdown.iter_mut().for_each(|s| *s *= f.slowdown);
                    ok *= 1.0 - f.error_rate;
                }
                FailureKind::Stragglers => f.replicas.iter().for_each(|&(_, r)| slowdown[r as usize] *= f.slowdown),
                _ => {}
            }
        }
        (slowdown, 1.0 - ok)
    }

    /// A region outage starts or ends now.
    pub(super) fn outage(&mut self, k: u32, under_way: bool) {
        let region = self.fleet.failures[k as usize].region;
        match under_way {
            true => self.outage[region] = Some(k as usize),
            false if self.outage[region] == Some(k as usize) => self.outage[region] = None,
            false => {}
        }
    }

    pub(super) fn detected(&mut self, k: u32, now: SimTime) {
        self.logs[k as usize].detected = Some(now);
    }

    /// A request was routed into `region` now.
    pub(super) fn routed(&mut self, region: usize, now: SimTime) {
        if let Some(k) = self.outage[region] {
            self.logs[k].last_routed_in = Some(now);
        }
    }

    /// A request served by `pool` was answered `failed` now: it counts
    /// against each scheduled failure of that pool (or its region) under
    /// way, a region outage until traffic is back.
    pub(super) fn failed(&mut self, pool: usize, now: SimTime) {
        let region = self.fleet.pools[pool].region;
        for (f, log) in self.fleet.failures.iter().zip(&mut self.logs) {
            let (scope, until) = match f.kind {
                FailureKind::RegionOutage => (f.region == region, f.to + self.fleet.detection),
                FailureKind::ReplicaLoss | FailureKind::RackLoss | FailureKind::BadRollout => {
                    (f.pool == Some(pool), f.to)
                }
                // A partition counts the requests it cut off (`cut_off`).
                FailureKind::Partition | FailureKind::Stragglers => (false, f.to),
            };
            if scope && SimTime::ZERO + f.from <= now && now < SimTime::ZERO + until {
                log.failed += 1;
            }
        }
    }

    /// Each scheduled failure's report.
    pub(super) fn summaries(&self) -> Vec<IncidentSummary> {
        let fleet = self.fleet;
        let secs = |t: SimTime| t.since(SimTime::ZERO).as_secs_f64();
        self.fleet
            .failures
            .iter()
            .zip(&self.logs)
            .map(|(f, log)| IncidentSummary {
                kind: f.kind.name().to_string(),
                region: fleet.regions[f.region].name.clone(),
                users: f.users.map(|u| fleet.regions[u].name.clone()),
                pool: f
                    .pool
                    .map(|p| format!("{}/{}", fleet.regions[f.region].name, fleet.models[fleet.pools[p].model])),
                from_s: f.from.as_secs_f64(),
                to_s: f.to.as_secs_f64(),
                replicas: f.replicas.len() as u64,
                time_to_detect_s: log.detected.map(|t| secs(t) - f.from.as_secs_f64()),
                last_routed_in_s: log.last_routed_in.map(secs),
                failed: log.failed,
                // Filled in from the SLO windows at the end of the run.
                answered: 0,
                slo_attainment: None,
                recovered_at_s: None,
                time_to_recover_s: None,
            })
            .collect()
    }
}
