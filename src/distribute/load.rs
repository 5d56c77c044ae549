//! Loading a distribution scenario: TOML in, a validated [`Plan`] out, or an
//! error that names the file, line:column (or `--set`), key and a fix.
//!
//! It reuses the serving scenarios' [`Locator`] (parse, apply `--set`
//! overrides, locate keys), so both file kinds fail the same way (exit 2, no
//! partial report). The rules here are the ones serde cannot express:
//! positive bandwidths and counts, a chunk no larger than the file, a rack
//! size and regions that fit the fleet, probabilities in [0, 1).

#![allow(clippy::result_large_err)]

use super::config::{DistributionFile, Fairness, Strategy};
use crate::scenario::{Locator, ScenarioError};
use crate::time::SimDuration;
use std::path::{Path, PathBuf};

/// When and how things go wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    pub crashes: u32,
    pub crash_from: SimDuration,
    pub crash_until: SimDuration,
    pub checksum_failure_rate: f64,
    /// (down at, down for) of every origin.
    pub origin_down: Option<(SimDuration, SimDuration)>,
}

/// A validated distribution scenario. Bandwidths are bytes per second.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub seed: u64,
    pub path: PathBuf,
    /// The effective file (overrides applied), echoed into the report.
    pub file: DistributionFile,
    pub strategies: Vec<Strategy>,
    pub file_bytes: u64,
    pub chunk_bytes: u64,
    pub chunks: u32,
    pub origins: u32,
    pub origin_upload: f64,
    pub origin_slots: u32,
    pub origin_region: u32,
    pub nodes: u32,
    pub upload: f64,
    pub download: f64,
    pub bandwidth_cv: f64,
    pub stragglers: f64,
    pub straggler_speed: f64,
    pub rack_size: u32,
    pub rack_uplink: Option<f64>,
    pub regions: Vec<String>,
    pub wan: Option<f64>,
    pub wan_latency: SimDuration,
    pub tree_fanout: u32,
    pub upload_slots: u32,
    pub download_slots: u32,
    pub faults: Faults,
    pub egress_cap: Option<f64>,
    pub encryption_overhead: f64,
    pub fairness: Fairness,
    pub resolve_every: SimDuration,
}

/// All five strategies, in the order a comparison table lists them.
pub const ALL_STRATEGIES: [Strategy; 5] =
    [Strategy::Sequential, Strategy::FanOut, Strategy::Tree, Strategy::Swarm, Strategy::SwarmRackAware];

/// True when `text` looks like a distribution scenario (a top-level `[weights]` table).
pub fn is_distribution_scenario(text: &str) -> bool {
    text.parse::<toml::Table>().is_ok_and(|t| t.contains_key("weights"))
}

/// Reads, overrides and validates the distribution scenario at `path`.
pub fn load(path: &Path, overrides: &[String]) -> Result<Plan, ScenarioError> {
    from_text(&crate::scenario::read(path, "scenarios/distribute/")?, path, overrides)
}

/// Like [`load`], for text already in memory.
pub fn from_text(text: &str, path: &Path, overrides: &[String]) -> Result<Plan, ScenarioError> {
    let locator = Locator::new(text, path, overrides)?;
    let retarget = |mut e: ScenarioError| {
        // The serving-scenario hint points at `servesim schema`; ours is the guide.
        e.hint = e.hint.map(|h| h.replace("`servesim schema`", "docs/guide/weight-distribution.md"));
        e
    };
    let file: DistributionFile = locator.effective(text, retarget)?;
    resolve(file, path, &locator)
}

/// Concurrent uploads per peer: one, so a chunk crosses each hop at a
/// node's full upload. The store-and-forward delay per hop is what a swarm
/// loses against the fluid bound while it ramps up (about log2(N) hops),
/// and measured on homogeneous fleets of 10 to 10,000 nodes one slot ends
/// closest to the bound (4 slots: up to 1.18 × D_min at 196 chunks; 2:
/// 1.10; 1: 1.08).
const DEFAULT_UPLOAD_SLOTS: u32 = 1;

