//! LLM serving reduced to queueing theory. With a synthetic GPU and model
//! whose step time is either constant or exactly proportional to the tokens
//! in the step, the replica engine must reproduce textbook results (formulas
//! written out here), within 99% confidence intervals over replications:
//!
//! - constant step time T, one sequence at a time, n output tokens: each
//!   request holds the GPU for n steps, so the replica is an M/D/1 queue
//!   (Pollaczek-Khinchine) — continuous batching of fixed jobs is a plain
//!   single-server queue;
//! - step time k x (tokens in the step), unlimited batch: every running
//!   sequence advances one token per step, so each gets 1/n of the GPU —
//!   processor sharing, mean sojourn E[S] / (1 − ρ);
//! - constant step time T, at most c sequences per step, geometric output
//!   lengths (mean m tokens = m steps): each batch slot is a server whose
//!   job is memoryless, so continuous batching is the multi-server queue
//!   M/M/c with E[S] = mT (Erlang C). Two approximations, both far inside
//!   the interval: a geometric length has SCV 1 − 1/m, not 1 (0.5% here),
//!   and a request arriving mid-step joins at the step's end (≤ T, 0.2 ms
//!   of a 40 ms service).

use servesim::metrics::Summary;
use servesim::plan::replicate::{estimate, replications};
use servesim::scenario;
use std::path::Path;

/// Writes a synthetic GPU (`flops`, `overhead`) and a 1e9-parameter model
/// whose attention and KV traffic are negligible next to its linear layers.
fn profiles(dir: &Path, flops: &str, overhead: &str) {
    std::fs::create_dir_all(dir.join("gpus")).unwrap();
    std::fs::create_dir_all(dir.join("models")).unwrap();
    let gpu = format!(
        "description = \"synthetic\"\nmemory_bytes = 80_000_000_000\nmemory_bandwidth_bytes_per_s = 1e18\n\
         bf16_flops_per_s = {flops}\nmemory_bandwidth_efficiency = 1.0\nflops_efficiency = 1.0\n\
         step_overhead = \"{overhead}\"\nprice_per_gpu_hour_usd = 1.0\nnvlink_bandwidth_bytes_per_s = 1e12\n\
         nvlink_efficiency = 1.0\nnvlink_latency = \"0s\"\npcie_bandwidth_bytes_per_s = 1e12\n"
    );
    std::fs::write(dir.join("gpus/synthetic.toml"), gpu).unwrap();
    let model = "description = \"synthetic\"\nparameters = 1_000_000_000\nlayers = 1\nhidden_size = 64\n\
                 attention_heads = 1\nkv_heads = 1\nhead_dim = 64\nintermediate_size = 64\nvocab_size = 64\ndtype_bytes = 2\n";
    std::fs::write(dir.join("models/synthetic.toml"), model).unwrap();
}

fn scenario_text(rate: f64, output: u32, max_batch: u32) -> String {
    scenario_with_output(rate, &format!("{{ fixed = {output} }}"), max_batch)
}

fn scenario_with_output(rate: f64, output: &str, max_batch: u32) -> String {
    format!(
        "seed = 5\n[run]\nmax_requests = 1000\n[workload]\nrate_per_s = {rate}\n\
         prompt_tokens = {{ fixed = 1 }}\noutput_tokens = {output}\n\
         [replica]\ngpu = \"synthetic\"\nmodel = \"synthetic\"\nprofiles = \"profiles\"\n\
         [batching]\npolicy = \"continuous\"\nmax_batch = {max_batch}\nmax_batched_tokens = 100000\n\
         [validation]\nreplications = 12\nrequests = 6000\nwarmup_requests = 600\n"
    )
}

fn runs(text: &str, flops: &str, overhead: &str) -> Vec<Summary> {
    let tmp = tempfile::tempdir().unwrap();
    profiles(&tmp.path().join("profiles"), flops, overhead);
    let path = tmp.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let s = scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    let runs = replications(&s);
    assert!(runs.iter().all(|r| r.invariants.all_hold));
    runs
}

fn assert_agrees(runs: &[Summary], what: &str, theory: f64, metric: impl Fn(&Summary) -> f64) {
    let e = estimate(&runs.iter().map(metric).collect::<Vec<_>>());
    assert!(
        (e.mean - theory).abs() <= e.half_width_99,
        "{what}: theory {theory:.6} outside simulated {:.6} ± {:.6} (99%)",
        e.mean,
        e.half_width_99
    );
}

#[test]
fn constant_steps_one_at_a_time_is_md1() {
    // Step = 1 ms overhead (+ ~2 ns); 20 tokens = 20 steps = 20 ms of GPU.
    let (lambda, service) = (35.0, 0.020);
    let runs = runs(&scenario_text(lambda, 20, 1), "1e30", "1ms");
    let rho: f64 = lambda * service;
    let wq = rho * service / (2.0 * (1.0 - rho));
    assert_agrees(&runs, "M/D/1 mean end-to-end", wq + service, |s| s.latency.end_to_end.mean_s);
    assert_agrees(&runs, "M/D/1 mean TTFT (wait + one step)", wq + 0.001, |s| s.llm.as_ref().unwrap().ttft.mean_s);
}

