//! Draws one whole, valid scenario (TOML text) from a seed.
//!
//! Swarm testing: rather than every run exercising every feature a little,
//! each seed switches a random subset of features on, with random sizes,
//! so rare combinations (swap preemption under a prefix cache behind a
//! gateway with retrying clients) get runs of their own. Each run is kept
//! small (a few simulated seconds, light models) so thousands fit a minute.
//!
//! Features added after the first large runs (`[engine]`, closed-loop
//! clients) draw from a side stream ([`Draw::side`]): a seed that does not
//! switch them on keeps the scenario it always had, so a seed named in a
//! regression test still draws the scenario that once failed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write;

/// `d.line(format!(...))`, with the arguments (which may draw from `d`)
/// evaluated before the line is appended.
macro_rules! emit {
    ($d:expr, $($arg:tt)*) => {{
        let text = format!($($arg)*);
        $d.line(text);
    }};
}

/// A generated scenario and the features it switched on.
pub struct Drawn {
    pub text: String,
    pub features: Vec<&'static str>,
}

struct Draw {
    rng: ChaCha8Rng,
    side: ChaCha8Rng,
    text: String,
    features: Vec<&'static str>,
}

impl Draw {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.rng.random_range(0..options.len())]
    }

    fn int(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.random_range(lo..=hi)
    }

    fn real(&mut self, lo: f64, hi: f64) -> f64 {
        // Rounded so the text is short and reads back exactly.
        (self.rng.random_range(lo..=hi) * 1000.0).round() / 1000.0
    }

    /// Runs `f` drawing from the side stream (see the module docs).
    fn side<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        std::mem::swap(&mut self.rng, &mut self.side);
        let out = f(self);
        std::mem::swap(&mut self.rng, &mut self.side);
        out
    }

    fn line(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    fn feature(&mut self, name: &'static str) {
        self.features.push(name);
    }

    /// A token-count distribution around `median`, as TOML inline table.
    fn tokens(&mut self, median: u64) -> String {
        if self.chance(0.15) {
            return format!("{{ fixed = {median} }}");
        }
        let p99 = median * self.int(2, 6);
        let max = p99 + self.int(0, p99);
        format!("{{ median = {median}, p99 = {p99}, max = {max} }}")
    }
}

/// The scenario of `seed`; `profiles` is written as the replica's profile
/// folder so the file runs from anywhere.
pub fn scenario(seed: u64, profiles: &str) -> Drawn {
    let mut side = ChaCha8Rng::seed_from_u64(seed);
    side.set_stream(1);
    let mut d = Draw { rng: ChaCha8Rng::seed_from_u64(seed), side, text: String::new(), features: Vec::new() };
    emit!(d, "# Swarm scenario of seed {seed}: reproduce with `servesim swarm --seed {seed}`.");
    emit!(d, "name = \"swarm-{seed}\"");
    emit!(d, "seed = {}", d.rng.random::<u32>());
    if d.chance(0.35) {
        station(&mut d);
    } else {
        llm(&mut d, profiles);
    }
    Drawn { text: d.text, features: d.features }
}

fn run_section(d: &mut Draw, seconds: (u64, u64)) {
    let duration = d.int(seconds.0, seconds.1);
    d.line("\n[run]");
    emit!(d, "duration = \"{duration}s\"");
    let warmup_ms = d.int(0, duration * 250);
    emit!(d, "warmup = \"{warmup_ms}ms\"");
    if d.chance(0.3) {
        emit!(d, "window = \"{}ms\"", d.int(200, 2000));
    }
    if d.chance(0.3) {
        let drain = d.chance(0.5);
        d.feature(if drain { "drain" } else { "no-drain" });
        emit!(d, "drain = {drain}");
    }
}

