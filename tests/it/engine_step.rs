//! The engine step model (per-engine calibration), MoE weight streaming,
//! speculative decoding's token yield, and bad engine/precision/MoE
//! profiles against located errors.

use crate::support::{gpu, model, profiles};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use servesim::core::llm::StepShape;
use servesim::model::engine_step::Parallelism;
use servesim::model::profile::{CalibratedProfile, ModelProfile, ProfileError};
use servesim::model::speculative::Speculation;
use servesim::model::step::StepModel;
use servesim::time::SimDuration;
use std::path::Path;

fn engines() -> CalibratedProfile {
    CalibratedProfile::find(&profiles(), "h100-sxm-engines").unwrap().unwrap()
}

/// Without coefficients for the replica's engine the roofline prices the
/// step exactly as before and adds no per-request cost; with them, the
/// engine model prices it and the request overhead is the calibrated one.
#[test]
fn the_roofline_stays_the_default() {
    let (h100, qwen, cal) = (gpu("h100-sxm"), model("qwen3-32b"), engines());
    let shape = StepShape::decode(16, 16 * 1500).with_prefill(512, 0);
    let roofline = StepModel::new(&h100, &qwen, 2, None).unwrap();
    let unknown = StepModel::for_engine(&h100, &qwen, Parallelism::tensor(2), Some(&cal), "tgi").unwrap();
    assert_eq!(unknown.cost(&shape), StepModel::new(&h100, &qwen, 2, Some(&cal)).unwrap().cost(&shape));
    assert_eq!(unknown.request_overhead(), SimDuration::ZERO);
    assert_eq!(roofline.request_overhead(), SimDuration::ZERO);
    let sglang = StepModel::for_engine(&h100, &qwen, Parallelism::tensor(2), Some(&cal), "sglang").unwrap();
    assert_eq!(sglang.request_overhead(), cal.engines["sglang"].request_overhead);
    assert_ne!(sglang.cost(&shape), roofline.cost(&shape));
}

/// The engine model's terms, recomputed by hand for one decode step of
/// Llama-3.1-8B at tp 2 on H100 with unit inefficiencies and round CPU
/// times, so each term is a datasheet division.
#[test]
fn engine_terms_add_up() {
    let text = r#"gpu = "h100-sxm"
[engines.vllm]
step_cpu = "1ms"
seq_layer_latency = "300ns"
request_overhead = "20ms"
allreduce_hop_latency = "5us"
weight_stream_inefficiency = 1.0
kv_inefficiency = 1.0
attention_inefficiency = 1.0
nvlink_inefficiency = 1.0
gemm_inefficiency = { bf16 = 1.0 }
"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("unit.toml"), text).unwrap();
    let cal = CalibratedProfile::load(&dir.path().join("unit.toml")).unwrap();
    let step =
        StepModel::for_engine(&gpu("h100-sxm"), &model("llama-3.1-8b"), Parallelism::tensor(2), Some(&cal), "vllm")
            .unwrap();
    let (seqs, context) = (8.0, 8.0 * 1000.0);
    let cost = step.cost(&StepShape::decode(8, 8000));
    let (l, h, v) = (32.0_f64, 4096.0_f64, 128256.0_f64);
    let dense_layer = h * 32.0 * 128.0 * 2.0 + 2.0 * h * 8.0 * 128.0 + 3.0 * h * 14336.0;
    let weights = (l * dense_layer * 2.0 + v * h * 2.0) / 2.0;
    let gemm = 2.0 * l * dense_layer / 2.0 * seqs + 2.0 * v * h / 2.0 * seqs;
    let kv = 2.0 * l * 4.0 * 128.0 * 2.0 * (context + seqs);
    let expected = 1e-3
        + 300e-9 * l * seqs
        + (weights / 3.35e12).max(gemm / 989e12)
        + kv / 3.35e12
        + 2.0 * l * 1.0 * 5e-6
        + 2.0 * l * 2.0 * (1.0 / 2.0) * h * 2.0 * seqs / 450e9;
    let got = cost.time.as_secs_f64();
    assert!((got - expected).abs() < 2e-9, "{got} vs {expected}");
    assert_eq!(step.request_overhead(), SimDuration::from_millis(20));
}

