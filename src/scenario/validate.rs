//! Meaning checks and resolution: a [`ScenarioFile`] becomes a [`Scenario`]
//! the drivers can run, or an error that names the key and a fix.
//!
//! Rules beyond types: positive rates and counts; options that only make
//! sense together (`scv` with gamma arrivals, `routing` with per-server
//! queues, processor sharing without batching); a run that ends; a queue that
//! cannot grow forever (utilization >= 1, unbounded queue, no duration); and
//! a trace file that exists and parses.

use super::llm::LlmConfig;
use super::locate::Locator;
use super::schema::*;
use super::ScenarioError;
use crate::core::station::{QueueLayout, StationConfig};
use crate::model::ServiceModel;
use crate::time::SimDuration;
use crate::workload::dist::Dist;
use crate::workload::trace::{read_trace, TraceError, TraceRecord};
use crate::workload::{ArrivalSpec, RateSchedule};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// When arrivals stop and what is measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    pub duration: Option<SimDuration>,
    pub max_requests: Option<u64>,
    pub warmup: SimDuration,
    /// End of the measured interval (None: the end of the run). Set by
    /// replications so the run's tail (a last partial batch, the drain)
    /// does not bias the measurement.
    pub measure_until: Option<SimDuration>,
    pub drain: bool,
    pub window: Option<SimDuration>,
}

/// Replication settings for `servesim validate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationConfig {
    pub replications: u32,
    pub requests: u64,
    pub warmup_requests: u64,
}

/// A validated scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub seed: u64,
    pub path: PathBuf,
    /// The effective file (overrides applied), echoed into reports.
    pub file: ScenarioFile,
    pub run: RunConfig,
    pub arrivals: ArrivalSpec,
    pub serving: Serving,
    pub validation: ValidationConfig,
    /// The safety pipeline (LLM serving with a `[safety]` table).
    pub safety: Option<Box<super::SafetyModel>>,
}

/// What serves the requests.
#[derive(Debug, Clone)]
pub enum Serving {
    /// A classic station: requests are jobs with a batch service time.
    Station { station: StationConfig, service: ServiceModel },
    /// LLM serving: token-level requests on model replicas.
    Llm(Box<LlmConfig>),
}

fn positive_rate(loc: &Locator, key: &str, rate: f64) -> Result<f64, ScenarioError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(rate)
    } else {
        Err(loc.error(key, format!("expected a rate > 0 requests per second, got {rate}"), "e.g. rate_per_s = 50.0"))
    }
}

fn forbid<T>(loc: &Locator, key: &str, value: &Option<T>, why: &str) -> Result<(), ScenarioError> {
    match value {
        Some(_) => Err(loc.error(key, format!("not allowed here: {why}"), "remove the key")),
        None => Ok(()),
    }
}

pub(super) fn resolve(file: ScenarioFile, path: &Path, loc: &Locator) -> Result<Scenario, ScenarioError> {
    let name = match &file.name {
        Some(n) => n.clone(),
        None => path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "scenario".into()),
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || name.starts_with('.')
    {
        return Err(loc.error(
            "name",
            format!("`{name}` cannot name a report folder"),
            "use letters, digits, `-`, `_` and `.`",
        ));
    }
    super::frontdoor::check_placement(&file, loc)?;
    let arrivals = match file.tenants.is_empty() {
        true => arrivals(&file.workload, path, loc)?,
        false => super::frontdoor::aggregate_arrivals(&file),
    };
    let run = run(&file.run, &arrivals, loc)?;
    let is_trace = matches!(arrivals, ArrivalSpec::Trace { .. });
    let serving = match &file.replica {
        Some(replica) => {
            forbid_station_keys(&file, loc)?;
            Serving::Llm(Box::new(super::llm::resolve(&file, replica, is_trace, path, loc)?))
        }
        None => {
            forbid_llm_keys(&file, loc)?;
            let station = station(&file, loc)?;
            let service = service(&file.service, station.max_batch, loc)?;
            check_stability(&run, &arrivals, &station, &service, &file.workload.schedule, loc)?;
            Serving::Station { station, service }
        }
    };
    let v = &file.validation;
    let validation = ValidationConfig {
        replications: v.replications.unwrap_or(20),
        requests: v.requests.unwrap_or(50_000),
        warmup_requests: v.warmup_requests.unwrap_or(5_000),
    };
    if validation.replications < 2 {
        return Err(loc.error(
            "validation.replications",
            "expected at least 2 replications",
            "a confidence interval needs >= 2 independent runs; 20 is typical",
        ));
    }
    if validation.requests == 0 {
        return Err(loc.error("validation.requests", "expected at least 1 request per replication", ""));
    }
    let safety = match (&file.safety, &serving) {
        (None, _) => {
            if let Some(i) = file.tenants.iter().position(|t| t.safety_mix.is_some()) {
                return Err(loc.error(
                    &format!("tenants[{i}].safety_mix"),
                    "only a safety pipeline ([safety]) draws requests' traffic classes",
                    "add a [safety] table, or remove safety_mix",
                ));
            }
            None
        }
        (Some(_), Serving::Llm(llm)) if llm.frontdoor.as_ref().is_some_and(|f| f.fallback.is_some()) => {
            return Err(loc.error(
                "gateway.fallback",
                "the fallback pool does not sit behind the safety pipeline: degraded requests would skip its checks",
                "remove gateway.fallback, or the [safety] table",
            ))
        }
        (Some(s), Serving::Llm(_)) => Some(Box::new(super::safety::resolve(s, loc)?)),
        (Some(_), Serving::Station { .. }) => {
            return Err(loc.error("safety", "only LLM serving has a safety pipeline", "add a [replica] table"))
        }
    };
    Ok(Scenario {
        name,
        seed: file.seed.unwrap_or(1),
        path: path.to_path_buf(),
        file,
        run,
        arrivals,
        serving,
        validation,
        safety,
    })
}

