//! Transfers as flows on capacitated links, at max-min fair rates that are
//! recomputed only where something changed.
//!
//! Why flows, not packets: a 140 GB rollout to 10,000 nodes is millions of
//! chunk transfers; what matters is who shares which bottleneck, which a
//! flow model captures (as TCP does on average) at a tiny fraction of the
//! cost. A flow's rate changes only when a flow starts or ends, so between
//! such events its progress is linear and its end time is known exactly.
//!
//! Why *local* recomputation: a global max-min solve after every chunk is
//! O(flows · path) per event — 10^4 flows × 10^7 events is hours. A change
//! (flows started or ended) dirties the resources those flows cross; the
//! flows on dirty resources are re-solved by progressive filling
//! ([`super::fair`]) against what the other flows leave on every resource
//! they cross. Events at one instant are batched into one solve. Cost per
//! batch: O(A·L log P) for the A flows on dirty resources, independent of the
//! fleet size. The result is always feasible (no resource over capacity, an
//! invariant checked on every solve) and exactly max-min whenever the
//! change's effect stays within one hop — always in client-server and
//! tree strategies, and in a swarm whose bottlenecks are the peers' uploads.
//! Capacity a change frees two hops away is reclaimed at that neighbourhood's
//! next change (the next chunk boundary). `network.fairness = "exact"`
//! re-solves every flow on every change, to check this approximation.
//!
//! Links shared by more than [`CROWDED`] flows (a WAN link, an oversubscribed
//! rack uplink under a rack-oblivious swarm) would put thousands of flows in
//! every solve. Such a link is *deferred*: a change on it does not pull in
//! all its flows; instead the driver re-solves it at most once per
//! `network.resolve_every` (default 10 ms). In between, capacity freed on it
//! goes to flows that start there, not to those already running, so its
//! utilization can lag by at most one period after a change.

use super::fair::Filler;
use super::fleet::{Path, Peer};
use crate::time::{SimDuration, SimTime};

pub type FlowId = u32;

/// Flows on one resource beyond which its re-solve is deferred.
pub const CROWDED: usize = 64;

/// One transfer in progress.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    pub src: Peer,
    pub dst: u32,
    /// What it carries: a chunk index, or a count of chunks for a stream.
    pub tag: u32,
    /// Wire bytes to send.
    pub bytes: f64,
    pub remaining: f64,
    /// Current rate, bytes per second.
    pub rate: f64,
    /// When `remaining` was last brought up to date.
    since: SimTime,
    pub started: SimTime,
    /// Propagation delay added to the end (cross-region set-up).
    latency: SimDuration,
    pub path: Path,
    /// Position of this flow in each of its resources' flow lists.
    slot: [u32; 6],
    version: u32,
    active: bool,
    fresh: bool,
}

impl Flow {
    /// Wire bytes already sent at `since` (exact for finished flows).
    pub fn sent(&self) -> f64 {
        (self.bytes - self.remaining.max(0.0)).max(0.0)
    }
}

/// An end-of-flow event to schedule: (time, flow, version).
pub type EndEvent = (SimTime, FlowId, u32);

pub struct Network {
    caps: Vec<f64>,
    res_flows: Vec<Vec<FlowId>>,
    allocated: Vec<f64>,
    /// Highest total rate ever allocated on each resource.
    peak: Vec<f64>,
    flows: Vec<Flow>,
    free: Vec<FlowId>,
    dirty: Vec<u32>,
    /// Crowded resources changed since their last full re-solve.
    deferred: Vec<u32>,
    deferred_mark: Vec<bool>,
    /// Re-solve deferred resources in full at the next `reallocate`.
    force: bool,
    exact: bool,
    epoch: u32,
    res_epoch: Vec<u32>,
    flow_epoch: Vec<u32>,
    local_of: Vec<u32>,
    // Scratch for a solve.
    affected: Vec<FlowId>,
    local_res: Vec<u32>,
    residual: Vec<f64>,
    paths: Vec<u32>,
    starts: Vec<u32>,
    rates: Vec<f64>,
    filler: Filler,
    /// Solves in which some resource ended over capacity (must stay 0).
    pub over_capacity: u64,
    pub solves: u64,
}