/// The per-layer terms: every step pays `layer_latency` per layer; a step
/// with prompt tokens also pays `prompt_layer_cpu` per layer (launched
/// eagerly, no CUDA graph), once however many prompts it holds; a decode
/// step and a speculative verify step do not.
#[test]
fn per_layer_terms_charge_every_step_and_prompt_steps() {
    let table = |extra: &str| {
        format!(
            "gpu = \"h100-sxm\"\n[engines.vllm]\nstep_cpu = \"1ms\"\nseq_layer_latency = \"300ns\"\nrequest_overhead = \"20ms\"\n\
             allreduce_hop_latency = \"5us\"\nweight_stream_inefficiency = 1.0\nkv_inefficiency = 1.0\n\
             attention_inefficiency = 1.0\nnvlink_inefficiency = 1.0\ngemm_inefficiency = {{ bf16 = 1.0 }}\n{extra}"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let step = |name: &str, extra: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, table(extra)).unwrap();
        let cal = CalibratedProfile::load(&path).unwrap();
        StepModel::for_engine(&gpu("h100-sxm"), &model("llama-3.1-8b"), Parallelism::tensor(2), Some(&cal), "vllm")
            .unwrap()
    };
    let (plain, layered) =
        (step("plain", ""), step("layered", "layer_latency = \"2us\"\nprompt_layer_cpu = \"100us\"\n"));
    let extra = |shape: &StepShape| layered.cost(shape).time.as_secs_f64() - plain.cost(shape).time.as_secs_f64();
    let layers = 32.0;
    let decode = StepShape::decode(8, 8000);
    let one_prompt = decode.with_prefill(512, 0);
    let two_prompts = one_prompt.with_prefill(256, 0);
    let verify = Speculation::new(3, 0.7).unwrap().verify_shape(8, 8000);
    for (what, shape, want) in [
        ("decode", decode, layers * 2e-6),
        ("one prompt", one_prompt, layers * (2e-6 + 100e-6)),
        ("two prompts", two_prompts, layers * (2e-6 + 100e-6)),
        ("verify", verify, layers * 2e-6),
    ] {
        assert!((extra(&shape) - want).abs() < 2e-9, "{what}: {} vs {want}", extra(&shape));
    }
}