/// What a transfer-slot count means, for every `*_slots` error.
const SLOTS_HINT: &str = "concurrent transfers per node, e.g. 4";

/// Bandwidth-aware slot defaults: a transfer from a peer runs at about a
/// slot's share of the peer's upload, so a link of capacity `c` is filled by
/// `c / (upload / upload_slots)` such transfers. The origin gets that many
/// upload slots and each node that many download slots, so neither a fast
/// origin nor a node's download is left idle behind too few transfers.
struct SlotDefaults {
    per_transfer: f64,
}

impl SlotDefaults {
    fn new(node_upload: f64, upload_slots: u32) -> SlotDefaults {
        SlotDefaults { per_transfer: node_upload / upload_slots as f64 }
    }

    /// Transfers at a peer's per-slot rate that fill `capacity` (at least 1).
    fn filling(&self, capacity: f64) -> u32 {
        (capacity / self.per_transfer * (1.0 - 1e-9)).ceil().clamp(1.0, u32::MAX as f64) as u32
    }
}

/// The slowest link a plan may name (1 kB/s).
const MIN_BYTES_PER_S: f64 = 1e3;

fn bandwidth(loc: &Locator, key: &str, value: Option<f64>) -> Result<Option<f64>, ScenarioError> {
    match value {
        Some(v) if !(v.is_finite() && v > 0.0) => Err(loc.error(
            key,
            format!("expected a bandwidth > 0, got {v} bytes/s"),
            "a link that carries nothing never finishes; e.g. \"25Gbps\"",
        )),
        Some(v) if v < MIN_BYTES_PER_S => Err(loc.error(
            key,
            format!("expected a bandwidth of at least {MIN_BYTES_PER_S} bytes/s, got {v} bytes/s"),
            "a link slower than a kilobyte per second never finishes a model; e.g. \"25Gbps\"",
        )),
        other => Ok(other),
    }
}

fn required<T>(loc: &Locator, key: &str, value: Option<T>, example: &str) -> Result<T, ScenarioError> {
    value.ok_or_else(|| loc.error(key, "required key is missing", format!("add it, e.g. {example}")))
}

/// `value` (or `default`) in `[0, upper)`; `hint` says what the number means.
fn fraction(
    loc: &Locator,
    key: &str,
    value: Option<f64>,
    default: f64,
    upper: f64,
    hint: &str,
) -> Result<f64, ScenarioError> {
    let v = value.unwrap_or(default);
    if v.is_finite() && (0.0..upper).contains(&v) || v == 0.0 {
        Ok(v)
    } else {
        Err(loc.error(key, format!("expected a number in [0, {upper}), got {v}"), hint))
    }
}

/// `value` (or `default`), which must be at least 1; `hint` says what it counts.
fn at_least_one(loc: &Locator, key: &str, value: Option<u32>, default: u32, hint: &str) -> Result<u32, ScenarioError> {
    match value.unwrap_or(default) {
        0 => Err(loc.error(key, "expected an integer >= 1, got 0", hint)),
        n => Ok(n),
    }
}

