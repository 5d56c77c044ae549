//! The distribution driver: one event loop shared by every strategy.
//!
//! Why a [`Planner`] trait: strategies differ only in *which transfers to
//! start* (who sends which chunk to whom); the clock, the network, faults,
//! checksums and accounting are the same for all, so they live here once.
//! The loop pops every event due at one instant (a batch), lets the planner
//! react, asks it for new transfers, and re-solves rates once per batch.
//! Cost per batch: O(events · log queue) plus the planner's and the
//! network's local work.

use super::config::Fairness;
use super::fleet::{Fleet, Peer};
use super::load::Plan;
use super::network::{EndEvent, Flow, FlowId, Network};
use crate::engine::{EventQueue, RngStreams};
use crate::time::SimTime;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy)]
pub enum Event {
    FlowEnd(FlowId, u32),
    Crash(u32),
    OriginDown,
    OriginUp,
    /// Periodic full re-solve of crowded links (see `network.rs`).
    Resolve,
}

/// What became of one node.
#[derive(Debug, Clone, Default)]
pub struct NodeState {
    /// When it held the whole, verified file.
    pub done_at: Option<SimTime>,
    /// Why it never will (crashed, stalled).
    pub failed: Option<String>,
    pub crashed: bool,
    /// Wire bytes it uploaded.
    pub egress_bytes: f64,
}

/// Bytes moved, by kind (wire bytes).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Traffic {
    pub wire_bytes: f64,
    pub origin_egress_bytes: f64,
    pub cross_rack_bytes: f64,
    pub cross_region_bytes: f64,
    /// Sent but of no use: partial transfers cut by faults, chunks that failed their checksum.
    pub wasted_bytes: f64,
    pub transfers: u64,
    pub cancelled_transfers: u64,
    pub checksum_failures: u64,
}

impl Traffic {
    /// The same, with byte counts rounded to whole bytes (for reports).
    pub fn rounded(&self) -> Traffic {
        Traffic {
            wire_bytes: self.wire_bytes.round(),
            origin_egress_bytes: self.origin_egress_bytes.round(),
            cross_rack_bytes: self.cross_rack_bytes.round(),
            cross_region_bytes: self.cross_region_bytes.round(),
            wasted_bytes: self.wasted_bytes.max(0.0).round(),
            ..*self
        }
    }
}

/// The shared world a planner acts on.
pub struct World<'a> {
    pub plan: &'a Plan,
    pub fleet: &'a Fleet,
    pub net: Network,
    pub now: SimTime,
    pub nodes: Vec<NodeState>,
    pub origin_up: bool,
    pub traffic: Traffic,
    pub events: u64,
    queue: EventQueue<Event>,
    ends: Vec<EndEvent>,
    resolve_pending: bool,
    checksum_rng: ChaCha8Rng,
}

impl World<'_> {
    /// Payload bytes of chunks `from..to`.
    pub fn chunk_bytes(&self, from: u32, to: u32) -> u64 {
        let c = self.plan.chunk_bytes;
        let f = self.plan.file_bytes;
        (to as u64 * c).min(f) - (from as u64 * c).min(f)
    }

    /// Starts a transfer of `payload` bytes (wire bytes add the encryption overhead).
    pub fn send(&mut self, src: Peer, dst: u32, tag: u32, payload: u64) {
        let path = self.fleet.path(src, dst);
        let wire = payload as f64 * self.plan.encryption_overhead;
        self.net.start(src, dst, tag, wire, path, self.now);
    }

    /// Draws whether one delivered chunk passes its checksum.
    pub fn checksum_ok(&mut self) -> bool {
        let p = self.plan.faults.checksum_failure_rate;
        let ok = p == 0.0 || !self.checksum_rng.random_bool(p);
        if !ok {
            self.traffic.checksum_failures += 1;
        }
        ok
    }

    /// Records a finished node.
    pub fn complete(&mut self, node: u32) {
        let n = &mut self.nodes[node as usize];
        debug_assert!(n.done_at.is_none());
        n.done_at = Some(self.now);
    }

    pub fn alive(&self, node: u32) -> bool {
        !self.nodes[node as usize].crashed
    }

    pub fn done(&self, node: u32) -> bool {
        self.nodes[node as usize].done_at.is_some()
    }

    /// Counts what a removed flow sent; `wasted` bytes were of no use.
    fn account(&mut self, flow: &Flow, wasted: f64) {
        let sent = flow.sent();
        let t = &mut self.traffic;
        t.wire_bytes += sent;
        t.wasted_bytes += wasted;
        if flow.path.cross_rack {
            t.cross_rack_bytes += sent;
        }
        if flow.path.cross_region {
            t.cross_region_bytes += sent;
        }
        match flow.src {
            Peer::Origin(_) => t.origin_egress_bytes += sent,
            Peer::Node(s) => self.nodes[s as usize].egress_bytes += sent,
        }
    }

    /// Cancels every flow crossing resource `r`; returns them.
    fn cancel_on(&mut self, r: u32) -> Vec<Flow> {
        let ids: Vec<FlowId> = self.net.flows_on(r).to_vec();
        ids.into_iter()
            .map(|id| {
                let flow = self.net.remove(id, self.now);
                self.account(&flow, flow.sent());
                self.traffic.cancelled_transfers += 1;
                flow
            })
            .collect()
    }

    /// Records that `wasted` bytes of a delivered flow were useless (a failed checksum).
    pub fn waste(&mut self, bytes: f64) {
        self.traffic.wasted_bytes += bytes;
    }
}