/// Acceptance: MoE weight bytes per step are the experts the batch hits.
///
/// Derivation. Top-k routing picks k distinct experts of E per token, so a
/// given expert is missed by one token with probability 1 - k/E; tokens
/// routed independently miss it together with probability (1 - k/E)^b, and
/// by linearity of expectation a batch of b tokens touches
/// E (1 - (1 - k/E)^b) distinct experts. The weights a step streams per GPU
/// are the dense part (attention, router, lm_head, sharded over tp) plus
/// the touched experts times one expert's bytes; with every expert sharded
/// over the tp GPUs (`moe_tp = tp`) each GPU reads 1/tp of each touched
/// expert. The test (1) checks the simulator's weight bytes against that
/// formula with the dense and expert bytes recomputed from Qwen3-235B-A22B's
/// config, and (2) checks the formula itself against seeded random top-k
/// routing (mean distinct experts over 2,000 batches, within 4 standard
/// errors).
#[test]
fn moe_streams_the_experts_the_batch_hits() {
    let (m, cal) = (model("qwen3-235b-a22b-fp8"), engines());
    let (e, k, tp) = (128.0_f64, 8.0_f64, 8.0_f64);
    let step = StepModel::for_engine(&gpu("h100-sxm"), &m, Parallelism::tensor(8), Some(&cal), "trtllm").unwrap();
    let (l, h) = (94.0_f64, 4096.0_f64);
    let dense_layer = h * 64.0 * 128.0 * 2.0 + 2.0 * h * 4.0 * 128.0 + h * e;
    let dense = l * dense_layer * 1.0 / tp + 151936.0 * h * 2.0 / tp;
    let expert = l * 3.0 * h * 1536.0 * 1.0 / tp;
    let expected_hit = |b: f64| e * (1.0 - (1.0 - k / e).powf(b));
    for b in [1u64, 2, 8, 64, 512, 4096] {
        let cost = step.cost(&StepShape::decode(b, 0));
        let weights = cost.bytes_per_gpu - cost.kv_bytes_per_gpu;
        let want = dense + expected_hit(b as f64) * expert;
        assert!((weights / want - 1.0).abs() < 1e-12, "b = {b}: {weights} vs {want}");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for b in [1usize, 4, 16, 64] {
        let counts = routed_hits(&mut rng, b, 1, 2000);
        let (mean, se) = mean_and_standard_error(&counts);
        let want = expected_hit(b as f64);
        assert!((mean - want).abs() < 4.0 * se + 1e-9, "b = {b}: simulated {mean} vs {want} (se {se})");
    }
}

/// Expert parallelism waits for its busiest GPU.
///
/// Derivation. Under EP each of `ep` GPUs holds E/ep experts, each hit
/// with probability p = 1 - (1 - k/E)^b; taking hits as independent, a
/// GPU's count is Binomial(E/ep, p) and the most loaded of `ep` GPUs has
/// E[max] = sum_{m>=1} P(max >= m) = sum_{m=1..E/ep} (1 - F(m-1)^ep). The
/// test checks (1) that formula against seeded random top-k routing (the
/// largest per-GPU count, 2,000 batches, within 4 standard errors plus the
/// independence approximation's 1%), (2) that an EP-8 replica's step
/// streams the dense part plus that many experts, more than the same
/// replica sharding every expert at small batches and the same once every
/// expert is hit, and (3) that one GPU (ep = 1) has no gap.
#[test]
fn expert_parallelism_streams_the_busiest_gpus_experts() {
    let (m, cal) = (model("qwen3-235b-a22b-fp8"), engines());
    let moe = m.moe.unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for (ep, b) in [(8u32, 1usize), (8, 4), (8, 16), (4, 4), (4, 32)] {
        let (mean, se) = mean_and_standard_error(&routed_hits(&mut rng, b, ep as usize, 2000));
        let want = moe.expected_busiest_experts_hit(ep, b as u64);
        assert!((mean - want).abs() < 4.0 * se + 0.01 * want, "ep {ep}, b = {b}: simulated {mean} vs {want} (se {se})");
    }
    let ep_step = |ep: u32| {
        let par = Parallelism { tp: 8, moe_tp: 8 / ep, moe_ep: ep };
        StepModel::for_engine(&gpu("h100-sxm"), &m, par, Some(&cal), "trtllm").unwrap()
    };
    let weights = |step: &StepModel, b: u64| {
        let cost = step.cost(&StepShape::decode(b, 0));
        cost.bytes_per_gpu - cost.kv_bytes_per_gpu
    };
    let (ep8, sharded) = (ep_step(8), ep_step(1));
    let (l, h) = (94.0_f64, 4096.0_f64);
    let dense = l * (h * 64.0 * 128.0 * 2.0 + 2.0 * h * 4.0 * 128.0 + h * 128.0) / 8.0 + 151936.0 * h * 2.0 / 8.0;
    let expert = l * 3.0 * h * 1536.0;
    for b in [1u64, 4, 16, 64] {
        let want = dense + moe.expected_busiest_experts_hit(8, b) * expert;
        assert!((weights(&ep8, b) / want - 1.0).abs() < 1e-12, "b = {b}");
        assert!(weights(&ep8, b) > weights(&sharded, b), "b = {b}: EP streams more than sharded experts");
    }
    assert!((weights(&ep8, 4096) / weights(&sharded, 4096) - 1.0).abs() < 1e-9);
    for b in [1u64, 7, 100] {
        let mean = 128.0 * (1.0 - (1.0 - 8.0_f64 / 128.0).powf(b as f64));
        assert!((moe.expected_busiest_experts_hit(1, b) - mean).abs() < 1e-9);
    }
}

/// Distinct experts hit on the busiest of `ep` GPUs (experts `g*E/ep ..`
/// on GPU `g`) by `b` tokens routed top-8 of 128 uniformly, per trial.
fn routed_hits(rng: &mut ChaCha8Rng, b: usize, ep: usize, trials: usize) -> Vec<f64> {
    (0..trials)
        .map(|_| {
            let mut hit = [false; 128];
            for _ in 0..b {
                for x in rand::seq::index::sample(rng, 128, 8) {
                    hit[x] = true;
                }
            }
            hit.chunks(128 / ep).map(|gpu| gpu.iter().filter(|&&x| x).count()).max().unwrap_or(0) as f64
        })
        .collect()
}

fn mean_and_standard_error(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt().max(1e-9))
}

