//! Resolving a fleet: `[[regions]]` and their `[[regions.pools]]`, the
//! `[[rtt]]` matrix, `[[populations]]` and `[fleet]`.
//!
//! Each pool is resolved by the same resolver as `[replica]` (with the
//! scenario's `[batching]`, `[engine]`, `[kv]` and `[slo]`), so a fleet's
//! pool can be nothing a single-pool scenario could not be. What the fleet
//! adds is checked here, each error at its key: a model or GPU no profile
//! describes (from the pool resolver), two regions without an RTT between
//! them, a population drawing users from an undefined region, or asking
//! for a model no pool serves, a failure naming an unknown region or pool,
//! ending before it starts, starting after the run, or taking down more
//! than its pool holds, and `mtbf` without `mttr`.

use super::check::{forbid, token_sizes};
use super::error::ScenarioError;
use super::llm;
use super::locate::Locator;
use super::schema::{
    BatchingPolicy, FailureKind, FailureSection, FleetMethod, FleetSection, PoolSection, PopulationSection,
    ReplicaSection, ScenarioFile, WorkloadSection,
};
use super::serving::{Failure, FleetConfig, FleetPool, Population, Region};
use super::workload;
use crate::model::failure::{FailureModel, Reliability};
use crate::time::SimDuration;
use crate::workload::{ArrivalSpec, ArrivalStream, RateSchedule};
use std::collections::BTreeMap;
use std::path::Path;

/// The fleet, and the arrivals of all its populations together (exactly
/// the one population's, when there is one) for the run's limits and the
/// timeline's width.
pub(super) fn resolve(
    file: &ScenarioFile,
    source: llm::Source,
    loc: &Locator,
) -> Result<(FleetConfig, ArrivalSpec), ScenarioError> {
    forbid_single_pool_keys(file, loc)?;
    let regions = regions(file, loc)?;
    let mut models: Vec<String> = Vec::new();
    let mut pools = Vec::new();
    let section = file.fleet.clone().unwrap_or_default();
    let node = reliability(section.node_mtbf, section.node_mttr, "fleet.", "node_", loc)?;
    let rack = reliability(section.rack_mtbf, section.rack_mttr, "fleet.", "rack_", loc)?;
    for (i, region) in file.regions.iter().enumerate() {
        for (j, p) in region.pools.iter().enumerate() {
            let at = format!("regions[{i}].pools[{j}]");
            let mut llm = llm::fleet_pool(file, &replica_section(file, p), &at, source, loc)?;
            llm.price_per_gpu_hour_usd *= regions[i].gpu_price_multiplier;
            let model = match models.iter().position(|m| *m == p.model) {
                Some(m) => m,
                None => {
                    models.push(p.model.clone());
                    models.len() - 1
                }
            };
            let nodes_per_rack = nodes_per_rack(file, loc)?;
            let gpu = reliability(p.mtbf, p.mttr, &format!("{at}."), "", loc)?;
            if gpu.is_some() && file.run.duration.is_none() {
                return Err(loc.error(
                    &format!("{at}.mtbf"),
                    "random failures are drawn over a run of known length",
                    "set run.duration, e.g. duration = \"1h\"",
                ));
            }
            let failures = gpu.map(|gpu| FailureModel {
                gpu,
                gpus_per_node: GPUS_PER_NODE,
                nodes_per_rack,
                racks_per_zone: 1,
                node,
                rack,
                zone: None,
            });
            pools.push(FleetPool { region: i, model, llm, failures });
        }
    }
    if pools.is_empty() {
        return Err(loc.error(
            "regions",
            "no region holds a pool: nothing would serve",
            "add a pool: [[regions.pools]] model = \"llama-3-8b\", gpu = \"h100-sxm\", replicas = 4",
        ));
    }
    let rtt = rtt(file, &regions, loc)?;
    if file.populations.is_empty() {
        return Err(loc.error(
            "populations",
            "missing: a fleet's requests come from its populations",
            "add [[populations]] with a name, regions, models and a workload",
        ));
    }
    let mut populations: Vec<Population> = Vec::new();
    for (i, p) in file.populations.iter().enumerate() {
        if populations.iter().any(|q| q.name == p.name) {
            return Err(loc.error(
                &format!("populations[{i}].name"),
                format!("`{}` is used twice", p.name),
                "give each population its own name",
            ));
        }
        populations.push(population(p, i, &regions, &models, source.path, loc)?);
    }
    let f = &section;
    let spillover = f.spillover_outstanding_per_replica.unwrap_or(64.0);
    if !(spillover.is_finite() && spillover > 0.0) {
        return Err(loc.error(
            "fleet.spillover_outstanding_per_replica",
            format!("expected a number > 0, got {spillover}"),
            "requests per replica in the nearest pool before traffic spills to the next region, e.g. 64",
        ));
    }
    let bytes_per_token = f.bytes_per_token.unwrap_or(4.0);
    if !(bytes_per_token.is_finite() && bytes_per_token >= 0.0) {
        return Err(loc.error(
            "fleet.bytes_per_token",
            format!("expected bytes >= 0, got {bytes_per_token}"),
            "about 4 bytes of text per token",
        ));
    }
    let detection =
        f.health_check_interval.unwrap_or(SimDuration::from_secs(10)) + f.dns_ttl.unwrap_or(SimDuration::from_secs(30));
    let failures = file
        .failures
        .iter()
        .enumerate()
        .map(|(k, failure)| resolve_failure(file, failure, k, &regions, &models, &pools, loc))
        .collect::<Result<Vec<_>, _>>()?;
    let arrivals = match populations.as_slice() {
        [one] => one.arrivals.clone(),
        all => {
            let horizon = file.run.duration.map_or(0.0, SimDuration::as_secs_f64);
            let rate: f64 = all.iter().map(|p| ArrivalStream::mean_rate(&p.arrivals, horizon)).sum();
            ArrivalSpec::Renewal {
                gap: crate::workload::dist::Dist::Exponential { mean: 1.0 },
                rate: RateSchedule::new(rate.max(f64::MIN_POSITIVE), &[]),
            }
        }
    };
    let performability = performability(file, f, &pools, loc)?;
    let fleet = FleetConfig {
        regions,
        pools,
        models,
        rtt,
        populations,
        spillover_outstanding_per_replica: spillover,
        bytes_per_token,
        detection,
        failures,
        performability,
    };
    Ok((fleet, arrivals))
}

