//! `swarm` and `swarm-rack-aware`: BitTorrent-style distribution through a
//! coordinator that knows which peer holds which chunk.
//!
//! Why a coordinator (tracker) instead of gossip: in a data center the
//! rollout controller can see every node, so matching is a lookup, and the
//! interesting behaviour is the policy: **rarest first** (of the chunks a
//! source can offer, send the one with the fewest copies, in flight
//! included, so no chunk becomes the last to spread), **bounded slots**
//! (each peer uploads to at most `upload_slots` and downloads from at most
//! `download_slots` peers at once), and every peer keeps seeding after it
//! completes.
//!
//! Why it respects bandwidth: the lower bound assumes every byte of upload
//! is used from the start and every node progresses alike (Kumar & Ross's
//! fluid schedule). So slot counts default to what fills a link at a peer's
//! per-slot rate (see `load.rs`), the origin never waits for a download
//! slot (it alone injects chunks nobody holds; idle, it starves the swarm of
//! fresh chunks), and an uploader serves the furthest-behind node of its
//! sample first, so nodes finish together instead of the last one lagging.
//!
//! Rack awareness: peers look for partners in their own rack first, and a
//! transfer may cross racks only for a chunk that the destination's rack
//! neither holds nor is already receiving — so each rack pulls about one
//! copy of the file through its uplink and spreads it inside. The origin
//! (outside every rack) sends each rack chunks it lacks, so every rack gets
//! a seed early.
//!
//! Matching is event-driven: only nodes whose state changed (a slot freed, a
//! chunk arrived, a crash) look for partners, scanning at most [`SCAN`]
//! candidates from a random start in ordered sets (`BTreeSet`, so order is
//! deterministic). A candidate check is O(chunks / 64) word operations.
//! Cost per delivered chunk: O(SCAN · chunks / 64 + log N).

use super::fleet::{Fleet, Peer};
use super::idset::IdSet;
use super::load::Plan;
use super::network::Flow;
use super::sim::{Planner, World};
use crate::engine::RngStreams;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Candidates examined per partner search.
pub const SCAN: usize = 48;
/// Chunks compared per rarest-first choice (from a random start): the
/// rarest of a random sample, as a peer with a partial view would choose.
pub const RAREST_OF: u32 = 32;

pub struct Swarm {
    rack_aware: bool,
    chunks: u32,
    words: usize,
    /// Verified chunks per node (bitset, `words` u64 per node).
    have: Vec<u64>,
    /// Chunks in flight to each node.
    pending: Vec<u64>,
    held: Vec<u32>,
    in_flight: Vec<u32>,
    total_in_flight: u64,
    /// Copies of each chunk held or in flight, over live nodes.
    copies: Vec<u32>,
    /// Per rack, copies of each chunk held or in flight inside it.
    rack_copies: Vec<u32>,
    /// Per rack, a bitset of the chunks with `rack_copies > 0`.
    rack_has: Vec<u64>,
    rack_of: Vec<u32>,
    up_busy: Vec<u32>,
    down_busy: Vec<u32>,
    origin_busy: Vec<u32>,
    up_slots: u32,
    down_slots: u32,
    origin_slots: u32,
    free_up: IdSet,
    free_up_rack: Vec<IdSet>,
    hungry: IdSet,
    hungry_rack: Vec<IdSet>,
    /// Live nodes still lacking a chunk (free download slot or not): the
    /// origin's candidates.
    needy: IdSet,
    dirty: Vec<u32>,
    dirty_mark: Vec<bool>,
    /// (source node, chunk) pairs that failed a checksum, per destination.
    bad: Vec<Vec<(u32, u32)>>,
    all: Vec<u64>,
    rng: ChaCha8Rng,
    scratch: Vec<u32>,
    alive: Vec<bool>,
}