/// Acceptance: speculative decoding yields (1 - a^(k+1)) / (1 - a) tokens
/// per step on average.
///
/// Derivation. The target keeps proposals up to the first rejection and
/// adds one token of its own; with independent acceptance a, the accepted
/// run J has P(J = j) = a^j (1 - a) for j < k and P(J = k) = a^k, so
/// T = 1 + J has mean sum_{j=0..k} a^j = (1 - a^(k+1)) / (1 - a) and a
/// variance computed exactly below from that distribution. 200,000 seeded
/// draws must land within 4 standard errors of the mean.
#[test]
fn speculation_yields_the_expected_tokens_per_step() {
    for (k, a) in [(1u32, 0.5), (4, 0.7), (7, 0.9), (3, 0.0)] {
        let spec = Speculation::new(k, a).unwrap();
        let mean = (1.0 - a.powi(k as i32 + 1)) / (1.0 - a);
        assert!((spec.mean_tokens_per_step() - mean).abs() < 1e-12);
        let p = |j: u32| if j < k { a.powi(j as i32) * (1.0 - a) } else { a.powi(k as i32) };
        let var: f64 = (0..=k).map(|j| p(j) * (f64::from(j + 1) - mean).powi(2)).sum();
        let mut rng = ChaCha8Rng::seed_from_u64(u64::from(k));
        let n = 200_000;
        let drawn = (0..n).map(|_| f64::from(spec.draw_tokens(&mut rng))).sum::<f64>() / f64::from(n);
        let se = (var / f64::from(n)).sqrt();
        assert!((drawn - mean).abs() <= 4.0 * se + 1e-12, "k={k} a={a}: {drawn} vs {mean} (se {se})");
    }
    assert!(Speculation::new(0, 0.5).is_err() && Speculation::new(2, 1.0).is_err());
}

/// The verify step scores k + 1 tokens per sequence: in a weight-bound
/// decode that costs far less than k + 1 steps, and more than one.
#[test]
fn a_verify_step_is_cheaper_than_its_tokens_in_steps() {
    let step = StepModel::for_engine(
        &gpu("h100-sxm"),
        &model("llama-3.1-8b"),
        Parallelism::tensor(1),
        Some(&engines()),
        "vllm",
    )
    .unwrap();
    let spec = Speculation::new(3, 0.8).unwrap();
    let shape = spec.verify_shape(4, 4 * 500);
    assert_eq!((shape.prefill_tokens, shape.prefill_seqs, shape.prefill_cached_tokens), (16, 4, 2000));
    let one = step.time(&StepShape::decode(4, 2000)).as_secs_f64();
    let verify = spec.step_time(&step, None, 4, 2000).as_secs_f64();
    assert!(verify > one && verify < 1.5 * one, "verify {verify} vs decode {one}");
    let rng = &mut ChaCha8Rng::seed_from_u64(1);
    assert!((1..=4).contains(&spec.draw_tokens(rng)));
    let _: f64 = rng.random();
}

fn load_error(dir: &Path, file: &str, text: &str) -> ProfileError {
    std::fs::write(dir.join(file), text).unwrap();
    let path = dir.join(file);
    if file.starts_with("model") {
        ModelProfile::load(&path).unwrap_err()
    } else {
        CalibratedProfile::load(&path).unwrap_err()
    }
}

#[test]
fn bad_engine_precision_and_moe_profiles_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let cal = std::fs::read_to_string(profiles().join("calibrated/h100-sxm-engines.toml")).unwrap();
    // The first engine table is sglang's; each edit replaces one of its lines.
    let edit = |prefix: &str, to: &str| {
        let line = cal.lines().find(|l| l.starts_with(prefix)).expect("the shipped profile has the line");
        cal.replacen(line, to, 1)
    };
    let e = load_error(dir.path(), "cal.toml", &edit("kv_inefficiency = ", "kv_inefficiency = 0.5"));
    let msg = e.to_string();
    assert_eq!(e.key(), "engines.sglang.kv_inefficiency", "{msg}");
    assert!(msg.contains("cal.toml:") && msg.contains(">= 1"), "{msg}");
    let e = load_error(dir.path(), "cal2.toml", &edit("bf16 = ", "fp8 = 1.5"));
    assert_eq!(e.key(), "engines.sglang.gemm_inefficiency.bf16", "{e}");

    let qwen = std::fs::read_to_string(profiles().join("models/qwen3-235b-a22b-fp8.toml")).unwrap();
    let e = load_error(dir.path(), "model1.toml", &qwen.replace("experts_per_token = 8", "experts_per_token = 200"));
    assert_eq!(e.key(), "moe.experts_per_token", "{e}");
    assert!(e.to_string().contains("model1.toml:"), "{e}");
    let e = load_error(dir.path(), "model2.toml", &qwen.replace("kv_cache = \"fp8\"", "kv_cache = \"fp6\""));
    assert!(e.to_string().contains("fp6") && e.to_string().contains("bf16"), "{e}");
    let oss = std::fs::read_to_string(profiles().join("models/gpt-oss-120b.toml")).unwrap();
    let e = load_error(dir.path(), "model3.toml", &oss.replace("layers = 18", "layers = 40"));
    assert_eq!(e.key(), "sliding_window.layers", "{e}");
    assert!(e.to_string().contains("model3.toml:") && e.to_string().contains("1..=36"), "{e}");

    let m = model("qwen3-235b-a22b-fp8");
    let bad = Parallelism { tp: 8, moe_tp: 2, moe_ep: 8 };
    let e = StepModel::for_engine(&gpu("h100-sxm"), &m, bad, Some(&engines()), "trtllm").unwrap_err();
    assert_eq!(e.key(), "moe_ep", "{e}");
    let e = StepModel::for_engine(&gpu("h100-sxm"), &m, Parallelism { tp: 8, moe_tp: 1, moe_ep: 8 }, None, "trtllm")
        .unwrap_err();
    assert!(e.to_string().contains("[engines.trtllm]"), "{e}");
}