/// A fleet replaces `[replica]` and `[workload]`'s arrivals; the front
/// door and disaggregated pools do not sit in front of a fleet yet (nor
/// the safety pipeline, which its own resolver refuses).
fn forbid_single_pool_keys(file: &ScenarioFile, loc: &Locator) -> Result<(), ScenarioError> {
    forbid(loc, "replica", &file.replica, "a fleet's pools are its [[regions.pools]]")?;
    let why = "a fleet's users are its [[populations]], each with its own workload";
    let w = &file.workload;
    let any_workload = w.arrival.is_some()
        || w.rate_per_s.is_some()
        || w.scv.is_some()
        || !w.schedule.is_empty()
        || w.trace.is_some()
        || w.time_scale.is_some()
        || w.prompt_tokens.is_some()
        || w.output_tokens.is_some()
        || w.shared_prefix.is_some()
        || w.conversations.is_some()
        || w.clients.is_some();
    forbid(loc, "workload", &any_workload.then_some(()), why)?;
    let not_yet = "a fleet has no front door or disaggregated pools yet";
    forbid(loc, "tenants", &(!file.tenants.is_empty()).then_some(()), not_yet)?;
    forbid(loc, "disaggregation", &file.disaggregation, not_yet)?;
    if file.batching.policy == Some(BatchingPolicy::Disaggregated) {
        return Err(loc.error(
            "batching.policy",
            format!("not allowed here: {not_yet}"),
            "use \"continuous\" or \"chunked-prefill\"",
        ));
    }
    Ok(())
}