/// A single queueing station: servers, a batcher, a service-time model.
fn station(d: &mut Draw) {
    d.feature("station");
    run_section(d, (1, 10));
    let servers = d.int(1, 4);
    let batch = if d.chance(0.6) { d.int(1, 16) } else { 1 };
    let mean_ms = d.real(1.0, 40.0);
    let load = d.real(0.2, 1.4);
    let rate = (load * servers as f64 * batch as f64 * 1000.0 / mean_ms).max(1.0);
    d.line("\n[workload]");
    let arrival = d.pick(&["poisson", "gamma", "deterministic"]);
    emit!(d, "arrival = \"{arrival}\"");
    emit!(d, "rate_per_s = {rate:.3}");
    if arrival == "gamma" {
        emit!(d, "scv = {}", d.real(0.2, 4.0));
    }
    d.line("\n[servers]");
    emit!(d, "count = {servers}");
    let processor_sharing = batch == 1 && d.chance(0.25);
    if processor_sharing {
        d.feature("processor-sharing");
        d.line("discipline = \"processor-sharing\"");
    } else if servers > 1 {
        let queue = d.pick(&["shared", "per-server"]);
        emit!(d, "queue = \"{queue}\"");
        if queue == "per-server" {
            emit!(d, "routing = \"{}\"", d.pick(&["random", "round-robin", "join-shortest-queue"]));
        }
    }
    if d.chance(0.4) {
        d.feature("queue-capacity");
        emit!(d, "queue_capacity = {}", d.int(1, 200));
    }
    if batch > 1 {
        d.feature("station-batching");
        d.line("\n[batching]");
        emit!(d, "max_batch = {batch}");
        emit!(d, "max_wait = \"{}ms\"", d.int(0, 20));
    }
    d.line("\n[service]");
    match d.pick(&["exponential", "deterministic", "lognormal", "gamma", "hyperexponential", "affine"]) {
        "affine" => {
            d.line("model = \"affine\"");
            emit!(d, "base = \"{:.3}ms\"", mean_ms * 0.6);
            emit!(d, "per_item = \"{:.3}ms\"", mean_ms * 0.4 / batch as f64);
        }
        "exponential" => {
            d.line("model = \"exponential\"");
            emit!(d, "mean = \"{mean_ms}ms\"");
        }
        model => {
            emit!(d, "model = \"{model}\"");
            emit!(d, "mean = \"{mean_ms}ms\"");
            if model != "deterministic" {
                let scv = if model == "hyperexponential" { d.real(1.1, 6.0) } else { d.real(0.1, 3.0) };
                emit!(d, "scv = {scv}");
            }
        }
    }
}

