//! Resolving an LLM-serving pool (`[replica]`, the front door's
//! `gateway.fallback`, or a fleet's `[[regions.pools]]`): profiles are looked up, the step-time model and KV
//! capacity computed, and every policy knob checked (`[batching]`, `[kv]`,
//! `[slo]`, `[disaggregation]`, the workload's sizes, shared prefixes and
//! conversations), so a run never starts on an impossible replica.

use super::check::{forbid, token_sizes};
use super::engine::{self, Scheduling};
use super::error::ScenarioError;
use super::guard;
use super::locate::Locator;
use super::schema::{BatchingPolicy, KvSection, PrefixCacheMode, ReplicaSection, ScenarioFile};
use super::serving::LlmConfig;
use crate::core::llm::{Disaggregation, Policy, PrefixCacheConfig, PrefixEviction, ReplicaConfig};
use crate::metrics::llm::Slo;
use crate::model::profile::{CalibratedProfile, GpuMemory, GpuProfile, ModelProfile, ProfileError};
use crate::model::profile_lookup::ProfileLookup;
use crate::model::step::{self, StepModel};
use crate::time::SimDuration;
use crate::workload::conversations::ConversationSpec;
use crate::workload::prefixes::SharedPrefix;
use std::path::Path;

/// A profile problem, placed at the scenario key that chose it.
fn profile_error(loc: &Locator, key: &str, e: ProfileError) -> ScenarioError {
    let (key, hint) = match (&e, e.key()) {
        (ProfileError::Replica { .. }, "tp") => {
            ("replica.tp", "pick a tp that divides the model's heads and fits its weights")
        }
        (ProfileError::Replica { .. }, "activation_reserve_fraction") => {
            ("replica.activation_reserve", "a fraction such as 0.1")
        }
        (ProfileError::NotFound { .. }, _) => (
            key,
            "`servesim profiles` lists every profile; add your own in a profiles folder beside the scenario, \
             name one with the replica's `profiles` key, or pass --profiles DIR",
        ),
        (ProfileError::Value { .. } | ProfileError::Read { .. }, _) => (key, "fix the profile file named above"),
        _ => (key, "check the replica's gpu, model and tp"),
    };
    loc.error(key, e.to_string(), hint)
}

/// A step-model error of an engine replica: one about expert parallelism
/// placed at `engine.moe_ep`, others as [`profile_error`] places them.
fn moe_ep_error(loc: &Locator, e: ProfileError, calibrated: bool) -> ScenarioError {
    match e.key() {
        "moe_ep" => loc.error(
            "engine.moe_ep",
            e.to_string(),
            "name a calibrated profile with the engine's table in replica.calibrated (shipped: h100-sxm-engines)",
        ),
        _ => profile_error(loc, if calibrated { "replica.calibrated" } else { "replica" }, e),
    }
}

/// Where a scenario came from: its file (which anchors relative paths) and
/// the profiles folder given on the command line, if any.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source<'a> {
    pub path: &'a Path,
    pub profiles: Option<&'a Path>,
}

/// The pool's profile chain ([`ProfileLookup::for_scenario`]); a folder the
/// scenario names must exist, so a typo cannot fall through to a built-in.
fn profile_lookup(
    r: &ReplicaSection,
    key: &str,
    source: Source,
    loc: &Locator,
) -> Result<ProfileLookup, ScenarioError> {
    let here = source.path.parent().unwrap_or(Path::new("."));
    if let Some(dir) = r.profiles.as_ref().filter(|p| !here.join(p).is_dir()) {
        return Err(loc.error(
            &format!("{key}.profiles"),
            format!("no profiles folder at {}", here.join(dir).display()),
            "the path is relative to the scenario's folder; remove the key to use profiles/ beside the scenario or the built-ins",
        ));
    }
    Ok(ProfileLookup::for_scenario(source.profiles, r.profiles.as_deref(), source.path))
}

/// The primary pool of an LLM scenario (`[replica]`); its front door, if
/// any, is resolved after it.
pub(super) fn resolve(
    file: &ScenarioFile,
    r: &ReplicaSection,
    is_trace: bool,
    source: Source,
    loc: &Locator,
) -> Result<LlmConfig, ScenarioError> {
    forbid_station_keys(file, loc)?;
    pool(file, r, is_trace, source, loc)
}