/// A strategy: decides which transfers to start.
pub trait Planner {
    /// A transfer finished (every byte arrived). Verify and record it.
    fn delivered(&mut self, w: &mut World, flow: &Flow);
    /// A transfer was cut (its sender or receiver crashed, or the origin failed).
    fn cancelled(&mut self, w: &mut World, flow: &Flow);
    /// `node` crashed; its transfers were already cancelled.
    fn crashed(&mut self, w: &mut World, node: u32);
    /// The origins went down (`false`) or came back (`true`).
    fn origin_changed(&mut self, w: &mut World, up: bool);
    /// Start whatever transfers can start now (called after every batch).
    fn plan(&mut self, w: &mut World);
}

/// Runs one strategy to the end and returns the final world state.
pub fn simulate<'a>(plan: &'a Plan, fleet: &'a Fleet, planner: &mut dyn Planner, stream: &str) -> World<'a> {
    let mut w = World {
        plan,
        fleet,
        net: Network::new(fleet.capacities(), plan.fairness == Fairness::Exact),
        now: SimTime::ZERO,
        nodes: vec![NodeState::default(); fleet.nodes as usize],
        origin_up: true,
        traffic: Traffic::default(),
        events: 0,
        queue: EventQueue::new(),
        ends: Vec::new(),
        resolve_pending: false,
        checksum_rng: RngStreams::new(plan.seed).stream(&format!("faults/checksum/{stream}")),
    };
    for &(at, node) in &fleet.crashes {
        w.queue.schedule(at, Event::Crash(node));
    }
    if let Some((at, dur)) = plan.faults.origin_down {
        w.queue.schedule(SimTime::ZERO + at, Event::OriginDown);
        w.queue.schedule(SimTime::ZERO + at + dur, Event::OriginUp);
    }
    planner.plan(&mut w);
    flush(&mut w);
    while let Some((t, event)) = w.queue.pop() {
        w.now = t;
        handle(&mut w, planner, event);
        while w.queue.peek_time() == Some(t) {
            let (_, event) = w.queue.pop().expect("peeked");
            handle(&mut w, planner, event);
        }
        planner.plan(&mut w);
        flush(&mut w);
    }
    for (i, n) in w.nodes.iter_mut().enumerate() {
        if n.done_at.is_none() && n.failed.is_none() {
            n.failed = Some(format!("stalled: node {i} could not get every chunk (no live source)"));
        }
    }
    w
}

fn flush(w: &mut World) {
    w.net.reallocate(w.now, &mut w.ends);
    for (at, id, version) in w.ends.drain(..) {
        w.queue.schedule(at, Event::FlowEnd(id, version));
    }
    if w.net.has_deferred() && !w.resolve_pending {
        w.resolve_pending = true;
        w.queue.schedule(w.now + w.plan.resolve_every, Event::Resolve);
    }
}

fn handle(w: &mut World, planner: &mut dyn Planner, event: Event) {
    w.events += 1;
    match event {
        Event::FlowEnd(id, version) => {
            if !w.net.is_current(id, version) {
                return;
            }
            let flow = w.net.remove(id, w.now);
            w.account(&flow, 0.0);
            w.traffic.transfers += 1;
            planner.delivered(w, &flow);
        }
        Event::Crash(node) => {
            let n = &mut w.nodes[node as usize];
            n.crashed = true;
            if n.done_at.is_none() {
                n.failed = Some(format!("crashed at {:.3}s before holding the whole file", w.now.as_secs_f64()));
            }
            let (up, down) = (w.fleet.up_res(node), w.fleet.down_res(node));
            for flow in w.cancel_on(up).into_iter().chain(w.cancel_on(down)) {
                planner.cancelled(w, &flow);
            }
            planner.crashed(w, node);
        }
        Event::OriginDown => {
            w.origin_up = false;
            for o in 0..w.fleet.origins {
                for flow in w.cancel_on(w.fleet.origin_res(o)) {
                    planner.cancelled(w, &flow);
                }
            }
            planner.origin_changed(w, false);
        }
        Event::Resolve => {
            w.resolve_pending = false;
            w.net.resolve_deferred();
        }
        Event::OriginUp => {
            w.origin_up = true;
            planner.origin_changed(w, true);
        }
    }
}