/// LLM serving: replicas, a batching policy, KV cache, and optionally a
/// front door (tenants, gateway, clients) or a safety pipeline.
fn llm(d: &mut Draw, profiles: &str) {
    d.feature("llm");
    let closed_loop = d.side(|d| d.chance(0.2));
    if closed_loop {
        // Closed-loop clients end the run themselves: only a window applies.
        if d.side(|d| d.chance(0.3)) {
            d.line("\n[run]");
            emit!(d, "window = \"{}ms\"", d.side(|d| d.int(200, 2000)));
        }
    } else {
        run_section(d, (2, 6));
    }
    let (model, tp, gpu) = match d.int(0, 9) {
        // KV pressure: a 70B model on two 80 GB GPUs leaves little KV room.
        0 => ("llama-2-70b", 2, "a100-80gb"),
        1 => ("llama-2-70b", 4, d.pick(&["h100-sxm", "h200"])),
        2..=4 => ("tiny-llama", 1, d.pick(&["a100-80gb", "h100-sxm", "h200"])),
        _ => ("llama-3-8b", if d.chance(0.3) { 2 } else { 1 }, d.pick(&["a100-80gb", "h100-sxm", "h200"])),
    };
    let kv_pressure = model == "llama-2-70b" && gpu == "a100-80gb";
    if kv_pressure {
        d.feature("kv-pressure");
    }
    let engine = d.side(|d| d.chance(0.3));
    let policy = if engine {
        "engine"
    } else {
        d.pick(&["static", "continuous", "continuous", "chunked-prefill", "disaggregated"])
    };
    let replicas = if policy == "disaggregated" { d.int(2, 4) } else { d.int(1, 3) };
    let front_door = !closed_loop && d.chance(0.3);
    let safety = !front_door && d.chance(0.3);
    let prompt = d.int(16, 1500);
    let output = d.int(4, 200);
    let rate = d.real(0.5, 12.0) * replicas as f64 * if model == "tiny-llama" { 4.0 } else { 1.0 };

    if front_door {
        tenants(d, rate, prompt, output);
    } else {
        d.line("\n[workload]");
        if closed_loop {
            d.side(closed_loop_clients);
        } else {
            let arrival = d.pick(&["poisson", "poisson", "gamma", "deterministic"]);
            emit!(d, "arrival = \"{arrival}\"");
            emit!(d, "rate_per_s = {rate:.3}");
            if arrival == "gamma" {
                emit!(d, "scv = {}", d.real(0.3, 3.0));
            }
        }
        let (p, o) = (d.tokens(prompt), d.tokens(output));
        emit!(d, "prompt_tokens = {p}");
        emit!(d, "output_tokens = {o}");
        if d.chance(0.3) {
            d.feature("shared-prefix");
            let (tokens, share, prefixes) = (d.int(16, 2000), d.real(0.1, 0.9), d.int(1, 6));
            emit!(d, "shared_prefix = {{ tokens = {tokens}, share = {share}, prefixes = {prefixes} }}");
        }
        if !closed_loop && d.chance(0.25) {
            d.feature("conversations");
            let turns = d.int(2, 6);
            let think = d.int(100, 3000);
            emit!(
                d,
                "conversations = {{ turns = {{ median = {turns}, p99 = {}, max = {} }}, think_time = \"{think}ms\" }}",
                turns * 2,
                turns * 3
            );
        }
    }

    d.line("\n[replica]");
    emit!(d, "gpu = \"{gpu}\"");
    emit!(d, "model = \"{model}\"");
    emit!(d, "tp = {tp}");
    emit!(d, "count = {replicas}");
    emit!(d, "profiles = {}", toml_string(profiles));
    if replicas > 1 && policy != "disaggregated" {
        let routing = d.pick(&[
            "round-robin",
            "least-outstanding",
            "power-of-two-choices",
            "prefix-affinity",
            "session-affinity",
        ]);
        emit!(d, "routing = \"{routing}\"");
    }
    if d.chance(0.2) {
        d.feature("replica-queue-capacity");
        emit!(d, "queue_capacity = {}", d.int(1, 64));
    }

    if engine {
        d.side(|d| engine_section(d, kv_pressure));
    } else {
        batching_section(d, policy);
    }
    if policy == "disaggregated" {
        d.line("\n[disaggregation]");
        emit!(d, "prefill_replicas = {}", d.int(1, replicas - 1));
        emit!(d, "link_bandwidth_bytes_per_s = {}e9", d.int(5, 100));
        emit!(d, "link_latency = \"{}us\"", d.int(1, 100));
    }

    d.line("\n[kv]");
    if !engine {
        // An engine sets its own block size and preemption mode.
        emit!(d, "block_tokens = {}", d.pick(&["8", "16", "32"]));
        let preemption = d.pick(&["recompute", "swap"]);
        d.feature(if preemption == "swap" { "swap" } else { "recompute" });
        emit!(d, "preemption = \"{preemption}\"");
    }
    if d.chance(0.4) {
        let cache = d.pick(&["lru", "lfu"]);
        d.feature("prefix-cache");
        emit!(d, "prefix_cache = \"{cache}\"");
    }
    if d.chance(0.4) {
        d.line("\n[slo]");
        emit!(d, "ttft_p99 = \"{}ms\"", d.int(50, 3000));
        emit!(d, "tpot_p99 = \"{}ms\"", d.int(5, 200));
    }
    if safety {
        safety_section(d);
    }
}

/// An engine-neutral `[batching]` section for `policy`.
fn batching_section(d: &mut Draw, policy: &str) {
    d.feature(match policy {
        "static" => "static",
        "continuous" => "continuous",
        "chunked-prefill" => "chunked-prefill",
        _ => "disaggregated",
    });
    d.line("\n[batching]");
    emit!(d, "policy = \"{policy}\"");
    emit!(d, "max_batch = {}", d.int(1, 64));
    if policy == "static" {
        emit!(d, "max_wait = \"{}ms\"", d.int(0, 50));
    } else if policy == "chunked-prefill" {
        emit!(d, "chunk_tokens = {}", d.pick(&["64", "256", "512"]));
    } else if d.chance(0.5) {
        emit!(d, "max_batched_tokens = {}", d.pick(&["2048", "4096", "8192"]));
    }
}

