//! LLM serving behaviour on the same seeded workload: each test compares
//! policies (or stresses the KV cache) and asserts what serving practice
//! says must happen — with real numbers from the roofline step model.

use crate::support::{azure_trace, root};
use servesim::metrics::llm::LlmSummary;
use servesim::metrics::Summary;
use servesim::scenario;
use servesim::sim;

/// Runs `file` (in scenarios/) shortened to `duration` after a `warmup`,
/// with `sets`, and checks that every request has exactly one outcome.
fn run_scenario(file: &str, duration: &str, warmup: &str, sets: &[&str]) -> Summary {
    let path = root().join("scenarios").join(file);
    let mut all = vec![format!("run.duration={duration}"), format!("run.warmup={warmup}")];
    all.extend(sets.iter().map(|s| s.to_string()));
    let s = scenario::load(&path, &all).unwrap_or_else(|e| panic!("{e}"));
    let summary = sim::run(&s).summary;
    assert!(summary.invariants.all_hold, "{file} {sets:?}: invariants fail");
    let by_outcome: u64 = summary.requests.by_outcome.values().sum();
    assert_eq!(by_outcome, summary.requests.offered, "{file} {sets:?}: every request has an outcome");
    summary
}

fn run(sets: &[&str]) -> Summary {
    run_scenario("llama70b-h100-continuous.toml", "4m", "30s", sets)
}

fn llm(s: &Summary) -> &LlmSummary {
    s.llm.as_ref().expect("an LLM scenario reports llm metrics")
}

#[test]
fn chunked_prefill_lowers_inter_token_latency_tail() {
    let continuous = run(&["batching.policy=continuous"]);
    let chunked = run(&["batching.policy=chunked-prefill", "batching.chunk_tokens=512"]);
    let (c, k) = (llm(&continuous).tbt.p99_s, llm(&chunked).tbt.p99_s);
    // Whole 8K-token prefills stall every decode in their step; 512-token
    // chunks bound the stall.
    assert!(k < 0.5 * c, "TBT p99: chunked {k:.4} s vs continuous {c:.4} s");
}

#[test]
fn continuous_beats_static_on_throughput_and_tail_latency() {
    let static_ = run(&["batching.policy=static", "batching.max_batch=32", "batching.max_wait=50ms"]);
    let continuous = run(&["batching.policy=continuous"]);
    let (s, c) = (&static_.throughput, &continuous.throughput);
    assert!(c.completed_per_s > 1.1 * s.completed_per_s, "throughput: {} vs {}", c.completed_per_s, s.completed_per_s);
    let (sp, cp) = (static_.latency.end_to_end.p99_s, continuous.latency.end_to_end.p99_s);
    assert!(cp < sp, "e2e p99: continuous {cp} vs static {sp}");
}

#[test]
fn kv_pressure_preempts_and_every_request_still_finishes() {
    // Llama-2-70B on two H100s leaves ~18K tokens of KV cache per replica.
    for preemption in ["recompute", "swap"] {
        let s = run(&["replica.tp=2", "workload.rate_per_s=2", &format!("kv.preemption={preemption}")]);
        let l = llm(&s);
        assert!(l.preemptions > 0, "{preemption}: no preemption under KV pressure");
        match preemption {
            "recompute" => assert!(l.recomputed_tokens > 0),
            _ => assert!(l.swapped_bytes > 0),
        }
        assert_eq!(s.requests.in_flight_at_end, 0);
        assert!(l.kv_utilization_mean > 0.5, "{preemption}: KV mean use {}", l.kv_utilization_mean);
    }
}