impl Network {
    pub fn new(caps: Vec<f64>, exact: bool) -> Network {
        let n = caps.len();
        Network {
            res_flows: vec![Vec::new(); n],
            allocated: vec![0.0; n],
            peak: vec![0.0; n],
            res_epoch: vec![0; n],
            local_of: vec![0; n],
            caps,
            flows: Vec::new(),
            free: Vec::new(),
            dirty: Vec::new(),
            deferred: Vec::new(),
            deferred_mark: vec![false; n],
            force: false,
            exact,
            epoch: 0,
            flow_epoch: Vec::new(),
            affected: Vec::new(),
            local_res: Vec::new(),
            residual: Vec::new(),
            paths: Vec::new(),
            starts: Vec::new(),
            rates: Vec::new(),
            filler: Filler::default(),
            over_capacity: 0,
            solves: 0,
        }
    }

    pub fn flow(&self, id: FlowId) -> &Flow {
        &self.flows[id as usize]
    }

    /// Flows crossing resource `r` (e.g. a node's upload: its uploads).
    pub fn flows_on(&self, r: u32) -> &[FlowId] {
        &self.res_flows[r as usize]
    }

    pub fn peak_rate(&self, r: u32) -> f64 {
        self.peak[r as usize]
    }

    /// True if `(id, version)` names a flow still in progress.
    pub fn is_current(&self, id: FlowId, version: u32) -> bool {
        self.flows.get(id as usize).is_some_and(|f| f.active && f.version == version)
    }

    /// Starts a transfer of `bytes` along `path`; its rate is set at the next
    /// [`Network::reallocate`]. O(path).
    pub fn start(&mut self, src: Peer, dst: u32, tag: u32, bytes: f64, path: Path, now: SimTime) {
        let flow = Flow {
            src,
            dst,
            tag,
            bytes,
            remaining: bytes,
            rate: 0.0,
            since: now,
            started: now,
            latency: path.latency,
            path,
            slot: [0; 6],
            version: 0,
            active: true,
            fresh: true,
        };
        let id = match self.free.pop() {
            Some(id) => {
                // A new version, so end events of the slot's last flow are stale.
                let version = self.flows[id as usize].version.wrapping_add(1);
                self.flows[id as usize] = Flow { version, ..flow };
                id
            }
            None => {
                self.flows.push(flow);
                self.flow_epoch.push(0);
                (self.flows.len() - 1) as FlowId
            }
        };
        for (k, &r) in path.resources().iter().enumerate() {
            let list = &mut self.res_flows[r as usize];
            self.flows[id as usize].slot[k] = list.len() as u32;
            list.push(id);
            self.dirty.push(r);
        }
    }

    /// Removes a flow (finished or cancelled) and returns it, brought up to
    /// date at `now`. O(path).
    pub fn remove(&mut self, id: FlowId, now: SimTime) -> Flow {
        self.settle(id, now);
        let flow = self.flows[id as usize];
        for (k, &r) in flow.path.resources().iter().enumerate() {
            let list = &mut self.res_flows[r as usize];
            let at = flow.slot[k] as usize;
            list.swap_remove(at);
            if let Some(&moved) = list.get(at) {
                let m = &mut self.flows[moved as usize];
                let pos = m.path.resources().iter().position(|&q| q == r).expect("moved flow crosses r");
                m.slot[pos] = at as u32;
            }
            self.allocated[r as usize] -= flow.rate;
            self.dirty.push(r);
        }
        let f = &mut self.flows[id as usize];
        f.active = false;
        f.version = f.version.wrapping_add(1);
        self.free.push(id);
        flow
    }

    fn settle(&mut self, id: FlowId, now: SimTime) {
        let f = &mut self.flows[id as usize];
        f.remaining -= f.rate * now.since(f.since).as_secs_f64();
        f.since = now;
    }

