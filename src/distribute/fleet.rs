//! The modeled fleet: nodes with their (possibly straggling) bandwidths,
//! racks, regions, the links between them, and the theoretical lower bound.
//!
//! Why one `Fleet` for every strategy: a comparison is only fair on the same
//! machines, so bandwidth draws and the crash schedule are made once per
//! scenario from their own named streams (`nodes/bandwidth`,
//! `faults/crashes`), never from a strategy's stream.
//!
//! Links are *resources* with a capacity in bytes/s, numbered densely:
//! origin uploads, then each node's upload and download, then (if
//! `topology.rack_uplink` is set) each rack's uplink and downlink, then (if
//! `topology.wan` is set and there are several regions) each region's WAN
//! egress and ingress. A transfer's path is the list of resources it crosses;
//! origins sit at their region's core, outside every rack.

use super::load::Plan;
use crate::engine::RngStreams;
use crate::time::{SimDuration, SimTime};
use rand::seq::index::sample;
use rand::Rng;
use rand_distr::{Distribution, LogNormal};

/// Who sends a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    Origin(u32),
    Node(u32),
}

/// The resources a transfer crosses, at most 6 (src upload, rack up, WAN
/// egress, WAN ingress, rack down, dst download).
#[derive(Debug, Clone, Copy, Default)]
pub struct Path {
    pub res: [u32; 6],
    pub len: u8,
    pub cross_rack: bool,
    pub cross_region: bool,
    /// Set-up latency (the WAN latency when it crosses regions).
    pub latency: SimDuration,
}

impl Path {
    fn push(&mut self, r: u32) {
        self.res[self.len as usize] = r;
        self.len += 1;
    }
    pub fn resources(&self) -> &[u32] {
        &self.res[..self.len as usize]
    }
}

/// Components of D_min = max(F/u_s, F/d_min, N·F/(u_s + Σu_i)), in seconds,
/// with F in wire bytes (payload × encryption overhead) and u_i capped by
/// the egress cap.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LowerBound {
    pub lower_bound_s: f64,
    /// F / u_s: the origin must send every byte at least once.
    pub origin_s: f64,
    /// F / d_min: the slowest downloader must receive every byte.
    pub slowest_download_s: f64,
    /// N·F / (u_s + Σu_i): all N copies must be uploaded by someone.
    pub aggregate_upload_s: f64,
}

#[derive(Debug, Clone)]
pub struct Fleet {
    pub nodes: u32,
    pub origins: u32,
    pub origin_upload: f64,
    pub origin_region: u32,
    /// Effective upload per node (bytes/s), egress cap applied.
    pub upload: Vec<f64>,
    pub download: Vec<f64>,
    pub rack_of: Vec<u32>,
    pub racks: u32,
    pub region_of_rack: Vec<u32>,
    pub regions: u32,
    rack_links: Option<f64>,
    wan: Option<f64>,
    pub wan_latency: SimDuration,
    /// (time, node) of every crash, sorted by time then node.
    pub crashes: Vec<(SimTime, u32)>,
    /// Wire bytes of the whole file.
    pub wire_file_bytes: f64,
}

impl Fleet {
    pub fn new(plan: &Plan) -> Fleet {
        let streams = RngStreams::new(plan.seed);
        let n = plan.nodes as usize;
        let mut factor = vec![1.0; n];
        let mut rng = streams.stream("nodes/bandwidth");
        if plan.bandwidth_cv > 0.0 {
            let sigma2 = (1.0 + plan.bandwidth_cv * plan.bandwidth_cv).ln();
            let spread = LogNormal::new(-sigma2 / 2.0, sigma2.sqrt()).expect("finite parameters");
            factor.iter_mut().for_each(|f| *f = spread.sample(&mut rng));
        }
        let stragglers = ((plan.stragglers * n as f64).round() as usize).min(n);
        for i in sample(&mut rng, n, stragglers) {
            factor[i] *= plan.straggler_speed;
        }
        let cap = plan.egress_cap.unwrap_or(f64::INFINITY);
        let upload = factor.iter().map(|f| (plan.upload * f).min(cap)).collect();
        let download = factor.iter().map(|f| plan.download * f).collect();
        let racks = plan.nodes.div_ceil(plan.rack_size);
        let regions = plan.regions.len() as u32;
        let region_of_rack = (0..racks).map(|r| (r as u64 * regions as u64 / racks as u64) as u32).collect();
        let mut rng = streams.stream("faults/crashes");
        let f = &plan.faults;
        let mut crashes: Vec<(SimTime, u32)> = sample(&mut rng, n, f.crashes as usize)
            .into_iter()
            .map(|i| (SimTime(rng.random_range(f.crash_from.0..=f.crash_until.0)), i as u32))
            .collect();
        crashes.sort_unstable();
        Fleet {
            nodes: plan.nodes,
            origins: plan.origins,
            origin_upload: plan.origin_upload,
            origin_region: plan.origin_region,
            upload,
            download,
            rack_of: (0..plan.nodes).map(|i| i / plan.rack_size).collect(),
            racks,
            region_of_rack,
            regions,
            rack_links: plan.rack_uplink,
            wan: plan.wan.filter(|_| regions > 1),
            wan_latency: plan.wan_latency,
            crashes,
            wire_file_bytes: plan.file_bytes as f64 * plan.encryption_overhead,
        }
    }