#[test]
fn slo_verdicts_and_cost_are_consistent() {
    let s = run(&[]);
    let l = llm(&s);
    for check in &l.slo {
        assert_eq!(check.met, check.actual_s <= check.target_s, "{check:?}");
    }
    assert_eq!(l.slo_met, l.slo.iter().all(|c| c.met));
    // 2 replicas x tp 4 = 8 GPUs for the measured span.
    let hours = 8.0 * s.run.measure_span_s / 3600.0;
    assert!((l.cost.gpu_hours - hours).abs() < 1e-9);
    assert!((l.cost.usd - hours * l.cost.price_per_gpu_hour_usd).abs() < 1e-9);
    let per_million = l.cost.usd / (l.tokens.output as f64 / 1e6);
    assert!((l.cost.usd_per_million_output_tokens - per_million).abs() < 1e-9);
    assert!(l.goodput_fraction > 0.0 && l.goodput_fraction <= 1.0);
}

#[test]
fn disaggregation_removes_prefill_decode_interference_at_the_cost_of_kv_transfer() {
    // Same 8 GPUs (2 replicas x tp 4) and seeded workload: one prefill and
    // one decode replica instead of two that do both.
    let continuous = run(&["batching.policy=continuous"]);
    let split = ["batching.policy=disaggregated", "disaggregation.prefill_replicas=1"];
    let disaggregated = run(&split);
    let (c, d) = (llm(&continuous), llm(&disaggregated));
    assert_eq!(d.policy, "disaggregated");
    let gpus = |s: &Summary| llm(s).cost.gpu_hours * 3600.0 / s.run.measure_span_s;
    assert!((gpus(&continuous) - 8.0).abs() < 1e-9 && (gpus(&disaggregated) - 8.0).abs() < 1e-9, "8 GPUs each");
    // Decodes never share a step with a (up to 16K-token) prefill.
    let (ct, dt) = (c.tbt.p99_s, d.tbt.p99_s);
    assert!(dt < 0.5 * ct, "TBT p99: disaggregated {dt:.4} s vs continuous {ct:.4} s");
    assert!(c.kv_transfer.is_none());
    let k = d.kv_transfer.as_ref().expect("disaggregated runs report KV transfers");
    assert!(k.transfers > 0 && k.bytes > 0, "{k:?}");
    // Each transfer moves prompt tokens x the whole model's KV bytes per
    // token: Llama-2-70B has 80 layers x 8 KV heads x 128 x (K, V) x 2 bytes.
    assert_eq!(k.bytes % (80 * 8 * 128 * 2 * 2), 0);
    assert_eq!(k.transfer_time.count, k.transfers);

    // The transfer sits between the first token and the rest: a slower link
    // leaves TTFT exactly as it was and lengthens end-to-end latency by
    // about the extra time on the link.
    let slow = run(&[&split[..], &["disaggregation.link_bandwidth_bytes_per_s=2e9"]].concat());
    let (s, ks) = (llm(&slow), llm(&slow).kv_transfer.as_ref().expect("transfers"));
    assert_eq!(s.ttft, d.ttft, "TTFT ends at prefill, before the transfer");
    let extra_link = ks.transfer_time.mean_s - k.transfer_time.mean_s;
    let extra_e2e = slow.latency.end_to_end.mean_s - disaggregated.latency.end_to_end.mean_s;
    assert!(extra_link > 0.1, "a 2 GB/s link adds {extra_link:.3} s per transfer");
    assert!(
        (extra_e2e - extra_link).abs() < 0.25 * extra_link,
        "e2e mean grew {extra_e2e:.3} s for {extra_link:.3} s more on the link"
    );
}

fn run_prefix(sets: &[&str]) -> Summary {
    run_scenario("llama8b-prefix-cache.toml", "90s", "15s", sets)
}

#[test]
fn prefix_caching_raises_throughput_and_cuts_ttft_when_the_prefix_share_is_high() {
    // 80% of requests start with one of 4 system prompts of 2,000 tokens;
    // at 40 req/s two Llama-3-8B replicas keep up only if they skip them.
    let on = run_prefix(&[]);
    let off = run_prefix(&["kv.prefix_cache=off"]);
    assert_eq!(on.requests.offered, off.requests.offered, "the same seeded workload");
    let (t_on, t_off) = (on.throughput.completed_per_s, off.throughput.completed_per_s);
    assert!(t_on > 1.1 * t_off, "throughput: cache {t_on:.2}/s vs none {t_off:.2}/s");
    let (f_on, f_off) = (llm(&on).ttft.p99_s, llm(&off).ttft.p99_s);
    assert!(f_on < 0.2 * f_off, "TTFT p99: cache {f_on:.3} s vs none {f_off:.3} s");
    assert!(llm(&off).prefix_cache.is_none(), "no prefix_cache section when the feature is off");
    // Same prompts offered: the cache saves compute, not tokens.
    let c = llm(&on).prefix_cache.as_ref().expect("prefix cache summary");
    assert!(c.cached_prompt_tokens > 0 && c.cached_prompt_tokens.is_multiple_of(2000), "{c:?}");
}