    /// True when a crowded resource waits for its periodic full re-solve.
    pub fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Makes the next [`Network::reallocate`] re-solve every deferred resource in full.
    pub fn resolve_deferred(&mut self) {
        self.force = true;
    }

    /// Re-solves rates around every resource dirtied since the last call and
    /// appends the end events of flows whose rate changed to `out`.
    pub fn reallocate(&mut self, now: SimTime, out: &mut Vec<EndEvent>) {
        if self.force {
            self.force = false;
            for r in std::mem::take(&mut self.deferred) {
                self.deferred_mark[r as usize] = false;
                self.dirty.push(r);
            }
        } else if !self.exact {
            // Crowded resources wait for their periodic re-solve.
            let (deferred, marks, flows) = (&mut self.deferred, &mut self.deferred_mark, &self.res_flows);
            self.dirty.retain(|&r| {
                let crowded = flows[r as usize].len() > CROWDED;
                if crowded && !marks[r as usize] {
                    marks[r as usize] = true;
                    deferred.push(r);
                }
                !crowded
            });
        }
        if self.dirty.is_empty() {
            return;
        }
        self.solves += 1;
        self.epoch = self.epoch.wrapping_add(1);
        let epoch = self.epoch;
        if self.exact {
            self.dirty.clear();
            self.dirty.extend(0..self.caps.len() as u32);
        }
        // Affected flows: every flow on a dirty resource.
        self.affected.clear();
        for &r in &self.dirty {
            if self.res_epoch[r as usize] == epoch {
                continue;
            }
            self.res_epoch[r as usize] = epoch;
            for &f in &self.res_flows[r as usize] {
                if self.flow_epoch[f as usize] != epoch {
                    self.flow_epoch[f as usize] = epoch;
                    self.affected.push(f);
                }
            }
        }
        self.dirty.clear();
        // Local resources: every resource an affected flow crosses, with the
        // capacity that unaffected flows leave.
        self.epoch = self.epoch.wrapping_add(1);
        let epoch = self.epoch;
        self.local_res.clear();
        self.residual.clear();
        self.paths.clear();
        self.starts.clear();
        self.starts.push(0);
        for &f in &self.affected {
            let flow = &self.flows[f as usize];
            for &r in flow.path.resources() {
                let ri = r as usize;
                if self.res_epoch[ri] != epoch {
                    self.res_epoch[ri] = epoch;
                    self.local_of[ri] = self.local_res.len() as u32;
                    self.local_res.push(r);
                    self.residual.push(self.caps[ri] - self.allocated[ri]);
                }
                let local = self.local_of[ri];
                self.residual[local as usize] += flow.rate;
                self.paths.push(local);
            }
            self.starts.push(self.paths.len() as u32);
        }
        self.filler.solve(&self.paths, &self.starts, &mut self.residual, &mut self.rates);
        for i in 0..self.affected.len() {
            let f = self.affected[i];
            let new = self.rates[i];
            let flow = &self.flows[f as usize];
            if new == flow.rate && !flow.fresh {
                continue;
            }
            let old = flow.rate;
            self.settle(f, now);
            let flow = &mut self.flows[f as usize];
            for &r in flow.path.resources() {
                self.allocated[r as usize] += new - old;
            }
            flow.rate = new;
            if flow.remaining <= 0.0 && !flow.fresh {
                continue; // only its propagation delay is left; keep its end event
            }
            flow.fresh = false;
            flow.version = flow.version.wrapping_add(1);
            if new > 0.0 {
                let secs = flow.remaining.max(0.0) / new;
                let at = now + SimDuration((secs * 1e9).ceil() as u64) + flow.latency;
                out.push((at, f, flow.version));
            }
        }
        for &r in &self.local_res {
            let ri = r as usize;
            let used = self.allocated[ri];
            if used > self.caps[ri] * (1.0 + 1e-9) + 1e-6 {
                self.over_capacity += 1;
            }
            if used > self.peak[ri] {
                self.peak[ri] = used;
            }
        }
    }
}
