//! Resolving a fleet pool's `autoscale` table, with `[fleet.cold_start]`
//! (how its replicas start, its warm pool) and `[fleet] static_peak`.
//!
//! Checked here, each error at its key: `min_replicas` above
//! `max_replicas`, a starting count (`replicas`) outside `[min, max]`, a
//! warm pool larger than `max_replicas`, a target or interval that is not
//! positive, a tolerance outside `[0, 1)`, bandwidths that are not
//! positive, and an autoscaled pool in a run of unknown length.

use super::error::ScenarioError;
use super::locate::Locator;
use super::schema::{AutoscaleSection, ColdStartSection, FleetSection, PoolSection, ScaleMetric};
use crate::model::units::Bandwidth;
use crate::model::weight_strategy::Strategy;
use crate::time::SimDuration;

/// A pool's autoscaler, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Autoscale {
    /// Replicas serving at the start (`replicas`).
    pub initial: u32,
    pub min: u32,
    /// The pool's slots.
    pub max: u32,
    pub metric: ScaleMetric,
    pub target: f64,
    pub interval: SimDuration,
    pub tolerance: f64,
    pub scale_up_window: SimDuration,
    pub scale_down_window: SimDuration,
    pub cooldown: SimDuration,
    /// Warm nodes kept (at most `max`).
    pub warm_pool: u32,
    pub cold_start: ColdStart,
}

/// How a new replica starts, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdStart {
    pub provision: SimDuration,
    pub container_start: SimDuration,
    pub strategy: Strategy,
    pub origin_upload: Bandwidth,
    pub node_bandwidth: Bandwidth,
    /// What each node downloads: the model's weights (every node of a
    /// replica holds the whole checkpoint and loads its GPUs' shards).
    pub weight_bytes: u64,
    /// Copying a GPU's shard from host memory: weight bytes / tp over the
    /// GPU's PCIe bandwidth (the GPUs of a replica load at once).
    pub load: SimDuration,
    pub cache_ttl: SimDuration,
}

/// The pool's autoscaler (None for a fixed pool), for the pool at `at`
/// with `weight_bytes` of weights on GPUs of `pcie` bytes/s; `fleet` is
/// the `[fleet]` section (its cold start, warm pool and static peak).
pub(super) fn resolve(
    p: &PoolSection,
    at: &str,
    fleet: &FleetSection,
    weight_bytes: u64,
    tp: u32,
    pcie: f64,
    loc: &Locator,
) -> Result<Option<Autoscale>, ScenarioError> {
    let Some(a) = &p.autoscale else { return Ok(None) };
    let key = |name: &str| format!("{at}.autoscale.{name}");
    let initial = p.replicas.unwrap_or(1);
    let AutoscaleSection { min_replicas, max_replicas, .. } = a;
    let max = max_replicas.ok_or_else(|| {
        loc.error(&key("max_replicas"), "missing: the most replicas the pool may run", "e.g. max_replicas = 16")
    })?;
    let min = min_replicas.unwrap_or(initial);
    if min == 0 {
        return Err(loc.error(
            &key("min_replicas"),
            "expected at least 1 replica",
            "the autoscaler scales from the serving replicas' metric: keep one serving",
        ));
    }
    if min > max {
        return Err(loc.error(
            &key("min_replicas"),
            format!("min_replicas ({min}) is above max_replicas ({max})"),
            "min_replicas <= max_replicas",
        ));
    }
    if !(min..=max).contains(&initial) {
        return Err(loc.error(
            &format!("{at}.replicas"),
            format!("the pool starts with {initial} replicas, outside [{min}, {max}]"),
            "with autoscale, replicas is the starting count: between min_replicas and max_replicas",
        ));
    }
    let c = fleet.cold_start.clone().unwrap_or_default();
    let warm_pool = c.warm_pool.unwrap_or(0);
    if warm_pool > max {
        return Err(loc.error(
            "fleet.cold_start.warm_pool",
            format!("{warm_pool} warm nodes, but pool {at} has {max} slots (its max_replicas)"),
            "a warm node is a slot provisioned ahead: at most the smallest max_replicas",
        ));
    }
    let metric = a.metric.unwrap_or(ScaleMetric::Utilization);
    let target = a.target.ok_or_else(|| {
        loc.error(&key("target"), format!("missing: the {} to keep", metric.name()), "e.g. target = 0.7")
    })?;
    let bounded = matches!(metric, ScaleMetric::Utilization | ScaleMetric::KvUse);
    if !(target.is_finite() && target > 0.0) || (bounded && target > 1.0) {
        let range = if bounded { "in (0, 1]" } else { "> 0" };
        return Err(loc.error(
            &key("target"),
            format!("expected a {} target {range}, got {target}", metric.name()),
            "e.g. 0.7 for utilization or kv_use, 4 for queue_depth, 8 for concurrency",
        ));
    }
    let interval = a.interval.unwrap_or(SimDuration::from_secs(15));
    if interval == SimDuration::ZERO {
        return Err(loc.error(&key("interval"), "expected an interval > 0", "e.g. interval = \"15s\""));
    }
    let tolerance = a.tolerance.unwrap_or(0.1);
    if !(tolerance.is_finite() && (0.0..1.0).contains(&tolerance)) {
        return Err(loc.error(
            &key("tolerance"),
            format!("expected a tolerance in [0, 1), got {tolerance}"),
            "Kubernetes' default is 0.1",
        ));
    }
    let cold_start = cold_start(c, weight_bytes, tp, pcie, loc)?;
    // Static peak provisioning: the same slots, all serving all the time.
    let (initial, min) = match fleet.static_peak.unwrap_or(false) {
        true => (max, max),
        false => (initial, min),
    };
    Ok(Some(Autoscale {
        initial,
        min,
        max,
        metric,
        target,
        interval,
        tolerance,
        scale_up_window: a.scale_up_window.unwrap_or(SimDuration::ZERO),
        scale_down_window: a.scale_down_window.unwrap_or(SimDuration::from_secs(300)),
        cooldown: a.cooldown.unwrap_or(SimDuration::ZERO),
        warm_pool,
        cold_start,
    }))
}

fn cold_start(
    c: ColdStartSection,
    weight_bytes: u64,
    tp: u32,
    pcie: f64,
    loc: &Locator,
) -> Result<ColdStart, ScenarioError> {
    let bandwidth = |name: &str, value: Option<Bandwidth>, default: f64| {
        let Bandwidth(v) = value.unwrap_or(Bandwidth(default));
        match v.is_finite() && v >= 1e3 {
            true => Ok(Bandwidth(v)),
            false => Err(loc.error(
                &format!("fleet.cold_start.{name}"),
                format!("expected a bandwidth of at least 1 kB/s, got {v} bytes/s"),
                "e.g. \"100Gbps\"",
            )),
        }
    };
    let shard = weight_bytes as f64 / f64::from(tp.max(1));
    Ok(ColdStart {
        provision: c.provision.unwrap_or(SimDuration::from_secs(120)),
        container_start: c.container_start.unwrap_or(SimDuration::from_secs(30)),
        strategy: c.weight_strategy.unwrap_or(Strategy::FanOut),
        origin_upload: bandwidth("origin_upload", c.origin_upload, 100e9 / 8.0)?,
        node_bandwidth: bandwidth("node_bandwidth", c.node_bandwidth, 50e9 / 8.0)?,
        weight_bytes,
        load: SimDuration::from_secs_f64(shard / pcie),
        cache_ttl: c.cache_ttl.unwrap_or(SimDuration::from_secs(1800)),
    })
}