/// `[[regions]]`: unique names, prices >= 0.
fn regions(file: &ScenarioFile, loc: &Locator) -> Result<Vec<Region>, ScenarioError> {
    let mut regions: Vec<Region> = Vec::new();
    for (i, r) in file.regions.iter().enumerate() {
        if r.name.is_empty() || regions.iter().any(|q| q.name == r.name) {
            return Err(loc.error(
                &format!("regions[{i}].name"),
                format!("`{}` is empty or used twice", r.name),
                "give each region its own name, e.g. \"us-east\"",
            ));
        }
        let multiplier = r.gpu_price_multiplier.unwrap_or(1.0);
        if !(multiplier.is_finite() && multiplier >= 0.0) {
            return Err(loc.error(
                &format!("regions[{i}].gpu_price_multiplier"),
                format!("expected a number >= 0, got {multiplier}"),
                "1.0 keeps the GPU profile's price",
            ));
        }
        let egress = r.egress_usd_per_gb.unwrap_or(0.0);
        if !(egress.is_finite() && egress >= 0.0) {
            return Err(loc.error(
                &format!("regions[{i}].egress_usd_per_gb"),
                format!("expected dollars >= 0, got {egress}"),
                "e.g. 0.02 between cloud regions",
            ));
        }
        regions.push(Region { name: r.name.clone(), gpu_price_multiplier: multiplier, egress_usd_per_gb: egress });
    }
    Ok(regions)
}

/// The `[replica]` a fleet pool stands for, so the single-pool resolver
/// resolves it.
fn replica_section(file: &ScenarioFile, p: &PoolSection) -> ReplicaSection {
    ReplicaSection {
        gpu: p.gpu.clone(),
        model: p.model.clone(),
        tp: p.tp,
        count: p.replicas,
        routing: p.routing,
        activation_reserve: p.activation_reserve,
        price_per_gpu_hour_usd: None,
        profiles: file.fleet.as_ref().and_then(|f| f.profiles.clone()),
        queue_capacity: p.queue_capacity,
        calibrated: None,
    }
}

/// `[[rtt]]`: a symmetric matrix with every pair of regions given once.
fn rtt(file: &ScenarioFile, regions: &[Region], loc: &Locator) -> Result<Vec<Vec<SimDuration>>, ScenarioError> {
    let n = regions.len();
    let mut matrix: Vec<Vec<Option<SimDuration>>> = vec![vec![None; n]; n];
    let index = |name: &str| regions.iter().position(|r| r.name == name);
    for (k, e) in file.rtt.iter().enumerate() {
        let mut ends = [0; 2];
        for (side, name) in e.between.iter().enumerate() {
            ends[side] = index(name).ok_or_else(|| {
                loc.error(
                    &format!("rtt[{k}].between"),
                    format!("no region is named `{name}`"),
                    format!("regions: {}", names(regions)),
                )
            })?;
        }
        let [a, b] = ends;
        if a == b || matrix[a][b].is_some() {
            return Err(loc.error(
                &format!("rtt[{k}].between"),
                format!(
                    "`{}` and `{}`: {}",
                    e.between[0],
                    e.between[1],
                    if a == b { "a region's RTT to itself is 0" } else { "given twice" }
                ),
                "give each pair of different regions once",
            ));
        }
        matrix[a][b] = Some(e.rtt);
        matrix[b][a] = Some(e.rtt);
    }
    let mut rtt = vec![vec![SimDuration::ZERO; n]; n];
    for a in 0..n {
        for b in 0..n {
            if a == b {
                continue;
            }
            let Some(d) = matrix[a][b] else {
                let (x, y) = (&regions[a].name, &regions[b].name);
                return Err(loc.error(
                    if file.rtt.is_empty() { "regions".to_string() } else { "rtt".to_string() }.as_str(),
                    format!("the RTT matrix has no entry between `{x}` and `{y}`"),
                    format!("add [[rtt]] between = [\"{x}\", \"{y}\"], rtt = \"80ms\""),
                ));
            };
            rtt[a][b] = d;
        }
    }
    Ok(rtt)
}

fn names<'a>(items: impl IntoIterator<Item = &'a Region>) -> String {
    items.into_iter().map(|r| format!("`{}`", r.name)).collect::<Vec<_>>().join(", ")
}