#[test]
fn hit_rate_approaches_the_prefix_share_when_the_cache_holds_every_prefix() {
    for share in [0.3, 0.8] {
        let s = run_prefix(&["workload.rate_per_s=20", &format!("workload.shared_prefix.share={share}")]);
        let c = llm(&s).prefix_cache.clone().expect("prefix cache summary");
        // Only the first use of each prefix on each replica misses.
        assert!(c.hits + 8 >= (c.lookups as f64 * share * 0.95) as u64, "{share}: {c:?}");
        assert!((c.hit_rate - share).abs() < 0.03, "share {share}: hit rate {}", c.hit_rate);
        assert_eq!(c.evictions, 0);
    }
}

#[test]
fn prefix_affinity_keeps_hits_when_each_replica_caches_few_prefixes() {
    // 16 prefixes, 4 replicas that each keep at most 4: affinity routing
    // gives each prefix a home; round-robin makes every replica cycle
    // through all 16 and thrash.
    let sets = |routing: &str| {
        [
            format!("replica.routing={routing}"),
            "replica.count=4".into(),
            "workload.rate_per_s=40".into(),
            "workload.shared_prefix.prefixes=16".into(),
            "kv.max_cached_prefixes=4".into(),
        ]
    };
    let hit = |routing: &str| {
        let sets = sets(routing);
        let s = run_prefix(&sets.iter().map(String::as_str).collect::<Vec<_>>());
        llm(&s).prefix_cache.clone().expect("prefix cache summary")
    };
    let (affinity, rr) = (hit("prefix-affinity"), hit("round-robin"));
    assert!(rr.evictions > 0, "{rr:?}");
    assert!(affinity.hit_rate > rr.hit_rate + 0.1, "prefix-affinity {affinity:?} vs round-robin {rr:?}");
}

#[test]
fn sticky_sessions_keep_conversations_cached_and_cut_ttft() {
    let run_chat = |sets: &[&str]| run_scenario("llama8b-chat-conversations.toml", "100s", "30s", sets);
    let sticky = run_chat(&[]);
    let spread = run_chat(&["replica.routing=round-robin"]);
    let uncached = run_chat(&["kv.prefix_cache=off"]);
    let (a, b) = (llm(&sticky), llm(&spread));
    let (ca, cb) = (a.prefix_cache.clone().expect("cache"), b.prefix_cache.clone().expect("cache"));
    // Each turn's context waits on the replica that served the turn before.
    assert!(ca.hit_rate > 0.8 && ca.hit_rate > cb.hit_rate + 0.3, "sticky {ca:?} vs round-robin {cb:?}");
    assert!(ca.cached_prompt_tokens > 2 * cb.cached_prompt_tokens, "{ca:?} vs {cb:?}");
    assert!(a.ttft.p99_s < b.ttft.p99_s, "TTFT p99 sticky {} vs round-robin {}", a.ttft.p99_s, b.ttft.p99_s);
    assert!(a.ttft.p99_s < llm(&uncached).ttft.p99_s, "the cache is what cuts prefill");
    // Follow-up turns re-send the conversation: prompts average far more
    // than a first turn's (0.7 x 1000 system + ~260 user tokens).
    let mean_prompt = sticky.requests.prompt_tokens as f64 / sticky.requests.offered as f64;
    assert!(mean_prompt > 1500.0, "mean prompt {mean_prompt}");
}