/// gpt-oss-120b's 18 window layers (of 36) read 128 cached positions at
/// most: a decode step of 16 sequences with 4,000 tokens each reads, on
/// the layers' average, (4,000 + 128) / 2 tokens per sequence, under the
/// roofline and under the engine step model alike; its new tokens' KV is
/// written on every layer.
#[test]
fn sliding_window_layers_read_their_window() {
    let (h100, oss, cal) = (gpu("h100-sxm"), model("gpt-oss-120b"), engines());
    let mut full = oss.clone();
    full.sliding_window = None;
    let per_token = servesim::model::step::kv_bytes_per_token_per_gpu(&oss, 2) as f64;
    let shape = StepShape::decode(16, 16 * 4000);
    for engine in [None, Some("vllm")] {
        let step = |m: &ModelProfile| match engine {
            None => StepModel::new(&h100, m, 2, None).unwrap(),
            Some(e) => StepModel::for_engine(&h100, m, Parallelism::tensor(2), Some(&cal), e).unwrap(),
        };
        let (windowed, whole) = (step(&oss).cost(&shape), step(&full).cost(&shape));
        assert_eq!(whole.kv_bytes_per_gpu, per_token * (16.0 * 4000.0 + 16.0), "{engine:?}");
        let expected = per_token * (16.0 * (4000.0 + 128.0) / 2.0 + 16.0);
        assert!((windowed.kv_bytes_per_gpu - expected).abs() <= 1e-9 * expected, "{engine:?}");
        assert!(windowed.time < whole.time, "{engine:?}");
    }
    // A prompt's attention on the window layers stops at the window too.
    let prompt = StepShape::prefill(4000, 0);
    let (w, f) = (StepModel::new(&h100, &oss, 2, None).unwrap(), StepModel::new(&h100, &full, 2, None).unwrap());
    let ratio = w.cost(&prompt).attention_flops_per_gpu / f.cost(&prompt).attention_flops_per_gpu;
    let expected = (0.5 * 4000.0 * 4001.0 / 2.0 + 0.5 * 4000.0 * 128.0) / (4000.0 * 4001.0 / 2.0);
    assert!((ratio - expected).abs() < 1e-12, "{ratio} vs {expected}");
}

/// A scenario serving `model` on `tp` H100s under TensorRT-LLM with the
/// shipped engine coefficients (unless `calibrated` is false) and the given
/// `[engine]` extra lines.
fn moe_scenario(model: &str, tp: u32, calibrated: bool, engine: &str) -> String {
    let calibrated = if calibrated { "calibrated = \"h100-sxm-engines\"\n" } else { "" };
    format!(
        "name = \"moe\"\nseed = 1\n\n[workload]\nclients = {{ concurrency = 4, requests_per_client = 2 }}\n\
         prompt_tokens = {{ fixed = 256 }}\noutput_tokens = {{ fixed = 16 }}\n\n[replica]\ngpu = \"h100-sxm\"\n\
         model = \"{model}\"\ntp = {tp}\nprofiles = \"{}\"\n{calibrated}\n[engine]\nkind = \"trtllm\"\n{engine}\n",
        profiles().display()
    )
}