/// A population: its mixes over defined regions and served models, its
/// arrivals and sizes resolved as `[workload]`'s, at its own keys.
fn population(
    p: &PopulationSection,
    i: usize,
    regions: &[Region],
    models: &[String],
    path: &Path,
    loc: &Locator,
) -> Result<Population, ScenarioError> {
    let at = format!("populations[{i}]");
    let region_mix = mix(
        loc,
        &format!("{at}.regions"),
        &p.regions,
        |name| regions.iter().position(|r| r.name == name),
        || format!("regions: {}", names(regions)),
    )?;
    let model_mix = mix(
        loc,
        &format!("{at}.models"),
        &p.models,
        |name| models.iter().position(|m| m == name),
        || {
            let served = models.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
            format!("no pool serves it; models served: {served} (add a pool of it to a region, or drop it here)")
        },
    )?;
    let w = &p.workload;
    let wkey = format!("{at}.workload");
    let why = "a fleet's populations send single requests on an arrival clock";
    forbid(loc, &format!("{wkey}.clients"), &w.clients, why)?;
    forbid(loc, &format!("{wkey}.conversations"), &w.conversations, why)?;
    forbid(loc, &format!("{wkey}.shared_prefix"), &w.shared_prefix, why)?;
    let moved = |e: ScenarioError| match e.key.strip_prefix("workload") {
        Some(rest) => loc.error(&format!("{wkey}{rest}"), e.message, e.hint.unwrap_or_default()),
        None => e,
    };
    let arrivals = workload::arrivals(w, path, loc).map_err(moved)?;
    let sizes = match arrivals {
        ArrivalSpec::Trace { .. } => {
            forbid(loc, &format!("{wkey}.prompt_tokens"), &w.prompt_tokens, "a trace carries its own token counts")?;
            forbid(loc, &format!("{wkey}.output_tokens"), &w.output_tokens, "a trace carries its own token counts")?;
            None
        }
        _ => Some(sizes(w, &wkey, path, loc)?),
    };
    Ok(Population { name: p.name.clone(), arrivals, sizes, regions: region_mix, models: model_mix })
}

fn sizes(
    w: &WorkloadSection,
    wkey: &str,
    path: &Path,
    loc: &Locator,
) -> Result<(crate::workload::tokens::TokenSizes, crate::workload::tokens::TokenSizes), ScenarioError> {
    Ok((
        token_sizes(loc, &format!("{wkey}.prompt_tokens"), &w.prompt_tokens, Some(|r| r.prompt_tokens), path)?,
        token_sizes(loc, &format!("{wkey}.output_tokens"), &w.output_tokens, Some(|r| r.output_tokens), path)?,
    ))
}

/// A mix `{ name = share }` as `(index, cumulative share)`, in the map's
/// (name) order; each name must be known to `find`, each share >= 0, and
/// some share > 0.
fn mix(
    loc: &Locator,
    key: &str,
    shares: &BTreeMap<String, f64>,
    find: impl Fn(&str) -> Option<usize>,
    unknown_hint: impl Fn() -> String,
) -> Result<Vec<(usize, f64)>, ScenarioError> {
    let total: f64 = shares.values().filter(|s| s.is_finite() && **s >= 0.0).sum();
    let mut cumulative = 0.0;
    let mut out = Vec::with_capacity(shares.len());
    for (name, &share) in shares {
        let Some(index) = find(name) else {
            return Err(loc.error(&format!("{key}.{name}"), format!("`{name}` is not defined"), unknown_hint()));
        };
        if !(share.is_finite() && share >= 0.0) {
            return Err(loc.error(
                &format!("{key}.{name}"),
                format!("expected a share >= 0, got {share}"),
                "shares are normalized: { a = 3, b = 1 } sends 75% to a",
            ));
        }
        cumulative += share / total;
        out.push((index, cumulative));
    }
    match out.last_mut() {
        Some(last) if total > 0.0 => last.1 = 1.0,
        _ => return Err(loc.error(key, "expected at least one share > 0", "e.g. { \"us-east\" = 1 }")),
    }
    Ok(out)
}

/// GPUs per node: the failure domains' first level.
const GPUS_PER_NODE: u32 = 8;

/// `[fleet] nodes_per_rack`, at least 1.
fn nodes_per_rack(file: &ScenarioFile, loc: &Locator) -> Result<u32, ScenarioError> {
    match file.fleet.as_ref().and_then(|f| f.nodes_per_rack).unwrap_or(4) {
        0 => Err(loc.error("fleet.nodes_per_rack", "expected at least 1 node per rack", "e.g. nodes_per_rack = 4")),
        n => Ok(n),
    }
}