#[test]
fn steps_proportional_to_batch_are_processor_sharing() {
    // 2e9 FLOPs per token at 1e13 FLOP/s: 0.2 ms per token in a step.
    // 1 prompt token + 199 decode tokens = 200 tokens = 40 ms of work.
    let (lambda, work) = (17.5, 0.040);
    let runs = runs(&scenario_text(lambda, 200, 100_000), "1e13", "0s");
    let rho = lambda * work;
    assert_agrees(&runs, "PS mean sojourn", work / (1.0 - rho), |s| s.latency.end_to_end.mean_s);
}

/// Erlang C: the probability an M/M/c arrival waits, at offered load a = λE[S].
fn erlang_c(c: u32, a: f64) -> f64 {
    let rho = a / f64::from(c);
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    last / (sum + last)
}

#[test]
fn constant_steps_with_geometric_lengths_are_mmc() {
    // Step = 0.2 ms; output ~ geometric, mean 200 tokens = 40 ms; 4 slots.
    let (lambda, service, c) = (75.0, 0.040, 4);
    // Waits are noisy (Erlang C's tail): 40,000 requests per replication.
    let text = scenario_with_output(lambda, "{ mean = 200 }", c).replace("requests = 6000", "requests = 40000");
    let runs = runs(&text, "1e30", "200us");
    let wq = erlang_c(c, lambda * service) * service / (f64::from(c) - lambda * service);
    assert_agrees(&runs, "M/M/4 mean end-to-end", wq + service, |s| s.latency.end_to_end.mean_s);
    assert_agrees(&runs, "M/M/4 mean TTFT (wait + one step)", wq + 0.0002, |s| s.llm.as_ref().unwrap().ttft.mean_s);
}

/// Closed-loop benchmark clients against constant steps. N clients, zero
/// think time, prompts of P tokens, outputs of L tokens, a batch cap
/// B >= N and a token budget above N·P, every step exactly T (the
/// synthetic GPU's overhead; its byte and FLOP terms round to 0 ns):
///
/// - every request's first token ends its prefill step, and each of its
///   other L − 1 tokens ends one decode step of T: TPOT = T exactly;
/// - an answer arrives when a step ends, and the replica has already
///   started the next step (other clients keep it busy), so the client's
///   next request waits that step (T), is prefilled in the one after (T,
///   its first token), and decodes L − 1 steps: a client's cycle is
///   E = T + T + (L − 1)·T = L·T + prefill, with prefill = T;
/// - at t = 0 the first request finds the GPU idle and is prefilled alone,
///   the other N − 1 wait that step: exactly the steady-state wait, so
///   those N − 1 clients finish their R requests at R·E while the first
///   finishes one step earlier, and the run lasts R·E: throughput is
///   N·R / (R·E) = N / (L·T + prefill) exactly;
/// - TTFT from the send is 2T (wait + prefill) for every request but the
///   very first (T): mean (2·N·R − 1)·T / (N·R).
#[test]
fn closed_loop_clients_see_tpot_t_and_throughput_n_over_cycle() {
    let (n, r, l, t) = (8u32, 5u32, 20u32, 0.001);
    let tmp = tempfile::tempdir().unwrap();
    profiles(&tmp.path().join("profiles"), "1e30", "1ms");
    let gpu = tmp.path().join("profiles/gpus/synthetic.toml");
    let text = std::fs::read_to_string(&gpu)
        .unwrap()
        .replace("memory_bandwidth_bytes_per_s = 1e18", "memory_bandwidth_bytes_per_s = 1e24");
    std::fs::write(&gpu, text).unwrap();
    let scenario = format!(
        "seed = 5\n[workload]\nclients = {{ concurrency = {n}, requests_per_client = {r} }}\n\
         prompt_tokens = {{ fixed = 100 }}\noutput_tokens = {{ fixed = {l} }}\n\
         [replica]\ngpu = \"synthetic\"\nmodel = \"synthetic\"\nprofiles = \"profiles\"\n\
         [batching]\npolicy = \"continuous\"\nmax_batch = {n}\nmax_batched_tokens = 100000\n"
    );
    let path = tmp.path().join("s.toml");
    std::fs::write(&path, scenario).unwrap();
    let s = scenario::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
    let summary = servesim::sim::run(&s).summary;
    assert!(summary.invariants.all_hold);
    let llm = summary.llm.as_ref().unwrap();
    let requests = f64::from(n * r);
    assert_eq!(llm.tpot.count, u64::from(n * r));
    assert!((llm.tpot.mean_s - t).abs() < 1e-12, "TPOT {} vs T {t}", llm.tpot.mean_s);
    assert!((llm.tpot.max_s - t).abs() < 1e-6, "histogram max {}", llm.tpot.max_s);
    let cycle = f64::from(l) * t + t;
    let throughput = f64::from(n) / cycle;
    let got = summary.throughput.completed_per_s;
    assert!((got - throughput).abs() / throughput < 1e-9, "throughput {got} vs N/(L·T + prefill) {throughput}");
    let ttft = (2.0 * requests - 1.0) * t / requests;
    assert!((llm.ttft.mean_s - ttft).abs() < 1e-9, "TTFT {} vs {ttft}", llm.ttft.mean_s);
}