impl Swarm {
    pub fn new(plan: &Plan, fleet: &Fleet, rack_aware: bool, stream: &str) -> Swarm {
        let n = fleet.nodes;
        let chunks = plan.chunks;
        let words = chunks.div_ceil(64) as usize;
        let mut all = vec![u64::MAX; words];
        if !chunks.is_multiple_of(64) {
            all[words - 1] = (1u64 << (chunks % 64)) - 1;
        }
        let racks = fleet.racks as usize;
        Swarm {
            rack_aware,
            chunks,
            words,
            have: vec![0; n as usize * words],
            pending: vec![0; n as usize * words],
            held: vec![0; n as usize],
            in_flight: vec![0; n as usize],
            total_in_flight: 0,
            copies: vec![0; chunks as usize],
            rack_copies: vec![0; racks * chunks as usize],
            rack_has: vec![0; racks * words],
            rack_of: fleet.rack_of.clone(),
            up_busy: vec![0; n as usize],
            down_busy: vec![0; n as usize],
            origin_busy: vec![0; fleet.origins as usize],
            up_slots: plan.upload_slots,
            down_slots: plan.download_slots,
            origin_slots: plan.origin_slots,
            free_up: IdSet::new(n),
            free_up_rack: (0..racks as u32).map(|r| rack_set(fleet, r, false)).collect(),
            hungry: everyone(n),
            needy: everyone(n),
            hungry_rack: (0..racks as u32).map(|r| rack_set(fleet, r, true)).collect(),
            dirty: Vec::new(),
            dirty_mark: vec![false; n as usize],
            bad: vec![Vec::new(); n as usize],
            all,
            rng: RngStreams::new(plan.seed).stream(stream),
            scratch: Vec::new(),
            alive: vec![true; n as usize],
        }
    }

    fn bits(v: &[u64], node: u32, words: usize) -> &[u64] {
        &v[node as usize * words..(node as usize + 1) * words]
    }

    fn source_have(&self, src: Peer) -> &[u64] {
        match src {
            Peer::Origin(_) => &self.all,
            Peer::Node(u) => Self::bits(&self.have, u, self.words),
        }
    }

    fn cross_rack(&self, src: Peer, v: u32) -> bool {
        match src {
            Peer::Origin(_) => true,
            Peer::Node(u) => self.rack_of[u as usize] != self.rack_of[v as usize],
        }
    }