/// A component's reliability from the keys `{table}{level}mtbf` and
/// `{table}{level}mttr` (a pool's GPUs, `[fleet]`'s nodes or racks):
/// both together, both > 0.
fn reliability(
    mtbf: Option<SimDuration>,
    mttr: Option<SimDuration>,
    table: &str,
    level: &str,
    loc: &Locator,
) -> Result<Option<Reliability>, ScenarioError> {
    let (mtbf_key, mttr_key) = (format!("{table}{level}mtbf"), format!("{table}{level}mttr"));
    match (mtbf, mttr) {
        (None, None) => Ok(None),
        (Some(mtbf), Some(mttr)) if mtbf > SimDuration::ZERO && mttr > SimDuration::ZERO => {
            Ok(Some(Reliability { mtbf, mttr }))
        }
        (Some(_), Some(_)) => Err(loc.error(
            &mtbf_key,
            "expected durations > 0",
            format!("e.g. {level}mtbf = \"2000h\", {level}mttr = \"4h\""),
        )),
        (Some(_), None) => Err(loc.error(
            &mtbf_key,
            format!("`{level}mtbf` without `{level}mttr`: a failed component would never be repaired"),
            format!("add {level}mttr = \"4h\" (mean time to repair)"),
        )),
        (None, Some(_)) => Err(loc.error(
            &mttr_key,
            format!("`{level}mttr` without `{level}mtbf`: components that never fail are never repaired"),
            format!("add {level}mtbf = \"2000h\" (mean time between failures), or drop {level}mttr"),
        )),
    }
}

/// `[fleet] method` and `level_run`: the level run's length for a
/// performability run, which needs random failures to decompose, no
/// scheduled ones, and demand that does not change over the run (each
/// level is measured under one demand).
fn performability(
    file: &ScenarioFile,
    f: &FleetSection,
    pools: &[FleetPool],
    loc: &Locator,
) -> Result<Option<SimDuration>, ScenarioError> {
    if f.method != Some(FleetMethod::Performability) {
        forbid(loc, "fleet.level_run", &f.level_run, "only `method = \"performability\"` runs capacity levels")?;
        return Ok(None);
    }
    let why = "a performability run decomposes random failures";
    if pools.iter().all(|p| p.failures.is_none()) {
        return Err(loc.error(
            "fleet.method",
            format!("{why}, and no pool fails at random"),
            "give a pool mtbf and mttr, e.g. mtbf = \"50000h\", mttr = \"8h\", or drop method",
        ));
    }
    forbid(
        loc,
        "failures",
        &(!file.failures.is_empty()).then_some(()),
        &format!("{why}; scheduled failures need method = \"request-level\""),
    )?;
    for (i, p) in file.populations.iter().enumerate() {
        let w = &p.workload;
        let why = "a performability run measures each capacity level under one steady demand";
        forbid(loc, &format!("populations[{i}].workload.schedule"), &(!w.schedule.is_empty()).then_some(()), why)?;
        forbid(loc, &format!("populations[{i}].workload.trace"), &w.trace, why)?;
    }
    match f.level_run.unwrap_or(SimDuration::from_secs(60)) {
        SimDuration::ZERO => Err(loc.error(
            "fleet.level_run",
            "expected a duration > 0",
            "each capacity level's request-level run, e.g. level_run = \"60s\"",
        )),
        run => Ok(Some(run)),
    }
}