/// `servers` and `service` describe a classic station; `[replica]` replaces them.
fn forbid_station_keys(file: &ScenarioFile, loc: &Locator) -> Result<(), ScenarioError> {
    let why = "LLM serving (`[replica]`) replaces the classic station's servers and service";
    let sv = &file.servers;
    forbid(loc, "servers", &sv.count.or(sv.queue_capacity.map(|_| 0)).map(|_| ()).or(sv.discipline.map(|_| ())), why)?;
    forbid(loc, "servers", &sv.queue.map(|_| ()).or(sv.routing.map(|_| ())), why)?;
    let se = &file.service;
    let any_service = se.model.is_some()
        || se.base.is_some()
        || se.per_item.is_some()
        || se.by_batch_size.is_some()
        || se.mean.is_some()
        || se.scv.is_some();
    forbid(loc, "service", &any_service.then_some(()), why)
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
    let kv = &file.kv;
    let any_kv = kv.block_tokens.map(|_| ()).or(kv.watermark.map(|_| ())).or(kv.preemption.map(|_| ()));
    forbid(loc, "kv", &any_kv.or(kv.prefix_cache.map(|_| ())).or(kv.max_cached_prefixes.map(|_| ())), why)?;
    forbid(loc, "disaggregation", &file.disaggregation, why)?;
    let slo = &file.slo;
    forbid(loc, "slo", &slo.ttft_p99.or(slo.tpot_p99).or(slo.e2e_p99), why)
}

/// Reads the trace at `trace` (relative to the scenario file's folder),
/// placing any error at `key`.
pub(super) fn load_trace(
    trace: &Path,
    scenario: &Path,
    loc: &Locator,
    key: &str,
) -> Result<Vec<TraceRecord>, ScenarioError> {
    let resolved = match scenario.parent() {
        Some(dir) if trace.is_relative() => dir.join(trace),
        _ => trace.to_path_buf(),
    };
    read_trace(&resolved).map_err(|e| {
        let hint = match e {
            TraceError::Io { .. } => "relative trace paths are resolved from the scenario file's folder",
            TraceError::Row { .. } | TraceError::OutOfOrder { .. } => {
                "fix or delete that row; a good row reads `2023-11-16 18:17:03.9799600,4808,10`"
            }
            _ => "a trace starts with the header `TIMESTAMP,ContextTokens,GeneratedTokens`, then one request per row",
        };
        loc.error(key, e.to_string(), hint)
    })
}

fn arrivals(w: &WorkloadSection, path: &Path, loc: &Locator) -> Result<ArrivalSpec, ScenarioError> {
    let kind = w.arrival.unwrap_or_default();
    if kind == ArrivalKind::Trace {
        forbid(
            loc,
            "workload.rate_per_s",
            &w.rate_per_s,
            "a trace sets its own arrival times (use time_scale to speed it up)",
        )?;
        forbid(loc, "workload.scv", &w.scv, "scv is for gamma arrivals")?;
        if !w.schedule.is_empty() {
            return Err(loc.error(
                "workload.schedule",
                "not allowed with a trace",
                "use time_scale to replay faster or slower",
            ));
        }
        let Some(trace) = &w.trace else {
            return Err(loc.error(
                "workload.trace",
                "missing: `arrival = \"trace\"` needs a trace file",
                "e.g. trace = \"../../shared/data/azure-llm-2023/code.csv\"",
            ));
        };
        let time_scale = w.time_scale.unwrap_or(1.0);
        if !(time_scale.is_finite() && time_scale > 0.0) {
            return Err(loc.error(
                "workload.time_scale",
                format!("expected a number > 0, got {time_scale}"),
                "2.0 replays twice as fast",
            ));
        }
        let records = load_trace(trace, path, loc, "workload.trace")?;
        return Ok(ArrivalSpec::Trace { records: Arc::new(records), time_scale });
    }
    forbid(loc, "workload.trace", &w.trace, "only `arrival = \"trace\"` reads a trace")?;
    forbid(loc, "workload.time_scale", &w.time_scale, "only trace replay has a time scale")?;
    renewal(loc, "workload", kind, w.rate_per_s, w.scv, &w.schedule)
}