/// `[engine]`: one of the three schedulers, with its defaults or some
/// knobs set; a small `kv_blocks` forces preemption (vLLM) and retraction
/// (SGLang) or makes admission wait (TensorRT-LLM). `kv_pressure`: the
/// engines' memory rules leave no KV for the weights, so `kv_blocks` is set.
fn engine_section(d: &mut Draw, kv_pressure: bool) {
    let kind = d.pick(&["vllm", "sglang", "trtllm"]);
    d.feature(kind);
    d.line("\n[engine]");
    emit!(d, "kind = \"{kind}\"");
    if kind == "vllm" && d.chance(0.2) {
        d.feature("vllm-v0");
        d.line("version = \"0\"");
    }
    let mut block: u64 = match kind {
        "vllm" => 16,
        "sglang" => 1,
        _ => 32,
    };
    if d.chance(0.6) {
        d.feature("engine-knobs");
        if d.chance(0.5) {
            emit!(d, "max_num_seqs = {}", d.int(1, 64));
        }
        if d.chance(0.5) {
            emit!(d, "max_num_batched_tokens = {}", d.pick(&["256", "1024", "2048", "8192"]));
        }
        if d.chance(0.5) {
            emit!(d, "chunked_prefill = {}", d.chance(0.5));
        }
        if d.chance(0.5) {
            block = d.int(1, 32);
            emit!(d, "block_tokens = {block}");
        }
        if !kv_pressure && d.chance(0.4) {
            let key = match kind {
                "vllm" => "gpu_memory_utilization",
                "sglang" => "mem_fraction_static",
                _ => "free_gpu_memory_fraction",
            };
            emit!(d, "{key} = {}", d.real(0.6, 0.95));
        }
    }
    if kv_pressure || d.chance(0.35) {
        d.feature("small-kv");
        emit!(d, "kv_blocks = {}", (d.int(64, 20_000) / block).max(1));
    }
}

/// `clients = { ... }`: closed-loop benchmark clients, a few hundred
/// requests at most.
fn closed_loop_clients(d: &mut Draw) {
    d.feature("closed-loop");
    let concurrency = d.int(1, 32);
    let mut keys = vec![format!("concurrency = {concurrency}")];
    if d.chance(0.7) {
        keys.push(format!("requests_per_client = {}", d.int(1, 8)));
    }
    if d.chance(0.5) {
        keys.push(format!("think_time = \"{}ms\"", d.int(0, 2000)));
    }
    if d.chance(0.4) {
        keys.push(match d.chance(0.3) {
            true => "start = \"burst\"".into(),
            false => format!("start = {{ ramp = \"{}ms\" }}", d.int(1, 5000)),
        });
    }
    if d.chance(0.5) {
        keys.push(format!("warmup_requests = {}", d.int(0, 2 * concurrency)));
    }
    emit!(d, "clients = {{ {} }}", keys.join(", "));
}

/// `[[tenants]]` with limits and weights (WFQ), a gateway, retrying clients.
fn tenants(d: &mut Draw, rate: f64, prompt: u64, output: u64) {
    d.feature("front-door");
    let count = d.int(1, 3);
    let tiers = ["enterprise", "pro", "free"];
    for i in 0..count {
        d.line("\n[[tenants]]");
        emit!(d, "name = \"t{i}\"");
        emit!(d, "tier = \"{}\"", tiers[i as usize % tiers.len()]);
        emit!(d, "priority = \"{}\"", d.pick(&["realtime", "streaming", "batch"]));
        emit!(d, "weight = {}", d.real(0.5, 4.0));
        emit!(d, "rate_per_s = {:.3}", rate / count as f64);
        if d.chance(0.3) {
            d.feature("tenant-schedule");
            let (at, until) = (d.int(200, 1500), d.int(1600, 3000));
            let burst = rate * d.real(1.5, 4.0);
            emit!(
                d,
                "schedule = [{{ at = \"{at}ms\", rate_per_s = {burst:.3} }}, {{ at = \"{until}ms\", rate_per_s = {:.3} }}]",
                rate / count as f64
            );
        }
        let (p, o) = (d.tokens(prompt), d.tokens(output));
        emit!(d, "prompt_tokens = {p}");
        emit!(d, "output_tokens = {o}");
        emit!(d, "slo = {{ e2e = \"{}ms\" }}", d.int(500, 20000));
        if d.chance(0.5) {
            emit!(d, "deadline = \"{}ms\"", d.int(200, 10000));
        }
        if d.chance(0.5) {
            d.feature("tenant-limits");
            let per_s = d.real(1.0, 40.0);
            emit!(d, "limits = {{ requests_per_s = {per_s}, request_burst = {} }}", d.int(1, 60));
        }
        if d.chance(0.2) {
            emit!(d, "max_concurrency = {}", d.int(1, 32));
        }
    }
    d.line("\n[gateway]");
    if d.chance(0.5) {
        d.feature("gateway-preemption");
        emit!(d, "aging = \"{}ms\"", d.int(100, 20000));
        d.line("preemption = true");
    }
    if d.chance(0.5) {
        d.feature("admission");
        d.line("shed_order = [\"free\", \"pro\", \"enterprise\"]");
        emit!(d, "max_queue = {}", d.int(1, 300));
    }
    emit!(d, "predicted_wait = {}", d.chance(0.5));
    if d.chance(0.3) {
        emit!(d, "max_in_flight_per_replica = {}", d.int(1, 64));
    }
    if d.chance(0.6) {
        d.feature("clients");
        d.line("\n[clients]");
        emit!(d, "timeout = \"{}ms\"", d.int(200, 30000));
        emit!(d, "max_attempts = {}", d.int(1, 5));
        emit!(d, "backoff = \"{}ms\"", d.int(10, 500));
        emit!(d, "backoff_cap = \"{}ms\"", d.int(500, 5000));
        emit!(d, "honour_retry_after = {}", d.chance(0.5));
        emit!(d, "retry_budget = {}", d.real(0.0, 0.5));
        if d.chance(0.5) {
            d.feature("breaker");
            emit!(d, "breaker = {{ failures = {}, open_for = \"{}ms\" }}", d.int(1, 10), d.int(100, 3000));
        }
    }
}

