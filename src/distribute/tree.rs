//! `tree`: a k-ary tree rooted at the origins, chunk-pipelined.
//!
//! Why a tree: it spreads the upload work over the nodes (each forwards to
//! k children) with no coordination beyond a fixed parent, and pipelining
//! chunks means a node forwards chunk j while it receives chunk j+1. With
//! homogeneous nodes each edge runs at u/k, so the last node finishes after
//! about (chunks + depth) · k · chunk / u — k times the swarm's F/u, plus
//! the pipeline fill. Nodes are placed breadth-first: each origin has k
//! children, node i's children are L1 + k·i .. L1 + k·i + k − 1 (L1 = k ·
//! origins). A crashed node's children are adopted by its parent; a chunk
//! that fails its checksum is fetched again from the parent. Cost: O(k)
//! planner work per delivered chunk.

use super::fleet::Peer;
use super::network::Flow;
use super::sim::{Planner, World};

pub struct Tree {
    parent: Vec<Peer>,
    /// Children of each node, then of each origin (index nodes + o).
    children: Vec<Vec<u32>>,
    /// Chunks each node holds: always a prefix 0..next.
    next: Vec<u32>,
    /// A transfer into the node is in progress.
    busy: Vec<bool>,
    /// Nodes that may be able to start a download.
    dirty: Vec<u32>,
    nodes: u32,
}

impl Tree {
    pub fn new(nodes: u32, origins: u32, k: u32) -> Tree {
        let level1 = (k as u64 * origins as u64).min(nodes as u64) as u32;
        let mut parent = Vec::with_capacity(nodes as usize);
        let mut children = vec![Vec::new(); (nodes + origins) as usize];
        for i in 0..nodes {
            let p = if i < level1 { Peer::Origin(i % origins) } else { Peer::Node((i - level1) / k) };
            children[match p {
                Peer::Origin(o) => (nodes + o) as usize,
                Peer::Node(n) => n as usize,
            }]
            .push(i);
            parent.push(p);
        }
        Tree {
            parent,
            children,
            next: vec![0; nodes as usize],
            busy: vec![false; nodes as usize],
            dirty: (0..nodes).collect(),
            nodes,
        }
    }

    fn slot(&self, p: Peer) -> usize {
        match p {
            Peer::Origin(o) => (self.nodes + o) as usize,
            Peer::Node(n) => n as usize,
        }
    }

    /// Starts the next chunk into `node` if its parent has it.
    fn try_start(&mut self, w: &mut World, node: u32) {
        let i = node as usize;
        if self.busy[i] || !w.alive(node) || self.next[i] >= w.plan.chunks {
            return;
        }
        let chunk = self.next[i];
        let ready = match self.parent[i] {
            Peer::Origin(_) => w.origin_up,
            Peer::Node(p) => self.next[p as usize] > chunk,
        };
        if ready {
            self.busy[i] = true;
            w.send(self.parent[i], node, chunk, w.chunk_bytes(chunk, chunk + 1));
        }
    }
}

impl Planner for Tree {
    fn delivered(&mut self, w: &mut World, flow: &Flow) {
        let node = flow.dst;
        self.busy[node as usize] = false;
        self.dirty.push(node);
        if !w.checksum_ok() {
            w.waste(flow.sent());
            return;
        }
        self.next[node as usize] += 1;
        self.dirty.extend_from_slice(&self.children[node as usize]);
        if self.next[node as usize] == w.plan.chunks {
            w.complete(node);
        }
    }

    fn cancelled(&mut self, _w: &mut World, flow: &Flow) {
        self.busy[flow.dst as usize] = false;
        self.dirty.push(flow.dst);
    }

    fn crashed(&mut self, _w: &mut World, node: u32) {
        let adopter = self.parent[node as usize];
        let orphans = std::mem::take(&mut self.children[node as usize]);
        for &c in &orphans {
            self.parent[c as usize] = adopter;
        }
        let slot = self.slot(adopter);
        self.children[slot].retain(|&c| c != node);
        self.children[slot].extend_from_slice(&orphans);
        self.dirty.extend_from_slice(&orphans);
    }

    fn origin_changed(&mut self, _w: &mut World, up: bool) {
        if up {
            for o in self.nodes as usize..self.children.len() {
                self.dirty.extend_from_slice(&self.children[o]);
            }
        }
    }

    fn plan(&mut self, w: &mut World) {
        for node in std::mem::take(&mut self.dirty) {
            self.try_start(w, node);
        }
    }
}