/// A renewal process from the keys under `prefix` (`workload`, or a tenant).
pub(super) fn renewal(
    loc: &Locator,
    prefix: &str,
    kind: ArrivalKind,
    rate_per_s: Option<f64>,
    scv: Option<f64>,
    schedule: &[RateStep],
) -> Result<ArrivalSpec, ScenarioError> {
    let key = |k: &str| format!("{prefix}.{k}");
    let Some(rate) = rate_per_s else {
        return Err(loc.error(
            &key("rate_per_s"),
            "missing: the arrival rate in requests per second",
            "e.g. rate_per_s = 50.0",
        ));
    };
    let base = positive_rate(loc, &key("rate_per_s"), rate)?;
    let mut changes = Vec::new();
    for (i, step) in schedule.iter().enumerate() {
        let key = key(&format!("schedule[{i}].rate_per_s"));
        if !(step.rate_per_s.is_finite() && step.rate_per_s >= 0.0) {
            return Err(loc.error(&key, format!("expected a rate >= 0, got {}", step.rate_per_s), "0 pauses arrivals"));
        }
        changes.push((step.at, step.rate_per_s));
    }
    let gap = match kind {
        ArrivalKind::Poisson | ArrivalKind::Deterministic => {
            forbid(loc, &key("scv"), &scv, "scv is only for `arrival = \"gamma\"`")?;
            if kind == ArrivalKind::Poisson {
                Dist::Exponential { mean: 1.0 }
            } else {
                Dist::Deterministic { value: 1.0 }
            }
        }
        _ => {
            let Some(scv) = scv else {
                return Err(loc.error(
                    &key("scv"),
                    "missing: gamma arrivals need the gaps' squared coefficient of variation",
                    "scv = 1 is Poisson; 4 is bursty",
                ));
            };
            let gap = Dist::Gamma { mean: 1.0, scv };
            gap.validate().map_err(|e| loc.error(&key("scv"), e.to_string(), ""))?;
            gap
        }
    };
    Ok(ArrivalSpec::Renewal { gap, rate: RateSchedule::new(base, &changes) })
}

fn station(file: &ScenarioFile, loc: &Locator) -> Result<StationConfig, ScenarioError> {
    let s = &file.servers;
    let servers = s.count.unwrap_or(1);
    if servers == 0 {
        return Err(loc.error("servers.count", "expected an integer >= 1, got 0", "a station needs at least one GPU"));
    }
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
            dist.validate().map_err(|e| loc.error("service.scv", e.to_string(), ""))?;
            Ok(ServiceModel::Random(dist))
        }
    }
}

fn run(r: &RunSection, arrivals: &ArrivalSpec, loc: &Locator) -> Result<RunConfig, ScenarioError> {
    if r.duration == Some(SimDuration::ZERO) {
        return Err(loc.error("run.duration", "expected a duration > 0", "e.g. duration = \"10m\""));
    }
    if r.max_requests == Some(0) {
        return Err(loc.error("run.max_requests", "expected an integer >= 1", ""));
    }
    if r.window == Some(SimDuration::ZERO) {
        return Err(loc.error("run.window", "expected a duration > 0", "e.g. window = \"1s\"; omit for automatic"));
    }
    let is_trace = matches!(arrivals, ArrivalSpec::Trace { .. });
    if r.duration.is_none() && r.max_requests.is_none() && !is_trace {
        return Err(loc.error(
            "run.duration",
            "missing: arrivals would never stop",
            "set run.duration (e.g. \"10m\") or run.max_requests",
        ));
    }
    if r.drain == Some(false) && r.duration.is_none() {
        return Err(loc.error(
            "run.drain",
            "`drain = false` stops the run at run.duration, which is not set",
            "set run.duration, or remove drain to run until every request finishes",
        ));
    }
    Ok(RunConfig {
        duration: r.duration,
        max_requests: r.max_requests,
        warmup: r.warmup.unwrap_or_default(),
        measure_until: None,
        drain: r.drain.unwrap_or(true),
        window: r.window,
    })
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