    /// The rarest chunk `src` can give `v`, if any (rack rule applied).
    fn pick(&mut self, src: Peer, v: u32) -> Option<u32> {
        let limit_rack = self.rack_aware && self.cross_rack(src, v);
        let key = match src {
            Peer::Origin(_) => u32::MAX,
            Peer::Node(u) => u,
        };
        let rack_word = self.rack_of[v as usize] as usize * self.words;
        let useful = |me: &Self, wi: usize| {
            let vi = v as usize * me.words + wi;
            let in_rack = if limit_rack { me.rack_has[rack_word + wi] } else { 0 };
            me.source_have(src)[wi] & !me.have[vi] & !me.pending[vi] & !in_rack
        };
        if (0..self.words).all(|wi| useful(self, wi) == 0) {
            return None;
        }
        let start = self.rng.random_range(0..self.words);
        let mut best: Option<(u32, u32)> = None;
        let mut examined = 0;
        'words: for k in 0..self.words {
            let wi = (start + k) % self.words;
            let mut cand = useful(self, wi);
            while cand != 0 {
                let j = wi as u32 * 64 + cand.trailing_zeros();
                cand &= cand - 1;
                if !self.bad[v as usize].is_empty() && self.bad[v as usize].contains(&(key, j)) {
                    continue;
                }
                let c = self.copies[j as usize];
                if best.is_none_or(|(bc, _)| c < bc) {
                    best = Some((c, j));
                }
                examined += 1;
                if examined == RAREST_OF {
                    break 'words;
                }
            }
        }
        best.map(|(_, j)| j)
    }

    /// Up to [`SCAN`] members of `set` from a random start.
    fn sample(rng: &mut ChaCha8Rng, set: &IdSet, out: &mut Vec<u32>) {
        let from = if set.len() > SCAN { rng.random_range(0..set.len()) } else { 0 };
        set.window(from, SCAN, out);
    }

    fn start(&mut self, w: &mut World, src: Peer, v: u32, j: u32) {
        match src {
            Peer::Origin(o) => self.origin_busy[o as usize] += 1,
            Peer::Node(u) => self.up_busy[u as usize] += 1,
        }
        self.down_busy[v as usize] += 1;
        self.pending[v as usize * self.words + j as usize / 64] |= 1 << (j % 64);
        self.in_flight[v as usize] += 1;
        self.total_in_flight += 1;
        self.copies[j as usize] += 1;
        self.count_in_rack(self.rack_of[v as usize], j, true);
        w.send(src, v, j, w.chunk_bytes(j, j + 1));
        if let Peer::Node(u) = src {
            self.refresh(u);
        }
        self.refresh(v);
    }

    /// Ends a transfer of chunk `j` to `v` (delivered or not).
    fn finish(&mut self, src: Peer, v: u32, j: u32, kept: bool) {
        match src {
            Peer::Origin(o) => self.origin_busy[o as usize] -= 1,
            Peer::Node(u) => {
                self.up_busy[u as usize] -= 1;
                self.touch(u);
            }
        }
        self.down_busy[v as usize] -= 1;
        self.pending[v as usize * self.words + j as usize / 64] &= !(1 << (j % 64));
        self.in_flight[v as usize] -= 1;
        self.total_in_flight -= 1;
        if kept && self.alive[v as usize] {
            self.have[v as usize * self.words + j as usize / 64] |= 1 << (j % 64);
            self.held[v as usize] += 1;
        } else if self.alive[v as usize] {
            self.copies[j as usize] -= 1;
            self.count_in_rack(self.rack_of[v as usize], j, false);
        }
        self.touch(v);
    }

    /// One more (or one fewer) copy of chunk `j` held or incoming in `rack`.
    fn count_in_rack(&mut self, rack: u32, j: u32, more: bool) {
        let at = rack as usize * self.chunks as usize + j as usize;
        let bit = rack as usize * self.words + j as usize / 64;
        if more {
            self.rack_copies[at] += 1;
            self.rack_has[bit] |= 1 << (j % 64);
        } else {
            self.rack_copies[at] -= 1;
            if self.rack_copies[at] == 0 {
                self.rack_has[bit] &= !(1 << (j % 64));
            }
        }
    }

    fn touch(&mut self, node: u32) {
        if !self.dirty_mark[node as usize] {
            self.dirty_mark[node as usize] = true;
            self.dirty.push(node);
        }
    }

    /// Puts `node` in or out of the free-uploader and hungry sets. O(log N).
    fn refresh(&mut self, node: u32) {
        let i = node as usize;
        let rack = self.rack_of[i] as usize;
        let alive = self.alive[i];
        let can_upload = alive && self.held[i] > 0 && self.up_busy[i] < self.up_slots;
        let needy = alive && self.held[i] + self.in_flight[i] < self.chunks;
        let hungry = needy && self.down_busy[i] < self.down_slots;
        if needy {
            self.needy.insert(node);
        } else {
            self.needy.remove(node);
        }
        for (set, rack_set, want) in [
            (&mut self.free_up, &mut self.free_up_rack[rack], can_upload),
            (&mut self.hungry, &mut self.hungry_rack[rack], hungry),
        ] {
            if want {
                set.insert(node);
                rack_set.insert(node);
            } else {
                set.remove(node);
                rack_set.remove(node);
            }
        }
    }

    /// Finds a partner for `me`: as an uploader (a hungry node it can serve)
    /// or as a downloader (a free uploader with something it needs), in its
    /// own rack first when rack-aware. Returns (source, destination, chunk).
    fn search(&mut self, me: Peer, as_uploader: bool) -> Option<(Peer, u32, u32)> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut found = None;
        let rack = match me {
            Peer::Node(n) if self.rack_aware => Some(self.rack_of[n as usize] as usize),
            _ => None,
        };
        'passes: for local in [true, false] {
            let set = match (local, rack, as_uploader) {
                (true, None, _) => continue,
                (true, Some(r), true) => &self.hungry_rack[r],
                (true, Some(r), false) => &self.free_up_rack[r],
                // The origin's transfers do not wait for a free download slot.
                (false, _, true) if matches!(me, Peer::Origin(_)) => &self.needy,
                (false, _, true) => &self.hungry,
                (false, _, false) => &self.free_up,
            };
            Self::sample(&mut self.rng, set, &mut scratch);
            if as_uploader {
                // Serve the furthest-behind first, so every node progresses alike.
                scratch.sort_by_key(|&x| (self.held[x as usize] + self.in_flight[x as usize], x));
            }
            for &x in &scratch {
                if Peer::Node(x) == me {
                    continue;
                }
                let (src, dst) = match (as_uploader, me) {
                    (true, _) => (me, x),
                    (false, Peer::Node(v)) => (Peer::Node(x), v),
                    (false, Peer::Origin(_)) => unreachable!("origins only upload"),
                };
                if let Some(j) = self.pick(src, dst) {
                    found = Some((src, dst, j));
                    break 'passes;
                }
            }
        }
        self.scratch = scratch;
        found
    }
}