/// `engine.moe_ep` splits an MoE model's experts over groups of the
/// replica's GPUs: it must divide tp and the experts, needs experts and the
/// engine step model, and each refusal names the key with a hint.
#[test]
fn expert_parallelism_is_an_engine_key_with_located_errors() {
    let load = |text: String| servesim::scenario::from_text(&text, &profiles().join("moe.toml"), &[]).map_err(Box::new);
    let moe = "qwen3-235b-a22b-fp8";
    let ep8 = load(moe_scenario(moe, 8, true, "moe_ep = 8")).unwrap();
    let tp8 = load(moe_scenario(moe, 8, true, "")).unwrap();
    let (one, other) = (servesim::sim::run(&ep8).summary, servesim::sim::run(&tp8).summary);
    // A GPU of EP8 holds 16 whole experts and one of TP8 an eighth of all
    // 128: the same expected expert bytes on average, but EP's layer waits
    // for its busiest GPU, so EP8 decodes 4 sequences more slowly.
    let tpot = |s: &servesim::metrics::summary::Summary| s.llm.as_ref().unwrap().tpot.mean_s;
    assert!(tpot(&other) > 0.0 && tpot(&one) > tpot(&other), "{} vs {}", tpot(&one), tpot(&other));
    for (text, needles) in [
        (moe_scenario(moe, 8, true, "moe_ep = 3"), &["does not divide replica.tp = 8", "e.g. moe_ep = 8"][..]),
        (moe_scenario(moe, 8, true, "moe_ep = 0"), &["expected an integer >= 1"][..]),
        (moe_scenario("qwen3-32b", 8, true, "moe_ep = 2"), &["no routed experts", "dense model"][..]),
        (moe_scenario(moe, 8, false, "moe_ep = 8"), &["engine step model", "replica.calibrated"][..]),
    ] {
        let e = load(text).unwrap_err();
        let shown = format!("{e} {}", e.hint.clone().unwrap_or_default());
        assert_eq!(e.key, "engine.moe_ep", "{shown}");
        for needle in needles {
            assert!(shown.contains(needle), "`{needle}` not in: {shown}");
        }
    }
}

/// An engine calibration measured on one GPU prices another GPU of the same
/// architecture through that GPU's datasheet (its tables are inverse
/// efficiencies against the peaks and host CPU times); the roofline rates
/// it measured are dropped, and a GPU of another architecture is refused.
#[test]
fn engine_calibrations_carry_over_within_an_architecture() {
    let scenario = |gpu: &str| {
        format!(
            "name = \"carry\"\nseed = 1\n\n[workload]\nclients = {{ concurrency = 4, requests_per_client = 2 }}\n\
             prompt_tokens = {{ fixed = 1024 }}\noutput_tokens = {{ fixed = 64 }}\n\n[replica]\ngpu = \"{gpu}\"\n\
             model = \"llama-3.1-8b\"\nprofiles = \"{}\"\ncalibrated = \"h100-sxm-engines\"\n\n[engine]\nkind = \"vllm\"\n",
            profiles().display()
        )
    };
    let load = |gpu: &str| {
        servesim::scenario::from_text(&scenario(gpu), &profiles().join("carry.toml"), &[]).map_err(Box::new)
    };
    let (h100, h200) = (load("h100-sxm").unwrap(), load("h200").unwrap());
    let tpot = |s: &servesim::scenario::Scenario| servesim::sim::run(s).summary.llm.unwrap().tpot.mean_s;
    let (on_h100, on_h200) = (tpot(&h100), tpot(&h200));
    // Decode at 4 sequences streams the weights: H200's 4.8 TB/s against
    // H100's 3.35 TB/s makes it faster, by less than the bandwidth ratio
    // since the CPU and latency terms carry over unchanged.
    assert!(on_h200 < on_h100 && on_h200 > on_h100 * 3.35 / 4.8, "{on_h200} vs {on_h100}");
    let e = load("a100-80gb").unwrap_err();
    assert!(e.to_string().contains("is for gpu `h100-sxm`, not `a100-80gb`"), "{e}");

    let c = CalibratedProfile::find(&profiles(), "h100-sxm-engines").unwrap().unwrap();
    let moved = c.transferred(&gpu("h100-sxm"), &gpu("h200")).unwrap();
    assert_eq!((moved.gpu.as_str(), moved.engines.len()), ("h200", c.engines.len()));
    assert!(moved.effective_memory_bandwidth_bytes_per_s.is_none() && moved.source.contains("measured on h100-sxm"));
    assert!(c.transferred(&gpu("h100-sxm"), &gpu("a100-80gb")).is_none());
    assert!(c.transferred(&gpu("h200"), &gpu("h100-sxm")).is_none(), "`from` must be the GPU it was measured on");
}