/// `gateway.fallback`: a pool resolved like `[replica]`, with the same
/// batching and KV settings, its errors placed at its own keys.
pub(super) fn fallback(
    file: &ScenarioFile,
    f: &ReplicaSection,
    is_trace: bool,
    source: Source,
    loc: &Locator,
) -> Result<LlmConfig, ScenarioError> {
    if file.batching.policy == Some(BatchingPolicy::Disaggregated) {
        return Err(loc.error(
            "gateway.fallback",
            "a fallback pool needs a plain (not disaggregated) primary pool",
            "use batching.policy = \"continuous\" or \"chunked-prefill\", or remove gateway.fallback",
        ));
    }
    pool(file, f, is_trace, source, loc).map_err(|e| moved(loc, e, "gateway.fallback", "count"))
}

/// A fleet's pool `at` (`regions[i].pools[j]`): a pool resolved like
/// `[replica]` from `r` (which the fleet resolver builds from the pool's
/// keys, `replicas` for `count`), its errors placed at its own keys. Its
/// sizes come with each population's arrivals.
pub(super) fn fleet_pool(
    file: &ScenarioFile,
    r: &ReplicaSection,
    at: &str,
    source: Source,
    loc: &Locator,
) -> Result<LlmConfig, ScenarioError> {
    pool(file, r, true, source, loc).map_err(|e| moved(loc, e, at, "replicas"))
}