impl Planner for Swarm {
    fn delivered(&mut self, w: &mut World, flow: &Flow) {
        let (v, j) = (flow.dst, flow.tag);
        let ok = w.checksum_ok();
        if !ok {
            w.waste(flow.sent());
            // Fetch it again from another peer (the origin may be asked again).
            if let Peer::Node(u) = flow.src {
                self.bad[v as usize].push((u, j));
            }
        }
        self.finish(flow.src, v, j, ok);
        if ok && self.held[v as usize] == self.chunks {
            w.complete(v);
        }
    }

    fn cancelled(&mut self, _w: &mut World, flow: &Flow) {
        self.finish(flow.src, flow.dst, flow.tag, false);
    }

    fn crashed(&mut self, _w: &mut World, node: u32) {
        let i = node as usize;
        self.alive[i] = false;
        let rack = self.rack_of[i];
        for wi in 0..self.words {
            let mut bits = self.have[i * self.words + wi];
            while bits != 0 {
                let j = wi * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                self.copies[j] -= 1;
                self.count_in_rack(rack, j as u32, false);
            }
        }
        self.refresh(node);
    }

    fn origin_changed(&mut self, _w: &mut World, _up: bool) {}

    fn plan(&mut self, w: &mut World) {
        if w.origin_up {
            for o in 0..self.origin_busy.len() as u32 {
                while self.origin_busy[o as usize] < self.origin_slots {
                    let Some((src, v, j)) = self.search(Peer::Origin(o), true) else { break };
                    self.start(w, src, v, j);
                }
            }
        }
        let dirty = std::mem::take(&mut self.dirty);
        for &u in &dirty {
            self.dirty_mark[u as usize] = false;
            self.refresh(u);
        }
        for &u in &dirty {
            for (set_has_me, as_uploader) in [(true, true), (false, false)] {
                while if set_has_me { self.free_up.contains(u) } else { self.hungry.contains(u) } {
                    let Some((src, v, j)) = self.search(Peer::Node(u), as_uploader) else { break };
                    self.start(w, src, v, j);
                }
            }
        }
        self.dirty = dirty;
        self.dirty.clear();
        if self.total_in_flight == 0 {
            self.unstick(w);
        }
    }
}

impl Swarm {
    /// Nothing is moving: try every hungry node against every source, so a
    /// sampled search can never leave the swarm stuck. O(N · sources) but
    /// only when no transfer is in flight.
    fn unstick(&mut self, w: &mut World) {
        let hungry: Vec<u32> = self.hungry.members().to_vec();
        let sources: Vec<Peer> = (0..self.origin_busy.len() as u32)
            .filter(|_| w.origin_up)
            .map(Peer::Origin)
            .chain(self.free_up.members().iter().map(|&u| Peer::Node(u)))
            .collect();
        for v in hungry {
            for &src in &sources {
                let free = match src {
                    Peer::Origin(o) => self.origin_busy[o as usize] < self.origin_slots,
                    Peer::Node(u) => self.free_up.contains(u) && u != v,
                };
                if free && self.hungry.contains(v) {
                    if let Some(j) = self.pick(src, v) {
                        self.start(w, src, v, j);
                    }
                }
            }
        }
    }
}

/// The set of every id in `0..n`.
fn everyone(n: u32) -> IdSet {
    let mut set = IdSet::new(n);
    (0..n).for_each(|i| set.insert(i));
    set
}

/// A set for the nodes of rack `r` (consecutive ids): all of them, or none yet.
fn rack_set(fleet: &Fleet, r: u32, full: bool) -> IdSet {
    let base = fleet.rack_of.partition_point(|&x| x < r) as u32;
    let end = fleet.rack_of.partition_point(|&x| x <= r) as u32;
    let mut set = IdSet::range(base, end - base);
    if full {
        (base..end).for_each(|i| set.insert(i));
    }
    set
}
