//! The classic station (no `[replica]`): `[servers]`, `[batching]` and
//! `[service]` resolved into a [`StationConfig`] and a [`ServiceModel`].
//!
//! Rules beyond types: options that only make sense together (`routing`
//! with per-server queues, processor sharing without batching, each service
//! model's own keys); no LLM-only key; and a queue that cannot grow forever
//! (utilization >= 1, unbounded queue, no duration).

use super::check::forbid;
use super::error::ScenarioError;
use super::locate::Locator;
use super::run::RunConfig;
use super::schema::{Discipline, RateStep, ScenarioFile, ServiceModelKind, ServiceSection};
use super::serving::Serving;
use crate::core::station::{QueueLayout, StationConfig};
use crate::model::ServiceModel;
use crate::workload::dist::Dist;
use crate::workload::{ArrivalSpec, RateSchedule};

/// The station serving a scenario without `[replica]`.
pub(super) fn resolve(
    file: &ScenarioFile,
    run: &RunConfig,
    arrivals: &ArrivalSpec,
    loc: &Locator,
) -> Result<Serving, ScenarioError> {
    forbid_llm_keys(file, loc)?;
    let station = station(file, loc)?;
    let service = service(&file.service, station.max_batch, loc)?;
    check_stability(run, arrivals, &station, &service, &file.workload.schedule, loc)?;
    Ok(Serving::Station { station, service })
}

/// Keys that only mean something for LLM serving.
fn forbid_llm_keys(file: &ScenarioFile, loc: &Locator) -> Result<(), ScenarioError> {
    let why = "only LLM serving (a `[replica]` table) uses it";
    let b = &file.batching;
    forbid(loc, "batching.policy", &b.policy, why)?;
    forbid(loc, "batching.max_batched_tokens", &b.max_batched_tokens, why)?;
    forbid(loc, "batching.chunk_tokens", &b.chunk_tokens, why)?;
    forbid(loc, "workload.prompt_tokens", &file.workload.prompt_tokens, why)?;
    forbid(loc, "workload.output_tokens", &file.workload.output_tokens, why)?;
    forbid(loc, "workload.shared_prefix", &file.workload.shared_prefix, why)?;
    forbid(loc, "workload.conversations", &file.workload.conversations, why)?;
    forbid(loc, "workload.clients", &file.workload.clients, why)?;
    forbid(loc, "engine", &file.engine, why)?;
    let kv = &file.kv;
    let any_kv = kv.block_tokens.map(|_| ()).or(kv.watermark.map(|_| ())).or(kv.preemption.map(|_| ()));
    forbid(loc, "kv", &any_kv.or(kv.prefix_cache.map(|_| ())).or(kv.max_cached_prefixes.map(|_| ())), why)?;
    forbid(loc, "disaggregation", &file.disaggregation, why)?;
    let slo = &file.slo;
    forbid(loc, "slo", &slo.ttft_p99.or(slo.tpot_p99).or(slo.e2e_p99), why)
}

fn station(file: &ScenarioFile, loc: &Locator) -> Result<StationConfig, ScenarioError> {
    let s = &file.servers;
    let servers = s.count.unwrap_or(1);
    if servers == 0 {
        return Err(loc.error("servers.count", "expected an integer >= 1, got 0", "a station needs at least one GPU"));
    }
    super::guard::count(loc, "servers.count", u64::from(servers), super::guard::MAX_SERVERS, "one server per GPU")?;
    let layout = s.queue.unwrap_or_default();
    if s.routing.is_some() && layout == QueueLayout::Shared {
        return Err(loc.error(
            "servers.routing",
            "routing only applies to `queue = \"per-server\"`",
            "a shared queue feeds every GPU; remove routing or set queue = \"per-server\"",
        ));
    }
    let max_batch = file.batching.max_batch.unwrap_or(1);
    if max_batch == 0 {
        return Err(loc.error("batching.max_batch", "expected an integer >= 1, got 0", "1 means no batching"));
    }
    let max_wait = file.batching.max_wait.unwrap_or_default();
    let processor_sharing = s.discipline.unwrap_or_default() == Discipline::ProcessorSharing;
    if processor_sharing {
        if max_batch != 1 {
            return Err(loc.error(
                "batching.max_batch",
                "processor sharing serves requests one by one; expected max_batch = 1",
                "remove max_batch or use discipline = \"fcfs\"",
            ));
        }
        if layout != QueueLayout::Shared {
            return Err(loc.error(
                "servers.queue",
                "processor sharing needs the shared queue",
                "remove queue or use discipline = \"fcfs\"",
            ));
        }
    }
    if s.queue_capacity == Some(0) && processor_sharing {
        return Err(loc.error(
            "servers.queue_capacity",
            "a processor-sharing station with capacity 0 admits nothing",
            "omit queue_capacity for unbounded",
        ));
    }
    if s.queue_capacity == Some(0) && max_batch > 1 && max_wait > crate::time::SimDuration::ZERO {
        return Err(loc.error(
            "servers.queue_capacity",
            "a batching station with capacity 0 admits nothing: a batch forms from requests waiting in the queue",
            "omit queue_capacity for unbounded, or allow at least max_batch waiting requests",
        ));
    }
    Ok(StationConfig {
        servers,
        layout,
        routing: s.routing.unwrap_or_default(),
        queue_capacity: s.queue_capacity,
        max_batch,
        max_wait,
        processor_sharing,
    })
}