/// An error about `[replica]`'s keys, placed at the same keys under `to`
/// (where the pool's replica count is called `count_key`).
fn moved(loc: &Locator, e: ScenarioError, to: &str, count_key: &str) -> ScenarioError {
    match e.key.strip_prefix("replica") {
        Some(".count") => loc.error(&format!("{to}.{count_key}"), e.message, e.hint.unwrap_or_default()),
        Some(rest) => loc.error(&format!("{to}{rest}"), e.message, e.hint.unwrap_or_default()),
        None => e,
    }
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

/// One pool of replicas (`[replica]`, or the front door's fallback) with
/// the scenario's batching, KV and SLO settings.
fn pool(
    file: &ScenarioFile,
    r: &ReplicaSection,
    is_trace: bool,
    source: Source,
    loc: &Locator,
) -> Result<LlmConfig, ScenarioError> {
    let path = source.path;
    let profiles = profile_lookup(r, "replica", source, loc)?;
    let gpu: GpuProfile = profiles.find(&r.gpu).map_err(|e| profile_error(loc, "replica.gpu", e))?;
    let model: ModelProfile = profiles.find(&r.model).map_err(|e| profile_error(loc, "replica.model", e))?;
    let tp = r.tp.unwrap_or(1);
    if tp == 0 {
        return Err(loc.error("replica.tp", "expected an integer >= 1, got 0", "tp is GPUs per replica"));
    }
    let replicas = r.count.unwrap_or(1);
    if replicas == 0 {
        return Err(loc.error("replica.count", "expected an integer >= 1, got 0", "a pool needs at least one replica"));
    }
    guard::count(loc, "replica.count", u64::from(replicas), guard::MAX_REPLICAS, "replicas of one model in one pool")?;
    let sched = match &file.engine {
        Some(e) => engine::resolve(file, e, &gpu, &model, tp, loc)?,
        None => neutral(file, r, &gpu, &model, tp, loc)?,
    };
    let calibrated = match &r.calibrated {
        Some(name) => {
            let c: CalibratedProfile = profiles.find(name).map_err(|e| profile_error(loc, "replica.calibrated", e))?;
            // An engine calibration from another GPU of this one's
            // architecture prices it through its datasheet; any other
            // mismatch is refused by the step model below.
            let measured_on = (file.engine.is_some() && c.gpu != gpu.name)
                .then(|| profiles.find::<GpuProfile>(&c.gpu).ok())
                .flatten();
            Some(measured_on.and_then(|from| c.transferred(&from, &gpu)).unwrap_or(c))
        }
        None => None,
    };
    let step = match &file.engine {
        Some(e) => {
            let parallel = engine::parallelism(e, &model, tp, loc)?;
            StepModel::for_engine(&gpu, &model, parallel, calibrated.as_ref(), e.kind.name())
                .map_err(|err| moe_ep_error(loc, err, calibrated.is_some()))?
        }
        None => StepModel::new(&gpu, &model, tp, calibrated.as_ref())
            .map_err(|e| profile_error(loc, if calibrated.is_some() { "replica.calibrated" } else { "replica" }, e))?,
    };
    let disaggregation = disaggregation(file, replicas, &model, loc)?;
    let sizes = if is_trace || !file.tenants.is_empty() {
        if file.workload.prompt_tokens.is_some() || file.workload.output_tokens.is_some() {
            return Err(loc.error(
                "workload.prompt_tokens",
                "a trace carries its own token counts",
                "remove prompt_tokens / output_tokens",
            ));
        }
        None
    } else {
        Some((
            token_sizes(loc, "workload.prompt_tokens", &file.workload.prompt_tokens, Some(|r| r.prompt_tokens), path)?,
            token_sizes(loc, "workload.output_tokens", &file.workload.output_tokens, Some(|r| r.output_tokens), path)?,
        ))
    };
    let price = r.price_per_gpu_hour_usd.unwrap_or(gpu.price_per_gpu_hour_usd);
    if !(price.is_finite() && price >= 0.0) {
        return Err(loc.error(
            "replica.price_per_gpu_hour_usd",
            format!("expected dollars >= 0, got {price}"),
            "the rental price of one GPU for an hour, e.g. 2.5; 0 leaves cost out of the report",
        ));
    }
    let shared_prefix = shared_prefix(file, loc)?;
    let conversations = conversations(file, is_trace, loc, path)?;
    let prefix_cache = prefix_cache(&file.kv, loc)?;
    let s = &file.slo;
    for (key, target) in [("slo.ttft_p99", s.ttft_p99), ("slo.tpot_p99", s.tpot_p99), ("slo.e2e_p99", s.e2e_p99)] {
        if target == Some(SimDuration::ZERO) {
            return Err(loc.error(key, "expected a duration > 0: no request can meet a 0 s target", "e.g. \"500ms\""));
        }
    }
    let Scheduling {
        policy,
        max_seqs,
        max_batched_tokens,
        block_tokens,
        watermark,
        preemption,
        overlap,
        kv_blocks,
        kv_capacity_tokens,
        memory,
    } = sched;
    Ok(LlmConfig {
        replica: ReplicaConfig {
            policy,
            max_seqs,
            max_batched_tokens,
            kv_blocks,
            block_tokens,
            watermark_blocks: (kv_blocks as f64 * watermark).ceil() as u64,
            preemption,
            kv_bytes_per_token: step::kv_bytes_per_token_per_gpu(&model, tp),
            queue_capacity: r.queue_capacity,
            prefix_cache,
            overlap,
            token_stream_cost: step.token_stream_cost(),
        },
        gpu,
        model,
        tp,
        replicas,
        routing: r.routing.unwrap_or_default(),
        step,
        kv_capacity_tokens,
        memory,
        sizes,
        price_per_gpu_hour_usd: price,
        slo: Slo { ttft_p99: s.ttft_p99, tpot_p99: s.tpot_p99, e2e_p99: s.e2e_p99 },
        disaggregation,
        shared_prefix,
        conversations,
        frontdoor: None,
    })
}

/// The engine-neutral policies' scheduling (`[batching]`, `[kv]`) and KV
/// capacity (memory less weights and `replica.activation_reserve`).
fn neutral(
    file: &ScenarioFile,
    r: &ReplicaSection,
    gpu: &GpuProfile,
    model: &ModelProfile,
    tp: u32,
    loc: &Locator,
) -> Result<Scheduling, ScenarioError> {
    let reserve = r.activation_reserve.unwrap_or(0.1);
    let kv_capacity_tokens =
        step::kv_capacity_tokens(gpu, model, tp, reserve).map_err(|e| profile_error(loc, "replica", e))?;
    let kv = &file.kv;
    let block_tokens = kv.block_tokens.unwrap_or(16);
    if block_tokens == 0 {
        return Err(loc.error("kv.block_tokens", "expected an integer >= 1, got 0", "16 is typical (vLLM)"));
    }
    guard::count(loc, "kv.block_tokens", u64::from(block_tokens), guard::MAX_BLOCK_TOKENS, "16 is typical (vLLM)")?;
    let watermark = kv.watermark.unwrap_or(0.01);
    if !(watermark.is_finite() && (0.0..0.5).contains(&watermark)) {
        return Err(loc.error(
            "kv.watermark",
            format!("expected a fraction in [0, 0.5), got {watermark}"),
            "0.01 keeps 1% free",
        ));
    }
    let kv_blocks = kv_capacity_tokens / u64::from(block_tokens);
    let b = &file.batching;
    let max_seqs = b.max_batch.unwrap_or(256);
    if max_seqs == 0 {
        return Err(loc.error(
            "batching.max_batch",
            "expected an integer >= 1, got 0",
            "the most sequences in a batch",
        ));
    }
    let max_batched_tokens = b.max_batched_tokens.unwrap_or(8192);
    let policy = match b.policy.unwrap_or_default() {
        BatchingPolicy::Static => Policy::Static { max_wait: b.max_wait.unwrap_or_default() },
        BatchingPolicy::Continuous => Policy::Continuous,
        BatchingPolicy::ChunkedPrefill => Policy::ChunkedPrefill { chunk_tokens: b.chunk_tokens.unwrap_or(512) },
        BatchingPolicy::Disaggregated => Policy::Continuous,
    };
    if max_batched_tokens == 0 || b.chunk_tokens == Some(0) {
        let key = if max_batched_tokens == 0 { "batching.max_batched_tokens" } else { "batching.chunk_tokens" };
        return Err(loc.error(key, "expected an integer >= 1, got 0", "a step must process at least one token"));
    }
    if b.max_wait.is_some() && !matches!(policy, Policy::Static { .. }) {
        return Err(loc.error("batching.max_wait", "only the static policy waits to fill a batch", "remove max_wait"));
    }
    if b.chunk_tokens.is_some() && !matches!(policy, Policy::ChunkedPrefill { .. }) {
        return Err(loc.error(
            "batching.chunk_tokens",
            "only the chunked-prefill policy splits prompts into chunks",
            "set batching.policy = \"chunked-prefill\", or remove chunk_tokens (max_batched_tokens bounds a step)",
        ));
    }
    let memory = GpuMemory {
        memory_bytes_per_gpu: gpu.memory_bytes,
        weights_bytes_per_gpu: model.weight_bytes().div_ceil(u64::from(tp)),
        activation_reserve_bytes_per_gpu: (reserve * gpu.memory_bytes as f64) as u64,
        kv_cache_bytes_per_gpu: kv_capacity_tokens * step::kv_bytes_per_token_per_gpu(model, tp),
        kv_blocks_per_replica: kv_blocks,
        kv_peak_utilization: 0.0,
    };
    Ok(Scheduling {
        policy,
        max_seqs,
        max_batched_tokens,
        block_tokens,
        watermark,
        preemption: kv.preemption.unwrap_or_default(),
        overlap: false,
        kv_blocks,
        kv_capacity_tokens,
        memory,
    })
}

/// `workload.conversations`: synthetic arrivals only; `turns` a count
/// distribution, `think_time` given.
fn conversations(
    file: &ScenarioFile,
    is_trace: bool,
    loc: &Locator,
    path: &Path,
) -> Result<Option<ConversationSpec>, ScenarioError> {
    let Some(c) = &file.workload.conversations else { return Ok(None) };
    let key = "workload.conversations";
    let example = "e.g. conversations = { turns = { median = 3, p99 = 20 }, think_time = \"20s\" }";
    if is_trace {
        return Err(loc.error(
            key,
            "a trace's requests carry no conversations",
            "remove it, or use synthetic arrivals",
        ));
    }
    let turns = token_sizes(loc, &format!("{key}.turns"), &c.turns, None, path)?;
    let Some(think_time) = c.think_time else {
        return Err(loc.error(
            key,
            "missing `think_time`: the mean pause between an answer and the next turn",
            example,
        ));
    };
    Ok(Some(ConversationSpec { turns, think_time }))
}

/// `workload.shared_prefix`: tokens >= 1, share in [0, 1], prefixes >= 1.
fn shared_prefix(file: &ScenarioFile, loc: &Locator) -> Result<Option<SharedPrefix>, ScenarioError> {
    let Some(p) = &file.workload.shared_prefix else { return Ok(None) };
    let key = "workload.shared_prefix";
    let example = "e.g. shared_prefix = { tokens = 1000, share = 0.8, prefixes = 4 }";
    let tokens = match p.tokens {
        Some(t) if t >= 1 => t,
        Some(t) => return Err(loc.error(&format!("{key}.tokens"), format!("expected tokens >= 1, got {t}"), example)),
        None => return Err(loc.error(key, "missing `tokens`: the length of each shared prefix", example)),
    };
    let share = p.share.unwrap_or(1.0);
    if !(share.is_finite() && (0.0..=1.0).contains(&share)) {
        return Err(loc.error(&format!("{key}.share"), format!("expected a fraction in [0, 1], got {share}"), example));
    }
    let prefixes = p.prefixes.unwrap_or(1);
    if prefixes == 0 {
        return Err(loc.error(&format!("{key}.prefixes"), "expected an integer >= 1, got 0", example));
    }
    Ok(Some(SharedPrefix { tokens, share, prefixes }))
}

/// `kv.prefix_cache` and `kv.max_cached_prefixes`.
fn prefix_cache(kv: &KvSection, loc: &Locator) -> Result<Option<PrefixCacheConfig>, ScenarioError> {
    let eviction = match kv.prefix_cache.unwrap_or_default() {
        PrefixCacheMode::Off => None,
        PrefixCacheMode::Lru => Some(PrefixEviction::Lru),
        PrefixCacheMode::Lfu => Some(PrefixEviction::Lfu),
    };
    match (eviction, kv.max_cached_prefixes) {
        (None, Some(_)) => Err(loc.error(
            "kv.max_cached_prefixes",
            "only a prefix cache holds prefixes",
            "set kv.prefix_cache = \"lru\" (or \"lfu\"), or remove max_cached_prefixes",
        )),
        (Some(_), Some(0)) => Err(loc.error(
            "kv.max_cached_prefixes",
            "expected an integer >= 1, got 0",
            "to turn the cache off, set kv.prefix_cache = \"off\"",
        )),
        (eviction, max_prefixes) => Ok(eviction.map(|eviction| PrefixCacheConfig { eviction, max_prefixes })),
    }
}

/// `[disaggregation]` goes with `batching.policy = "disaggregated"`, which
/// needs two pools of at least one replica each and a link that moves bytes.
fn disaggregation(
    file: &ScenarioFile,
    replicas: u32,
    model: &ModelProfile,
    loc: &Locator,
) -> Result<Option<Disaggregation>, ScenarioError> {
    let is_disaggregated = file.batching.policy == Some(BatchingPolicy::Disaggregated);
    if !is_disaggregated {
        if let Some(d) = &file.disaggregation {
            // Point at the first knob written (in the file or by --set).
            let key = if d.prefill_replicas.is_some() {
                "disaggregation.prefill_replicas"
            } else if d.link_bandwidth_bytes_per_s.is_some() {
                "disaggregation.link_bandwidth_bytes_per_s"
            } else if d.link_latency.is_some() {
                "disaggregation.link_latency"
            } else {
                "disaggregation"
            };
            return Err(loc.error(
                key,
                "only the disaggregated batching policy uses separate prefill and decode pools",
                "set batching.policy = \"disaggregated\", or remove the [disaggregation] table",
            ));
        }
        return Ok(None);
    }
    let d = file.disaggregation.clone().unwrap_or_default();
    if replicas < 2 {
        return Err(loc.error(
            "replica.count",
            format!("disaggregated serving needs at least 2 replicas (one prefill, one decode), got {replicas}"),
            "set replica.count = 2 or more; [disaggregation] prefill_replicas says how many prefill",
        ));
    }
    let prefill_replicas = d.prefill_replicas.unwrap_or((replicas / 2).max(1));
    if prefill_replicas == 0 || prefill_replicas >= replicas {
        return Err(loc.error(
            "disaggregation.prefill_replicas",
            format!(
                "expected an integer in 1..={} (replica.count = {replicas}, and the decode pool needs at least one \
                 replica), got {prefill_replicas}",
                replicas - 1
            ),
            "the prefill pool is replicas 0..prefill_replicas; the rest decode",
        ));
    }
    let bandwidth = d.link_bandwidth_bytes_per_s.unwrap_or(50e9);
    if !(bandwidth.is_finite() && bandwidth > 0.0) {
        return Err(loc.error(
            "disaggregation.link_bandwidth_bytes_per_s",
            format!("expected bytes per second > 0, got {bandwidth}"),
            "e.g. 50e9 for one 400 Gb/s NIC, 450e9 for NVLink",
        ));
    }
    if bandwidth < guard::MIN_LINK_BYTES_PER_S {
        return Err(loc.error(
            "disaggregation.link_bandwidth_bytes_per_s",
            format!("expected at least {:.0e} bytes per second, got {bandwidth}", guard::MIN_LINK_BYTES_PER_S),
            "e.g. 50e9 for one 400 Gb/s NIC, 450e9 for NVLink",
        ));
    }
    Ok(Some(Disaggregation {
        prefill_replicas,
        link_bandwidth_bytes_per_s: bandwidth,
        link_latency: d.link_latency.unwrap_or(SimDuration(20_000)),
        kv_bytes_per_token: step::kv_bytes_per_token(model),
    }))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn shipped() -> (PathBuf, String) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/llama70b-h100-disaggregated.toml");
        let text = std::fs::read_to_string(&path).expect("the shipped disaggregated scenario");
        (path, text)
    }

    /// The error for `text` with `from` replaced by `to`, as displayed.
    fn error(from: &str, to: &str, sets: &[&str]) -> String {
        let (path, text) = shipped();
        assert!(text.contains(from), "{from}");
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        match super::super::from_text(&text.replace(from, to), &path, &sets) {
            Ok(_) => panic!("{to} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn line_of(needle: &str) -> usize {
        shipped().1.lines().position(|l| l.starts_with(needle)).expect("line") + 1
    }

    #[test]
    fn the_shipped_scenario_resolves_to_two_pools() {
        let (path, text) = shipped();
        let s = super::super::from_text(&text, &path, &[]).unwrap_or_else(|e| panic!("{e}"));
        let crate::scenario::Serving::Llm(llm) = &s.serving else { panic!("an LLM scenario") };
        let d = llm.disaggregation.expect("disaggregated");
        assert_eq!((d.prefill_replicas, llm.replicas), (1, 2));
        assert_eq!(d.kv_bytes_per_token, 80 * 8 * 128 * 2 * 2, "Llama-2-70B, whole model");
        // 1,000 prompt tokens: 20 us + 327.68 MB / 50 GB/s.
        assert_eq!(d.transfer_time(1000 * d.kv_bytes_per_token).0, 20_000 + 6_553_600);
    }

    #[test]
    fn a_pool_without_replicas_is_rejected_with_its_place() {
        let e = error("prefill_replicas = 1", "prefill_replicas = 2", &[]);
        let at =
            format!("llama70b-h100-disaggregated.toml:{}:20: `disaggregation.prefill_replicas`", line_of("prefill_"));
        assert!(e.contains(&at) && e.contains("expected an integer in 1..=1") && e.contains("hint:"), "{e}");
        let e = error("prefill_replicas = 1", "prefill_replicas = 0", &[]);
        assert!(e.contains("`disaggregation.prefill_replicas`") && e.contains("got 0"), "{e}");
        let e = error("count = 2", "count = 1", &[]);
        assert!(e.contains(&format!(":{}:9: `replica.count`", line_of("count"))), "{e}");
        assert!(e.contains("at least 2 replicas") && e.contains("hint:"), "{e}");
    }

    #[test]
    fn a_link_without_bandwidth_is_rejected() {
        let e = error("link_bandwidth_bytes_per_s = 50e9", "link_bandwidth_bytes_per_s = 0.0", &[]);
        assert!(e.contains("`disaggregation.link_bandwidth_bytes_per_s`: expected bytes per second > 0, got 0"), "{e}");
        let e = error("", "", &["disaggregation.link_bandwidth_bytes_per_s=-1"]);
        assert!(e.contains("(from --set disaggregation.link_bandwidth_bytes_per_s=-1)"), "{e}");
    }

    /// The 1-based line of shipped `file`'s first line starting with
    /// `key`, and the error for `file` with `from` replaced by `to` and `sets`.
    fn edited(file: &str, key: &str) -> (usize, impl Fn(&str, &str, &[&str]) -> String) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file);
        let text = std::fs::read_to_string(&path).expect("a shipped scenario");
        let line = text.lines().position(|l| l.starts_with(key)).expect("line") + 1;
        let err = move |from: &str, to: &str, sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            match super::super::from_text(&text.replace(from, to), &path, &sets) {
                Ok(_) => panic!("{to} {sets:?} was accepted"),
                Err(e) => e.to_string(),
            }
        };
        (line, err)
    }

    /// The shipped closed-loop vLLM scenario: its path and text.
    fn closed_loop_file() -> (PathBuf, String) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/vllm-closed-loop.toml");
        let text = std::fs::read_to_string(&path).expect("the shipped closed-loop scenario");
        (path, text)
    }

    /// The shipped closed-loop vLLM scenario's LLM pool under `sets`.
    fn closed_loop(sets: &[String]) -> Box<crate::scenario::LlmConfig> {
        let (path, text) = closed_loop_file();
        match super::super::from_text(&text, &path, sets).unwrap_or_else(|e| panic!("{e}")).serving {
            crate::scenario::Serving::Llm(llm) => llm,
            _ => panic!("an LLM scenario"),
        }
    }

    /// The overlap scheduler is each engine's default (on for TensorRT-LLM
    /// and SGLang; for vLLM off up to 0.13 and on from 0.14, whose
    /// `SchedulerConfig.async_scheduling` defaults to None and `VllmConfig`
    /// turns that on), overridable, and a bad value is refused at its key.
    #[test]
    fn the_overlap_scheduler_follows_the_engine() {
        let (path, text) = closed_loop_file();
        let overlap =
            |sets: &[&str]| closed_loop(&sets.iter().map(|s| s.to_string()).collect::<Vec<_>>()).replica.overlap;
        assert!(!overlap(&[]));
        assert!(overlap(&["engine.kind=trtllm"]));
        assert!(overlap(&["engine.kind=sglang"]));
        assert!(!overlap(&["engine.kind=sglang", "engine.overlap_scheduler=false"]));
        assert!(overlap(&["engine.overlap_scheduler=true"]));
        assert!(!overlap(&["engine.version=\"0.13\""]));
        assert!(overlap(&["engine.version=\"0.14\""]) && overlap(&["engine.version=\"0.19.0\""]));
        assert!(!overlap(&["engine.version=\"0.19\"", "engine.overlap_scheduler=false"]));
        let sets = vec!["engine.overlap_scheduler=3".to_string()];
        let e = super::super::from_text(&text, &path, &sets).map(|_| ()).unwrap_err().to_string();
        assert!(
            e.contains("`engine.overlap_scheduler`") && e.contains("expected a boolean") && e.contains("hint:"),
            "{e}"
        );
    }

    /// SGLang keeps (9.5 + tp/2) GiB out of its static memory on 80 GB
    /// parts and (12 + tp/2) GiB on the H200 (`server_args.py`'s memory
    /// tiers); the rest, less the weights, is KV cache, and its step budget
    /// (`chunked_prefill_size`) is 8,192 below 160 GiB.
    #[test]
    fn sglangs_memory_rule_follows_the_gpus_tier() {
        let memory = |gpu: &str| {
            let llm = closed_loop(&["engine.kind=sglang".to_string(), format!("replica.gpu={gpu}")]);
            (llm.memory, llm.replica.max_batched_tokens)
        };
        const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
        for (gpu, reserved_gib) in [("h100-sxm", 9.5 + 2.0), ("h200", 12.0 + 2.0)] {
            let (m, budget) = memory(gpu);
            let kv_and_reserve = (m.memory_bytes_per_gpu - m.weights_bytes_per_gpu) as f64;
            let kv = m.kv_cache_bytes_per_gpu as f64;
            // The KV cache rounds down to whole pages of one token.
            assert!((kv_and_reserve - kv - reserved_gib * GIB).abs() < 1e6, "{gpu}: {m:?}");
            assert_eq!(budget, 8192, "{gpu}");
        }
    }

    /// gpt-oss-120b's window layers (18 of 36) hold 128 positions: vLLM V1's
    /// hybrid pool charges a token for the full layers alone, SGLang's split
    /// (0.8 window-layer tokens per full-layer token) for 0.9 of every
    /// layer, TensorRT-LLM for every layer.
    #[test]
    fn a_sliding_window_spares_kv_pool_memory_as_each_engine_splits_it() {
        let per_token = |kind: &str| {
            let sets = [format!("engine.kind={kind}"), "replica.model=gpt-oss-120b".into(), "replica.tp=2".into()];
            let llm = closed_loop(&sets);
            llm.memory.kv_cache_bytes_per_gpu as f64 / llm.kv_capacity_tokens as f64
        };
        // 2 (K, V) x 36 layers x 4 KV heads per GPU x 64 dims x 2 bytes.
        let every_layer = 2.0 * 36.0 * 4.0 * 64.0 * 2.0;
        assert_eq!(per_token("vllm"), every_layer / 2.0);
        assert!((per_token("sglang") - every_layer * 0.9).abs() < 1.0, "{}", per_token("sglang"));
        assert_eq!(per_token("trtllm"), every_layer);
    }

    /// `vllm serve` sizes its step from the GPU: 1,024 sequences and 8,192
    /// tokens on 70 GiB or more, except on an A100, whose device name keeps
    /// it at 256 and 2,048 (`EngineArgs.get_batch_defaults`, 0.14).
    #[test]
    fn vllms_batch_defaults_follow_the_gpu_and_spare_the_a100() {
        let limits = |gpu: &str| {
            let llm = closed_loop(&[format!("replica.gpu={gpu}")]);
            (llm.replica.max_seqs, llm.replica.max_batched_tokens)
        };
        assert_eq!(limits("h100-sxm"), (1024, 8192));
        assert_eq!(limits("h200"), (1024, 8192));
        assert_eq!(limits("a100-80gb"), (256, 2048));
    }

    #[test]
    fn bad_prefix_values_are_rejected_with_their_place() {
        let (line, err) = edited("llama8b-prefix-cache.toml", "shared_prefix");
        let e = err("share = 0.8", "share = 1.5", &[]);
        assert!(e.contains(&format!(":{line}:")) && e.contains("`workload.shared_prefix.share`"), "{e}");
        assert!(e.contains("expected a fraction in [0, 1], got 1.5") && e.contains("hint:"), "{e}");
        let e = err("", "", &["workload.shared_prefix.prefixes=0"]);
        assert!(e.contains("(from --set workload.shared_prefix.prefixes=0)") && e.contains("got 0"), "{e}");
        let e = err("tokens = 2000, ", "", &[]);
        assert!(e.contains("`workload.shared_prefix`: missing `tokens`"), "{e}");
        let e = err("", "", &["kv.prefix_cache=off", "kv.max_cached_prefixes=4"]);
        assert!(e.contains("`kv.max_cached_prefixes`") && e.contains("only a prefix cache"), "{e}");
        let e = err("", "", &["kv.max_cached_prefixes=0"]);
        assert!(e.contains("`kv.max_cached_prefixes`: expected an integer >= 1, got 0"), "{e}");
    }

    #[test]
    fn disaggregation_knobs_need_the_disaggregated_policy() {
        let e = error("policy = \"disaggregated\"", "policy = \"continuous\"", &[]);
        let at = format!(":{}:20: `disaggregation.prefill_replicas`", line_of("prefill_replicas"));
        assert!(e.contains(&at) && e.contains("only the disaggregated batching policy"), "{e}");
        let e = error("policy = \"disaggregated\"", "policy = \"continuous\"", &["disaggregation.prefill_replicas=1"]);
        assert!(e.contains("(from --set disaggregation.prefill_replicas=1)"), "{e}");
    }

    #[test]
    fn bad_conversations_are_rejected_with_their_place() {
        let (line, err) = edited("llama8b-chat-conversations.toml", "conversations");
        let e = err(", think_time = \"15s\"", "", &[]);
        assert!(e.contains(&format!(":{line}:")) && e.contains("missing `think_time`") && e.contains("hint:"), "{e}");
        let e = err("turns = { median = 4, p99 = 20, max = 40 }", "turns = { mean = 0.5 }", &[]);
        assert!(e.contains("`workload.conversations.turns.mean`") && e.contains("got 0.5"), "{e}");
        let e = err("turns = { median = 4, p99 = 20, max = 40 }", "turns = { fixed = 2, mean = 3 }", &[]);
        assert!(e.contains("`workload.conversations.turns`") && e.contains("expected one of"), "{e}");
        let e = err("conversations = { turns", "conversations = { turn", &[]);
        assert!(e.contains("turn") && e.contains(&format!(":{line}:")), "{e}");
    }
}