/// A classifier `[section]` body (name, servers, batching, times, scores).
fn classifier(d: &mut Draw, name: &str) {
    emit!(d, "name = \"{name}\"");
    emit!(d, "servers = {}", d.int(1, 4));
    emit!(d, "max_batch = {}", d.int(1, 32));
    emit!(d, "max_wait = \"{}ms\"", d.int(0, 5));
    emit!(d, "queue_capacity = {}", d.int(16, 1024));
    emit!(d, "base = \"{}ms\"", d.int(1, 20));
    emit!(d, "per_item = \"{}ms\"", d.real(0.1, 2.0));
    let (b, h) = (d.real(1.0, 20.0), d.real(1.0, 20.0));
    emit!(d, "scores = {{ benign = [1, {b}], borderline = [3, 4], harmful = [{h}, 2] }}");
}

/// Input classifiers, streaming or whole-output checks, outages.
fn safety_section(d: &mut Draw) {
    d.feature("safety");
    d.line("\n[safety]");
    emit!(d, "timeout = \"{}ms\"", d.int(50, 1000));
    d.line("mix = { benign = 0.88, borderline = 0.07, harmful = 0.05 }");
    if d.chance(0.2) {
        d.feature("fail-open");
        d.line("fail_open = true");
    }
    d.line("\n[safety.input]");
    d.line("pass_threshold = 0.3");
    d.line("block_threshold = 0.8");
    let escalate = d.pick(&["pass", "review", "classifier"]);
    emit!(d, "escalate = \"{escalate}\"");
    let inputs = d.int(1, 2);
    for i in 0..inputs {
        d.line("\n[[safety.input.classifiers]]");
        classifier(d, &format!("in{i}"));
    }
    match escalate {
        "review" => {
            d.line("\n[safety.review]");
            emit!(d, "reviewers = {}", d.int(1, 20));
            emit!(d, "review_time = \"{}ms\"", d.int(100, 5000));
        }
        "classifier" => {
            d.line("\n[safety.escalation]");
            d.line("block_threshold = 0.6");
            d.line("\n[safety.escalation.classifier]");
            classifier(d, "escalation");
        }
        _ => {}
    }
    if d.chance(0.7) {
        let mode = d.pick(&["streaming", "whole"]);
        d.feature(if mode == "streaming" { "streaming-output" } else { "whole-output" });
        d.line("\n[safety.output]");
        emit!(d, "mode = \"{mode}\"");
        if mode == "streaming" {
            emit!(d, "chunk_tokens = {}", d.int(4, 64));
        }
        d.line("block_threshold = 0.8");
        d.line("\n[safety.output.classifier]");
        classifier(d, "output");
    }
    if d.chance(0.4) {
        d.feature("outage");
        let start = d.int(0, 2000);
        d.line("\n[[safety.outages]]");
        emit!(d, "classifier = \"in{}\"", d.int(0, inputs - 1));
        emit!(d, "start = \"{start}ms\"");
        emit!(d, "end = \"{}ms\"", start + d.int(100, 2000));
    }
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