    pub fn origin_res(&self, o: u32) -> u32 {
        o
    }
    pub fn up_res(&self, node: u32) -> u32 {
        self.origins + 2 * node
    }
    pub fn down_res(&self, node: u32) -> u32 {
        self.origins + 2 * node + 1
    }
    fn rack_base(&self) -> u32 {
        self.origins + 2 * self.nodes
    }
    fn wan_base(&self) -> u32 {
        self.rack_base() + if self.rack_links.is_some() { 2 * self.racks } else { 0 }
    }

    /// Capacity of every resource, indexed by resource id.
    pub fn capacities(&self) -> Vec<f64> {
        let mut caps = vec![self.origin_upload; self.origins as usize];
        for i in 0..self.nodes as usize {
            caps.push(self.upload[i]);
            caps.push(self.download[i]);
        }
        if let Some(c) = self.rack_links {
            caps.extend(std::iter::repeat_n(c, 2 * self.racks as usize));
        }
        if let Some(c) = self.wan {
            caps.extend(std::iter::repeat_n(c, 2 * self.regions as usize));
        }
        caps
    }

    pub fn region_of(&self, node: u32) -> u32 {
        self.region_of_rack[self.rack_of[node as usize] as usize]
    }

    /// The resources a transfer from `src` to `dst` crosses. O(1).
    pub fn path(&self, src: Peer, dst: u32) -> Path {
        let mut p = Path::default();
        let (src_rack, src_region) = match src {
            Peer::Origin(o) => {
                p.push(self.origin_res(o));
                (None, self.origin_region)
            }
            Peer::Node(s) => {
                p.push(self.up_res(s));
                (Some(self.rack_of[s as usize]), self.region_of(s))
            }
        };
        let dst_rack = self.rack_of[dst as usize];
        let dst_region = self.region_of(dst);
        p.cross_rack = src_rack != Some(dst_rack);
        p.cross_region = src_region != dst_region;
        if p.cross_rack && self.rack_links.is_some() {
            if let Some(r) = src_rack {
                p.push(self.rack_base() + 2 * r);
            }
        }
        if p.cross_region && self.wan.is_some() {
            p.push(self.wan_base() + 2 * src_region);
            p.push(self.wan_base() + 2 * dst_region + 1);
        }
        if p.cross_rack && self.rack_links.is_some() {
            p.push(self.rack_base() + 2 * dst_rack + 1);
        }
        p.push(self.down_res(dst));
        if p.cross_region {
            p.latency = self.wan_latency;
        }
        p
    }

    /// D_min for this fleet (all N nodes).
    pub fn lower_bound(&self) -> LowerBound {
        let f = self.wire_file_bytes;
        let u_s = self.origin_upload * self.origins as f64;
        let d_min = self.download.iter().copied().fold(f64::INFINITY, f64::min);
        let sum_u: f64 = self.upload.iter().sum();
        let origin_s = f / u_s;
        let slowest_download_s = f / d_min;
        let aggregate_upload_s = self.nodes as f64 * f / (u_s + sum_u);
        LowerBound {
            lower_bound_s: origin_s.max(slowest_download_s).max(aggregate_upload_s),
            origin_s,
            slowest_download_s,
            aggregate_upload_s,
        }
    }
}