fn service(s: &ServiceSection, max_batch: u32, loc: &Locator) -> Result<ServiceModel, ScenarioError> {
    let kind = s.model.unwrap_or_default();
    let dist_only = "only the distribution models (exponential, lognormal, ...) use it";
    match kind {
        ServiceModelKind::Affine => {
            forbid(loc, "service.mean", &s.mean, dist_only)?;
            forbid(loc, "service.scv", &s.scv, dist_only)?;
            forbid(loc, "service.by_batch_size", &s.by_batch_size, "only `model = \"table\"` uses it")?;
            if s.base.is_none() && s.per_item.is_none() {
                return Err(loc.error(
                    "service.base",
                    "missing: the affine model needs `base` and/or `per_item`",
                    "e.g. base = \"20ms\", per_item = \"2ms\"",
                ));
            }
            Ok(ServiceModel::Affine { base: s.base.unwrap_or_default(), per_item: s.per_item.unwrap_or_default() })
        }
        ServiceModelKind::Table => {
            forbid(loc, "service.mean", &s.mean, dist_only)?;
            forbid(loc, "service.base", &s.base, "only `model = \"affine\"` uses it")?;
            let table = s.by_batch_size.clone().unwrap_or_default();
            if table.len() < max_batch as usize {
                return Err(loc.error(
                    "service.by_batch_size",
                    format!("expected a time for every batch size 1..={max_batch}, got {}", table.len()),
                    "list one duration per batch size, e.g. [\"10ms\", \"12ms\", ...]",
                ));
            }
            Ok(ServiceModel::Table { by_batch_size: table })
        }
        dist_kind => {
            forbid(loc, "service.base", &s.base, "only `model = \"affine\"` uses it")?;
            forbid(loc, "service.per_item", &s.per_item, "only `model = \"affine\"` uses it")?;
            forbid(loc, "service.by_batch_size", &s.by_batch_size, "only `model = \"table\"` uses it")?;
            let Some(mean) = s.mean else {
                return Err(loc.error("service.mean", "missing: the mean batch time", "e.g. mean = \"10ms\""));
            };
            let mean = mean.as_secs_f64();
            let needs_scv = matches!(
                dist_kind,
                ServiceModelKind::Lognormal | ServiceModelKind::Gamma | ServiceModelKind::Hyperexponential
            );
            if !needs_scv {
                forbid(loc, "service.scv", &s.scv, "exponential has scv 1 and deterministic 0")?;
            }
            let scv = match (needs_scv, s.scv) {
                (true, None) => {
                    return Err(loc.error(
                        "service.scv",
                        "missing: the squared coefficient of variation",
                        "e.g. scv = 0.5",
                    ))
                }
                (_, v) => v.unwrap_or(1.0),
            };
            let dist = match dist_kind {
                ServiceModelKind::Exponential => Dist::Exponential { mean },
                ServiceModelKind::Deterministic => Dist::Deterministic { value: mean },
                ServiceModelKind::Lognormal => Dist::Lognormal { mean, scv },
                ServiceModelKind::Gamma => Dist::Gamma { mean, scv },
                _ => Dist::HyperExponential { mean, scv },
            };
            dist.validate().map_err(|e| {
                loc.error(
                    "service.scv",
                    e.to_string(),
                    "the variance over the squared mean: 1 is exponential, below 1 steadier, above 1 more variable",
                )
            })?;
            Ok(ServiceModel::Random(dist))
        }
    }
}

/// Offered load over capacity: λ·E[S(b)] / (c·b) with full batches of b
/// (processor sharing: λ·E[S]/c). Trace workloads use their mean rate.
fn utilization(arrivals: &ArrivalSpec, station: &StationConfig, service: &ServiceModel, horizon_s: f64) -> f64 {
    let lambda = crate::workload::ArrivalStream::mean_rate(arrivals, horizon_s);
    let b = station.max_batch;
    lambda * service.mean_batch_secs(b) / (f64::from(station.servers) * f64::from(b))
}

fn check_stability(
    run: &RunConfig,
    arrivals: &ArrivalSpec,
    station: &StationConfig,
    service: &ServiceModel,
    schedule: &[RateStep],
    loc: &Locator,
) -> Result<(), ScenarioError> {
    if run.duration.is_some() || station.queue_capacity.is_some() {
        return Ok(());
    }
    let ArrivalSpec::Renewal { rate, .. } = arrivals else { return Ok(()) };
    // The key that set the long-run rate: the latest schedule step, if any.
    let key = schedule
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.at.cmp(&b.1.at))
        .map_or("workload.rate_per_s".to_string(), |(i, _)| format!("workload.schedule[{i}].rate_per_s"));
    // Without a duration the long-run rate is the schedule's last one.
    let long_run = RateSchedule::new(rate.last_rate(), &[]);
    let spec = ArrivalSpec::Renewal { gap: Dist::Exponential { mean: 1.0 }, rate: long_run };
    let rho = utilization(&spec, station, service, 1.0);
    if rho >= 1.0 {
        return Err(loc.error(
            &key,
            format!(
                "utilization {rho:.3} >= 1 ({} req/s offered, {:.3} req/s capacity) with an unbounded queue and no run.duration: the queue would grow without limit",
                rate.last_rate(),
                rate.last_rate() / rho
            ),
            "lower the rate, add servers or batching, set servers.queue_capacity, or set run.duration",
        ));
    }
    Ok(())
}