/// `[[failures]]` entry `k`: its target resolved, its interval inside the
/// run, and the replicas it takes down.
fn resolve_failure(
    file: &ScenarioFile,
    f: &FailureSection,
    k: usize,
    regions: &[Region],
    models: &[String],
    pools: &[FleetPool],
    loc: &Locator,
) -> Result<Failure, ScenarioError> {
    let at = format!("failures[{k}]");
    let key = |name: &str| format!("{at}.{name}");
    let need = |name: &str, value: Option<SimDuration>, hint: &str| {
        value.ok_or_else(|| loc.error(&key(name), format!("missing: a {:?} needs `{name}`", f.kind), hint))
    };
    let Some(run) = file.run.duration else {
        return Err(loc.error(
            "run.duration",
            "missing: failures are placed in a run of known length",
            "e.g. duration = \"20m\"",
        ));
    };
    let (region, pool, from, to, when) = match f.kind {
        FailureKind::RegionOutage => {
            let name = f.region.as_deref().ok_or_else(|| {
                loc.error(&key("region"), "missing: which region goes down", format!("regions: {}", names(regions)))
            })?;
            let region = regions.iter().position(|r| r.name == name).ok_or_else(|| {
                loc.error(
                    &key("region"),
                    format!("no region is named `{name}`"),
                    format!("regions: {}", names(regions)),
                )
            })?;
            let from = need("from", f.from, "from = \"5m\" (into the run)")?;
            let to = need("to", f.to, "to = \"15m\"")?;
            (region, None, from, to, "from")
        }
        FailureKind::ReplicaLoss | FailureKind::RackLoss => {
            let pool = find_pool(f.pool.as_deref(), &key("pool"), regions, models, pools, loc)?;
            let from = need("at", f.at, "at = \"5m\" (into the run)")?;
            let to = from + need("repair_after", f.repair_after, "repair_after = \"10m\"")?;
            (pools[pool].region, Some(pool), from, to, "at")
        }
    };
    if from >= to {
        let end = if f.kind == FailureKind::RegionOutage { "to" } else { "repair_after" };
        return Err(loc.error(
            &key(end),
            "the failure ends before it starts",
            "a failure lasts a while: `to` after `from`, `repair_after` > 0",
        ));
    }
    if from >= run {
        return Err(loc.error(
            &key(when),
            format!("starts at {:.0} s, after the run ends ({:.0} s)", from.as_secs_f64(), run.as_secs_f64()),
            "place the failure inside the run, or lengthen run.duration",
        ));
    }
    let replicas = match (f.kind, pool) {
        (FailureKind::ReplicaLoss, Some(p)) => {
            let have = pools[p].llm.replicas;
            let count = f.count.unwrap_or(1);
            if count == 0 || count > have {
                return Err(loc.error(
                    &key("count"),
                    format!("expected 1..={have} replicas (the pool's size), got {count}"),
                    "lose fewer replicas, or use a region_outage for all of them",
                ));
            }
            (0..count).map(|r| (p, r)).collect()
        }
        (FailureKind::RackLoss, Some(p)) => {
            let llm = &pools[p].llm;
            let per_rack = u64::from(GPUS_PER_NODE) * u64::from(nodes_per_rack(file, loc)?);
            let gpus = u64::from(llm.replicas) * u64::from(llm.tp);
            let racks = gpus.div_ceil(per_rack);
            let rack = u64::from(f.rack.unwrap_or(0));
            if rack >= racks {
                return Err(loc.error(
                    &key("rack"),
                    format!("the pool's {gpus} GPUs fill {racks} rack(s) of {per_rack} GPUs; there is no rack {rack}"),
                    format!("racks are numbered from 0: pick one below {racks}, or change [fleet] nodes_per_rack"),
                ));
            }
            let tp = u64::from(llm.tp.max(1));
            let (first, last) = (rack * per_rack, ((rack + 1) * per_rack).min(gpus));
            (first / tp..last.div_ceil(tp)).map(|r| (p, r as u32)).collect()
        }
        _ => pools
            .iter()
            .enumerate()
            .filter(|(_, q)| q.region == region)
            .flat_map(|(p, q)| (0..q.llm.replicas).map(move |r| (p, r)))
            .collect(),
    };
    Ok(Failure { kind: f.kind, region, pool, from, to: to.min(run), replicas })
}

/// The pool a failure names as "region/model".
fn find_pool(
    name: Option<&str>,
    key: &str,
    regions: &[Region],
    models: &[String],
    pools: &[FleetPool],
    loc: &Locator,
) -> Result<usize, ScenarioError> {
    let all = || {
        let list: Vec<String> =
            pools.iter().map(|p| format!("\"{}/{}\"", regions[p.region].name, models[p.model])).collect();
        format!("pools: {}", list.join(", "))
    };
    let name = name.ok_or_else(|| loc.error(key, "missing: which pool", all()))?;
    pools
        .iter()
        .position(|p| name.split_once('/') == Some((regions[p.region].name.as_str(), models[p.model].as_str())))
        .ok_or_else(|| loc.error(key, format!("no pool is `{name}` (\"region/model\")"), all()))
}
