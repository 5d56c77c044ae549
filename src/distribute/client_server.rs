//! Client-server strategies: the origin sends the whole file to each node
//! itself, either one node at a time (`sequential`) or to every node at
//! once with its upload shared max-min fairly (`fan-out`).
//!
//! Why streams, not chunk flows: with one sender per node, chunking changes
//! nothing about rates, so a node receives one *stream* carrying all the
//! chunks it still lacks. That keeps fan-out at N flows and N end events
//! (not N × chunks). Chunks still matter for faults: a chunk that fails its
//! checksum is sent again within the stream (drawn when the stream starts),
//! and a stream cut by a crash or an origin failure keeps the whole chunks
//! that had arrived (in proportion to the bytes sent) — the partial chunk
//! is lost. Theory: sequential takes N·F/u_s, fan-out max(N·F/u_s, F/d_min)
//! (homogeneous nodes, one origin). Cost: O(1) planner work per event.

use super::fleet::Peer;
use super::network::Flow;
use super::sim::{Planner, World};

pub struct ClientServer {
    /// True: each origin serves one node at a time.
    sequential: bool,
    /// Whole verified chunks each node holds (a prefix).
    held: Vec<u32>,
    /// Chunks in the node's current stream, and the checksum failures drawn for it.
    streaming: Vec<Option<(u32, u32)>>,
    /// Per origin: the nodes it serves, and the index of the next to start (sequential).
    queue: Vec<Vec<u32>>,
    cursor: Vec<usize>,
    /// Fan-out: nodes that need a (new) stream.
    pending: Vec<u32>,
}

impl ClientServer {
    pub fn new(sequential: bool, nodes: u32, origins: u32) -> ClientServer {
        let mut queue = vec![Vec::new(); origins as usize];
        for i in 0..nodes {
            queue[(i % origins) as usize].push(i);
        }
        ClientServer {
            sequential,
            held: vec![0; nodes as usize],
            streaming: vec![None; nodes as usize],
            cursor: vec![0; origins as usize],
            queue,
            pending: if sequential { Vec::new() } else { (0..nodes).collect() },
        }
    }

    fn stream(&mut self, w: &mut World, origin: u32, node: u32) {
        let chunks = w.plan.chunks;
        let from = self.held[node as usize];
        let mut failures = 0u32;
        let mut extra = 0u64;
        for c in from..chunks {
            while !w.checksum_ok() {
                failures += 1;
                extra += w.chunk_bytes(c, c + 1);
            }
        }
        self.streaming[node as usize] = Some((chunks - from, failures));
        w.send(Peer::Origin(origin), node, chunks - from, w.chunk_bytes(from, chunks) + extra);
    }

    fn wants(&self, w: &World, node: u32) -> bool {
        w.alive(node) && !w.done(node) && self.streaming[node as usize].is_none()
    }
}

impl Planner for ClientServer {
    fn delivered(&mut self, w: &mut World, flow: &Flow) {
        let node = flow.dst;
        let (chunks, failures) = self.streaming[node as usize].take().expect("a stream was running");
        w.waste(flow.sent() * failures as f64 / (chunks + failures) as f64);
        self.held[node as usize] = w.plan.chunks;
        w.complete(node);
    }

    fn cancelled(&mut self, w: &mut World, flow: &Flow) {
        let node = flow.dst;
        if let Some((chunks, failures)) = self.streaming[node as usize].take() {
            // Whole chunks that had arrived, in proportion to the bytes sent.
            let share = flow.sent() / flow.bytes;
            let kept = ((chunks as f64 * share).floor() as u32).min(chunks.saturating_sub(1));
            self.held[node as usize] += kept;
            let per_chunk = flow.bytes / (chunks + failures) as f64;
            w.waste(-(kept as f64 * per_chunk));
            if !self.sequential {
                self.pending.push(node);
            }
        }
    }

    fn crashed(&mut self, _w: &mut World, _node: u32) {}

    fn origin_changed(&mut self, _w: &mut World, _up: bool) {}

    fn plan(&mut self, w: &mut World) {
        if !w.origin_up {
            return;
        }
        let origins = self.queue.len() as u32;
        if !self.sequential {
            for node in std::mem::take(&mut self.pending) {
                if self.wants(w, node) {
                    self.stream(w, node % origins, node);
                }
            }
            return;
        }
        for o in 0..origins {
            // Serve the next node when idle, skipping finished or crashed ones.
            if w.net.flows_on(w.fleet.origin_res(o)).is_empty() {
                let queue = &self.queue[o as usize];
                while let Some(&node) = queue.get(self.cursor[o as usize]) {
                    if self.wants(w, node) {
                        self.stream(w, o, node);
                        break;
                    }
                    self.cursor[o as usize] += 1;
                }
            }
        }
    }
}