fn resolve(file: DistributionFile, path: &Path, loc: &Locator) -> Result<Plan, ScenarioError> {
    let name = match &file.name {
        Some(n) => n.clone(),
        None => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "distribution".into()),
    };
    if name.is_empty() || name.starts_with('.') || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(loc.error(
            "name",
            format!("`{name}` cannot name a report folder"),
            "use letters, digits, `-`, `_`",
        ));
    }
    let strategies = file.strategy.as_ref().map_or_else(|| ALL_STRATEGIES.to_vec(), |s| s.0.clone());
    if strategies.is_empty() {
        return Err(loc.error("strategy", "expected at least one strategy", "e.g. strategy = [\"tree\", \"swarm\"]"));
    }
    let weights = required(loc, "weights", file.weights.clone(), "[weights] size = \"140GB\"")?;
    let file_bytes = required(loc, "weights.size", weights.size, "size = \"140GB\"")?.0;
    if file_bytes == 0 {
        return Err(loc.error("weights.size", "expected a size > 0", "e.g. size = \"140GB\""));
    }
    let chunk_bytes = weights.chunk.map_or(256_000_000.min(file_bytes), |c| c.0);
    if chunk_bytes == 0 {
        return Err(loc.error("weights.chunk", "expected a chunk size > 0", "e.g. chunk = \"256MB\""));
    }
    if chunk_bytes > file_bytes {
        return Err(loc.error(
            "weights.chunk",
            format!("the chunk ({chunk_bytes} bytes) is larger than the file ({file_bytes} bytes)"),
            "a chunk is a piece of the file; make it at most `weights.size`",
        ));
    }
    let chunks = file_bytes.div_ceil(chunk_bytes);
    let chunks = u32::try_from(chunks).ok().filter(|&c| c <= 1 << 20).ok_or_else(|| {
        loc.error("weights.chunk", format!("{chunks} chunks is too many (at most 1048576)"), "use larger chunks")
    })?;
    let o = &file.origin;
    let origin_upload =
        required(loc, "origin.upload", bandwidth(loc, "origin.upload", o.upload.map(|b| b.0))?, "upload = \"25Gbps\"")?;
    let n = &file.nodes;
    let nodes = match n.count {
        None => return Err(loc.error("nodes.count", "required key is missing", "add it, e.g. count = 1000")),
        Some(0) => {
            return Err(loc.error("nodes.count", "expected at least 1 node, got 0", "there must be someone to send to"))
        }
        Some(c) => c,
    };
    crate::scenario::guard::count(
        loc,
        "nodes.count",
        u64::from(nodes),
        crate::scenario::guard::MAX_NODES,
        "the simulator holds every node in memory",
    )?;
    let upload =
        required(loc, "nodes.upload", bandwidth(loc, "nodes.upload", n.upload.map(|b| b.0))?, "upload = \"10Gbps\"")?;
    let download = bandwidth(loc, "nodes.download", n.download.map(|b| b.0))?.unwrap_or(upload);
    let t = &file.topology;
    let rack_size = at_least_one(
        loc,
        "topology.rack_size",
        t.rack_size,
        nodes,
        "nodes per rack, e.g. rack_size = 32; omit it for one rack",
    )?;
    let regions = t.regions.clone().unwrap_or_else(|| vec!["region-0".into()]);
    let racks = nodes.div_ceil(rack_size);
    if regions.is_empty() || regions.len() as u32 > racks {
        return Err(loc.error(
            "topology.regions",
            format!("expected 1 to {racks} regions (one rack at least each), got {}", regions.len()),
            "racks are split into contiguous blocks, one per region",
        ));
    }
    let origin_region = o.region.unwrap_or(0);
    if origin_region as usize >= regions.len() {
        return Err(loc.error("origin.region", format!("no region {origin_region}"), "an index into topology.regions"));
    }
    let f = &file.faults;
    let crashes = f.crashes.unwrap_or(0);
    if crashes > nodes {
        return Err(loc.error(
            "faults.crashes",
            format!("{crashes} crashes but only {nodes} nodes"),
            "each crash takes down a distinct node; use at most nodes.count",
        ));
    }
    let crash_from = f.crash_from.unwrap_or(SimDuration::ZERO);
    let crash_until = f.crash_until.unwrap_or(SimDuration::from_secs(60));
    if crash_until < crash_from {
        return Err(loc.error(
            "faults.crash_until",
            "expected crash_until >= crash_from",
            "crashes fall in the window [crash_from, crash_until], e.g. crash_from = \"10s\", crash_until = \"60s\"",
        ));
    }
    let origin_down = match (f.origin_down_at, f.origin_down_for) {
        (Some(at), Some(d)) => Some((at, d)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(loc.error("faults.origin_down_at", "needs `origin_down_for`", "e.g. origin_down_for = \"30s\""))
        }
        (None, Some(_)) => {
            return Err(loc.error("faults.origin_down_for", "needs `origin_down_at`", "e.g. origin_down_at = \"10s\""))
        }
    };
    let overhead = file.security.encryption_overhead.unwrap_or(1.0);
    if !(overhead.is_finite() && overhead >= 1.0) {
        return Err(loc.error(
            "security.encryption_overhead",
            format!("expected a factor >= 1, got {overhead}"),
            "1.0 means no overhead; 1.05 means 5% more bytes on the wire",
        ));
    }
    let bandwidth_cv = fraction(
        loc,
        "nodes.bandwidth_cv",
        n.bandwidth_cv,
        0.0,
        10.0,
        "the spread of node bandwidths as a coefficient of variation; 0 makes every node alike",
    )?;
    let straggler_speed = n.straggler_speed.unwrap_or(0.25);
    if !(straggler_speed.is_finite() && straggler_speed > 0.0 && straggler_speed <= 1.0) {
        return Err(loc.error(
            "nodes.straggler_speed",
            format!("expected a factor in (0, 1], got {straggler_speed}"),
            "a straggler's share of its normal bandwidth, e.g. 0.25 for a quarter speed",
        ));
    }
    let upload_slots =
        at_least_one(loc, "swarm.upload_slots", file.swarm.upload_slots, DEFAULT_UPLOAD_SLOTS, SLOTS_HINT)?;
    let egress_cap = bandwidth(loc, "security.egress_cap", file.security.egress_cap.map(|b| b.0))?;
    let slots = SlotDefaults::new(upload.min(egress_cap.unwrap_or(f64::INFINITY)), upload_slots);
    Ok(Plan {
        name,
        seed: file.seed.unwrap_or(1),
        path: path.to_path_buf(),
        strategies,
        file_bytes,
        chunk_bytes,
        chunks,
        origins: at_least_one(loc, "origin.count", o.count, 1, "the number of origin servers, e.g. count = 1")?,
        origin_upload,
        origin_slots: at_least_one(
            loc,
            "origin.upload_slots",
            o.upload_slots,
            slots.filling(origin_upload),
            SLOTS_HINT,
        )?,
        origin_region,
        nodes,
        upload,
        download,
        bandwidth_cv,
        stragglers: fraction(
            loc,
            "nodes.stragglers",
            n.stragglers,
            0.0,
            1.0 + f64::EPSILON,
            "the share of nodes that are slow, from 0 to 1, e.g. 0.05",
        )?,
        straggler_speed,
        rack_size,
        rack_uplink: bandwidth(loc, "topology.rack_uplink", t.rack_uplink.map(|b| b.0))?,
        regions,
        wan: bandwidth(loc, "topology.wan", t.wan.map(|b| b.0))?,
        wan_latency: t.wan_latency.unwrap_or(SimDuration::ZERO),
        tree_fanout: at_least_one(loc, "tree.fanout", file.tree.fanout, 2, "children per tree node, e.g. fanout = 2")?,
        upload_slots,
        download_slots: at_least_one(
            loc,
            "swarm.download_slots",
            file.swarm.download_slots,
            slots.filling(download),
            SLOTS_HINT,
        )?,
        faults: Faults {
            crashes,
            crash_from,
            crash_until,
            checksum_failure_rate: fraction(
                loc,
                "faults.checksum_failure_rate",
                f.checksum_failure_rate,
                0.0,
                1.0,
                "the chance a received chunk fails its checksum and is fetched again, e.g. 0.001",
            )?,
            origin_down,
        },
        egress_cap,
        encryption_overhead: overhead,
        fairness: file.network.fairness.unwrap_or_default(),
        resolve_every: match file.network.resolve_every {
            Some(SimDuration(0)) => {
                return Err(loc.error("network.resolve_every", "expected a duration > 0", "e.g. \"10ms\""))
            }
            other => other.unwrap_or(SimDuration::from_millis(10)),
        },
        file,
    })
}