#[test]
fn empirical_sizes_resample_the_real_trace() {
    // The Azure code trace's own columns, drawn independently per request.
    let tmp = tempfile::tempdir().expect("tempdir");
    let trace = azure_trace("resampling a generated trace instead").unwrap_or_else(|| {
        let rows: String = (0..300u32)
            .map(|i| format!("2023-11-16 18:00:{:02}.0000000,{},{}\n", i / 10, 50 + i * 37 % 3000, 1 + i * 7 % 200))
            .collect();
        let trace = tmp.path().join("trace.csv");
        std::fs::write(&trace, format!("TIMESTAMP,ContextTokens,GeneratedTokens\n{rows}")).expect("write trace");
        trace
    });
    let rows = servesim::workload::trace::read_trace(&trace).unwrap_or_else(|e| panic!("the shared trace: {e}"));
    let mean = |f: fn(&servesim::workload::trace::TraceRecord) -> u32| {
        rows.iter().map(|r| f64::from(f(r))).sum::<f64>() / rows.len() as f64
    };
    let at = format!("{{ empirical = \"{}\" }}", trace.display());
    let s = run_scenario(
        "llama70b-h100-continuous.toml",
        "10m",
        "0s",
        &[&format!("workload.prompt_tokens={at}"), &format!("workload.output_tokens={at}"), "workload.rate_per_s=3"],
    );
    let n = s.requests.offered as f64;
    let (prompt, output) = (s.requests.prompt_tokens as f64 / n, s.requests.output_tokens as f64 / n);
    let (want_prompt, want_output) = (mean(|r| r.prompt_tokens), mean(|r| r.output_tokens));
    assert!((prompt / want_prompt - 1.0).abs() < 0.05, "prompt mean {prompt} vs trace {want_prompt}");
    assert!((output / want_output - 1.0).abs() < 0.10, "output mean {output} vs trace {want_output}");
}

#[test]
fn a_trace_replay_can_ask_what_a_shared_system_prompt_would_save() {
    // The scenario replays the trace, so it cannot even load without it.
    if azure_trace("skipping the trace what-if").is_none() {
        return;
    }
    let trace = |sets: &[&str]| {
        let path = root().join("scenarios/azure-code-llama70b.toml");
        let mut all = vec!["run.duration=10m".to_string(), "kv.prefix_cache=lru".to_string()];
        all.extend(sets.iter().map(|s| s.to_string()));
        let mut s = scenario::load(&path, &all).unwrap_or_else(|e| panic!("{e}"));
        s.run.drain = true;
        sim::run(&s).summary
    };
    let (plain, shared) = (trace(&[]), trace(&["workload.shared_prefix={ tokens = 1000, share = 0.6, prefixes = 2 }"]));
    assert_eq!(plain.requests.prompt_tokens, shared.requests.prompt_tokens, "trace prompts keep their length");
    let c = llm(&shared).prefix_cache.clone().expect("prefix cache summary");
    assert!(c.hit_rate > 0.5 && c.cached_prompt_tokens > 400_000, "{c:?}");
    assert!(llm(&shared).ttft.mean_s < llm(&plain).ttft.mean_s, "skipped prefill shortens TTFT");
}

#[test]
fn gpu_memory_adds_up_and_the_kv_peak_bounds_the_mean() {
    let s = run(&[]);
    let m = llm(&s).memory;
    let parts = m.weights_bytes_per_gpu + m.activation_reserve_bytes_per_gpu + m.kv_cache_bytes_per_gpu;
    assert!(parts <= m.memory_bytes_per_gpu, "{m:?}");
    // What is left is less than one token's KV on one GPU (Llama-2-70B at
    // tp 4: 2 x 80 layers x 2 KV heads x 128 x 2 bytes = 81,920 bytes).
    assert!(m.memory_bytes_per_gpu - parts < 81_920, "{m:?}");
    assert!(m.kv_peak_utilization >= llm(&s).kv_utilization_mean && m.kv_peak_utilization <= 1.0, "{m:?}");
}
