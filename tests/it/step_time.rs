//! The step-time model against hand-computed rooflines, KV capacity against
//! the profile arithmetic, and bad profiles against clear errors.
//!
//! Expected values are computed here from datasheet figures written out in
//! the test (not read back from the profiles), so a changed profile or a
//! changed formula shows up as a failure.

use crate::support::{gpu, model, profiles};
use servesim::core::llm::StepShape;
use servesim::model::profile::{self, CalibratedProfile, GpuProfile, ModelProfile, ProfileError};
use servesim::model::step::{kv_bytes_per_token, kv_capacity_tokens, StepModel};
use servesim::time::SimDuration;
use std::path::{Path, PathBuf};

/// Shared assumptions of the shipped GPU profiles (see profiles/README.md).
const BW_EFF: f64 = 0.8;
const FLOPS_EFF: f64 = 0.7;
const NVLINK_EFF: f64 = 0.8;
const OVERHEAD_S: f64 = 500e-6;
const NVLINK_LATENCY_S: f64 = 8e-6;

fn assert_close_ns(actual: SimDuration, expected_s: f64) {
    let expected_ns = expected_s * 1e9;
    assert!(
        (actual.0 as f64 - expected_ns).abs() <= 1.0,
        "step time {actual} ({} ns), expected {expected_ns} ns",
        actual.0
    );
}

#[test]
fn every_shipped_profile_loads() {
    let gpus = profile::list(&profiles().join("gpus"));
    let models = profile::list(&profiles().join("models"));
    for name in ["a100-80gb", "h100-sxm", "h200"] {
        assert!(gpus.contains(&name.to_string()), "{name} missing from {gpus:?}");
    }
    for name in ["llama-3-8b", "llama-2-70b", "llama-3-70b"] {
        assert!(models.contains(&name.to_string()), "{name} missing from {models:?}");
    }
    for name in &gpus {
        assert_eq!(&gpu(name).name, name);
    }
    for name in &models {
        let m = model(name);
        if let Some(base) = name.strip_suffix("-live") {
            // A model as the live executor streams it: the base's shapes,
            // parameters as the executor counts them (no input embedding).
            let base = model(base);
            let executed = servesim::live::ExecModel::from_profile(&base, None).expect("shape").profile();
            assert_eq!(m.parameters, executed.parameters, "{name}: parameters disagree with the executor's");
            assert_eq!(
                (m.layers, m.hidden_size, m.attention_heads, m.kv_heads, m.head_dim, m.intermediate_size, m.vocab_size),
                (
                    base.layers,
                    base.hidden_size,
                    base.attention_heads,
                    base.kv_heads,
                    base.head_dim,
                    base.intermediate_size,
                    base.vocab_size
                ),
                "{name}: shapes differ from the base model's"
            );
            continue;
        }
        // Llama-style parameter count from the shapes: embeddings + lm_head,
        // attention (q, o full; k, v grouped), gated FFN (or, for MoE, the
        // router and every expert's gated FFN), two norms per layer, final
        // norm. Catches a typo in any shipped model file.
        let (h, kv_dim) = (u64::from(m.hidden_size), u64::from(m.kv_heads * m.head_dim));
        let q_dim = u64::from(m.attention_heads * m.head_dim);
        let ffn = match m.moe {
            Some(moe) => {
                let experts = u64::from(moe.experts + moe.shared_experts);
                h * u64::from(moe.experts) + experts * 3 * h * u64::from(moe.expert_intermediate_size)
            }
            None => 3 * h * u64::from(m.intermediate_size),
        };
        let per_layer = 2 * h * q_dim + 2 * h * kv_dim + ffn + 2 * h;
        let params = 2 * u64::from(m.vocab_size) * h + u64::from(m.layers) * per_layer + h;
        assert_eq!(m.parameters, params, "{name}: parameters disagree with the shapes");
        // Llama's query width is the hidden size; Qwen3 and gpt-oss (whose
        // profiles state their formats) widen or narrow it.
        if m.precision.is_none() {
            assert_eq!(m.attention_heads * m.head_dim, m.hidden_size, "{name}");
        }
    }
}

#[test]
fn gpu_profiles_carry_the_datasheet_peaks() {
    // (name, memory bytes, HBM bytes/s, dense bf16 FLOP/s, NVLink one-way, PCIe one-way)
    let sheet = [
        ("a100-80gb", 80e9, 2.039e12, 312e12, 300e9, 32e9),
        ("h100-sxm", 80e9, 3.35e12, 989e12, 450e9, 64e9),
        ("h200", 141e9, 4.8e12, 989e12, 450e9, 64e9),
    ];
    for (name, mem, bw, flops, nvlink, pcie) in sheet {
        let g = gpu(name);
        assert_eq!(g.memory_bytes as f64, mem, "{name}");
        assert_eq!(g.memory_bandwidth_bytes_per_s, bw, "{name}");
        assert_eq!(g.bf16_flops_per_s, flops, "{name}");
        assert_eq!(g.nvlink_bandwidth_bytes_per_s, nvlink, "{name}");
        assert_eq!(g.pcie_bandwidth_bytes_per_s, pcie, "{name}");
        assert_eq!((g.memory_bandwidth_efficiency, g.flops_efficiency, g.nvlink_efficiency), (0.8, 0.7, 0.8));
        assert_eq!(g.step_overhead, SimDuration::from_secs_f64(OVERHEAD_S));
        assert_eq!(g.nvlink_latency, SimDuration::from_secs_f64(NVLINK_LATENCY_S));
    }
}

/// Llama-3-8B (8,030,261,248 params, 32 layers, 32 heads x 128, 8 KV heads,
/// bf16) on one H100 SXM (3.35 TB/s, 989 TFLOP/s), one sequence decoding at
/// 1,024 tokens of context: memory-bound, ~16 GB of weights per token.
#[test]
fn llama3_8b_h100_decode_batch1_is_memory_bound() {
    let params = 8_030_261_248_f64;
    let kv_token = 2.0 * 32.0 * 8.0 * 128.0 * 2.0; // 131,072 B
    let bytes = params * 2.0 + kv_token * 1024.0 + kv_token * 1.0; // weights + KV read + KV write
    let flops = 2.0 * params * 1.0 + 4.0 * 32.0 * (32.0 * 128.0) * (1024.0 + 1.0);
    let memory_s = bytes / (3.35e12 * BW_EFF);
    let compute_s = flops / (989e12 * FLOPS_EFF);
    assert!(memory_s > 100.0 * compute_s);
    let expected = OVERHEAD_S + memory_s; // 0.5 ms + 6.043 ms

    let step = StepModel::new(&gpu("h100-sxm"), &model("llama-3-8b"), 1, None).unwrap();
    let cost = step.cost(&StepShape::decode(1, 1024));
    assert!(cost.memory_bound());
    assert_eq!(cost.comm_s, 0.0, "tp = 1 has no all-reduce");
    assert_eq!(cost.bytes_per_gpu, bytes);
    assert_close_ns(cost.time, expected);
    assert!((6.50e-3..6.60e-3).contains(&cost.time.as_secs_f64()), "{}", cost.time);
    // MBU over this one step: bytes / (time x peak) = 0.8 x 6.043 / 6.543.
    let mbu = step.memory_bandwidth_utilization(cost.bytes_per_gpu, cost.time);
    assert!((mbu - BW_EFF * memory_s / expected).abs() < 1e-6, "{mbu}");
}

/// Llama-2-70B (68,976,648,192 params, 80 layers, 64 heads x 128, 8 KV heads,
/// hidden 8192, bf16) on 4 x A100 80GB (2.039 TB/s, 312 TFLOP/s, NVLink
/// 300 GB/s one way), one 2,048-token prompt: compute-bound.
#[test]
fn llama2_70b_a100_tp4_prefill_2k_is_compute_bound() {
    let (params, tp, c) = (68_976_648_192_f64, 4.0, 2048.0);
    let attended = c * (c + 1.0) / 2.0; // 2,098,176
    let flops = 2.0 * params / tp * c + 4.0 * 80.0 * (64.0 / tp) * 128.0 * attended;
    let kv_token_gpu = 2.0 * 80.0 * (8.0 / tp) * 128.0 * 2.0; // 81,920 B
    let bytes = params * 2.0 / tp + kv_token_gpu * c;
    let compute_s = flops / (312e12 * FLOPS_EFF); // ~0.330 s
    let memory_s = bytes / (2.039e12 * BW_EFF); // ~0.021 s
    assert!(compute_s > 10.0 * memory_s);
    let allreduce_bytes = c * 8192.0 * 2.0;
    let comm_s = 2.0 * 80.0 * (2.0 * (tp - 1.0) / tp * allreduce_bytes / (300e9 * NVLINK_EFF) + NVLINK_LATENCY_S); // ~0.035 s
    let expected = OVERHEAD_S + compute_s + comm_s;

    let step = StepModel::new(&gpu("a100-80gb"), &model("llama-2-70b"), 4, None).unwrap();
    let cost = step.cost(&StepShape::prefill(2048, 0));
    assert!(!cost.memory_bound());
    assert_eq!(cost.flops_per_gpu, flops);
    assert!((cost.comm_s - comm_s).abs() < 1e-12);
    assert_close_ns(cost.time, expected);
    assert!((0.36..0.37).contains(&cost.time.as_secs_f64()), "{}", cost.time);
}

/// Decode is memory-bound, so moving Llama-3-70B from H100 to H200 (same
/// FLOPs, 4.8 vs 3.35 TB/s) shortens the roofline term by exactly 3.35/4.8.
#[test]
fn h200_speeds_up_memory_bound_decode_by_the_bandwidth_ratio() {
    let m = model("llama-3-70b");
    let shape = StepShape::decode(32, 32 * 2048);
    let h100 = StepModel::new(&gpu("h100-sxm"), &m, 2, None).unwrap().cost(&shape);
    let h200 = StepModel::new(&gpu("h200"), &m, 2, None).unwrap().cost(&shape);
    assert!(h100.memory_bound() && h200.memory_bound());
    assert!((h200.memory_s / h100.memory_s - 3.35 / 4.8).abs() < 1e-12);
    assert_eq!(h100.comm_s, h200.comm_s);
}

/// Chunked prefill: a mixed step costs more than its decodes alone, and the
/// whole prompt in four chunks attends to the same keys as in one.
#[test]
fn mixed_steps_add_up() {
    let step = StepModel::new(&gpu("h100-sxm"), &model("llama-3-8b"), 1, None).unwrap();
    let decode = StepShape::decode(64, 64 * 1000);
    let mixed = decode.with_prefill(512, 1536);
    assert_eq!(mixed.tokens(), 64 + 512);
    assert_eq!(mixed.prefill_attended, 512 * 1536 + 512 * 513 / 2);
    assert!(step.time(&mixed) > step.time(&decode));
    assert_eq!(step.time(&StepShape::default()), SimDuration::ZERO);
    let chunks = (0..4).fold(StepShape::default(), |s, k| s.with_prefill(512, 512 * k));
    assert_eq!(chunks.prefill_attended, StepShape::prefill(2048, 0).prefill_attended);
}

#[test]
fn kv_capacity_is_the_profile_arithmetic() {
    let (h100, a100) = (gpu("h100-sxm"), gpu("a100-80gb"));
    let (l8, l70) = (model("llama-3-8b"), model("llama-2-70b"));
    assert_eq!(kv_bytes_per_token(&l8), 2 * 32 * 8 * 128 * 2); // 131,072 B = 128 KiB
    assert_eq!(kv_bytes_per_token(&l70), 2 * 80 * 8 * 128 * 2); // 327,680 B = 320 KiB
    let reserve = 0.1;
    // Llama-3-8B, 1 x H100: 80e9 - 16,060,522,496 - 8e9 = 55,939,477,504 B.
    let free: u64 = 80_000_000_000 - 8_030_261_248 * 2 - 8_000_000_000;
    assert_eq!(kv_capacity_tokens(&h100, &l8, 1, reserve).unwrap(), free / 131_072);
    assert_eq!(free / 131_072, 426_784);
    // Llama-2-70B, 2 x H100: per GPU 80e9 - 137,953,296,384 / 2 - 8e9 = 3,023,351,808 B, KV split
    // 8 / 2 heads: a 70B model on two 80 GB GPUs has room for little KV cache.
    let free: u64 = 80_000_000_000 - 68_976_648_192 * 2 / 2 - 8_000_000_000;
    assert_eq!(kv_capacity_tokens(&h100, &l70, 2, reserve).unwrap(), free / (327_680 / 2));
    assert_eq!(free / (327_680 / 2), 18_453);
    // Same as (tp x memory - weights - tp x reserve) / kv_bytes_per_token when KV heads split.
    let whole: u64 = 4 * 80_000_000_000 - 68_976_648_192 * 2 - 4 * 8_000_000_000;
    assert_eq!(kv_capacity_tokens(&a100, &l70, 4, reserve).unwrap(), whole / 327_680);
    assert_eq!(whole / 327_680, 457_906);
    // tp = 16 > 8 KV heads: each GPU keeps one replicated KV head (16,384 B per token).
    let free: u64 = 80_000_000_000 - 8_030_261_248 * 2 / 16 - 8_000_000_000;
    assert_eq!(kv_capacity_tokens(&h100, &l8, 16, reserve).unwrap(), free / (2 * 32 * 128 * 2));
}

#[test]
fn replicas_that_cannot_exist_name_the_key() {
    let (h100, l70, l8) = (gpu("h100-sxm"), model("llama-2-70b"), model("llama-3-8b"));
    // 138 GB of weights on one 80 GB GPU.
    for e in [StepModel::new(&h100, &l70, 1, None).unwrap_err(), kv_capacity_tokens(&h100, &l70, 1, 0.1).unwrap_err()] {
        let text = e.to_string();
        assert_eq!(e.key(), "tp");
        assert!(text.contains("llama-2-70b does not fit on 1 x h100-sxm"), "{text}");
        assert!(text.contains("137.95 GB") && text.contains("use tp >= 2"), "{text}");
    }
    // 3 does not divide 32 heads.
    let e = StepModel::new(&h100, &l8, 3, None).unwrap_err();
    assert_eq!(e.key(), "tp");
    assert!(e.to_string().contains("tp = 3 does not divide llama-3-8b's attention_heads = 32"), "{e}");
    assert!(e.to_string().contains("use one of 1, 2, 4, 8, 16, 32"), "{e}");
    let e = kv_capacity_tokens(&h100, &l8, 1, 1.0).unwrap_err();
    assert_eq!(e.key(), "activation_reserve_fraction");
}

/// Writes `text` as `dir/<sub>/<name>.toml`.
fn write(dir: &Path, sub: &str, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join(sub)).unwrap();
    let path = dir.join(sub).join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The shipped H100 file with one line replaced; the error must point at it.
fn bad_gpu(from: &str, to: &str) -> (ProfileError, usize) {
    let text = std::fs::read_to_string(profiles().join("gpus/h100-sxm.toml")).unwrap();
    assert!(text.contains(from), "{from}");
    let edited = text.replace(from, to);
    let line = edited.lines().position(|l| l.starts_with(to)).map_or(0, |i| i + 1);
    let dir = tempfile::tempdir().unwrap();
    (GpuProfile::load(&write(dir.path(), "gpus", "bad", &edited)).unwrap_err(), line)
}

#[test]
fn bad_gpu_values_point_at_the_key() {
    let cases = [
        (
            "memory_bandwidth_bytes_per_s = 3.35e12",
            "memory_bandwidth_bytes_per_s = 0.0",
            "expected a finite number > 0",
        ),
        ("memory_bytes = 80_000_000_000", "memory_bytes = 0", "expected an integer >= 1"),
        ("flops_efficiency = 0.7", "flops_efficiency = 1.5", "in (0, 1]"),
        ("nvlink_latency = \"8us\"", "nvlink_latency = \"8\"", "not a duration"),
        ("memory_bytes = 80_000_000_000", "memory_bytes = \"80GB\"", "invalid type"),
        ("pcie_bandwidth_bytes_per_s = 64e9", "pcie_bandwidth_bytes_per_s = 64e9\nhbm_stacks = 5", "unknown field"),
    ];
    for (from, to, expected) in cases {
        let (e, line) = bad_gpu(from, to);
        let key = to.split(" =").next().unwrap();
        let text = e.to_string();
        if !expected.starts_with("unknown") {
            assert_eq!(e.key(), key, "{text}");
            assert!(text.contains(&format!("bad.toml:{line}:")), "{text} (expected line {line})");
        } else {
            assert_eq!(e.key(), "hbm_stacks", "{text}");
        }
        assert!(text.contains(expected), "{text}");
    }
    let (e, _) = bad_gpu("bf16_flops_per_s = 989e12\n", "");
    assert_eq!(e.key(), "bf16_flops_per_s");
    assert!(e.to_string().contains("missing field"), "{e}");
}

#[test]
fn bad_model_values_point_at_the_key() {
    let text = std::fs::read_to_string(profiles().join("models/llama-3-8b.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "models", "odd", &text.replace("kv_heads = 8", "kv_heads = 5"));
    let e = ModelProfile::load(&path).unwrap_err();
    assert_eq!(e.key(), "kv_heads");
    assert!(e.to_string().contains("expected a divisor of attention_heads = 32"), "{e}");
    let path = write(dir.path(), "models", "odd", &text.replace("layers = 32", "layers = 0"));
    assert_eq!(ModelProfile::load(&path).unwrap_err().key(), "layers");
}

#[test]
fn names_resolve_by_file_and_list_alternatives() {
    let e = GpuProfile::find(&profiles(), "h100").unwrap_err();
    let text = e.to_string();
    assert!(text.contains("no gpu profile named `h100`"), "{text}");
    assert!(text.contains("available: a100-80gb, h100-sxm, h200"), "{text}");
    assert!(matches!(ModelProfile::find(&profiles(), "../gpus/h200"), Err(ProfileError::NotFound { .. })));
    // A user adds a GPU without recompiling.
    let dir = tempfile::tempdir().unwrap();
    let h100 = std::fs::read_to_string(profiles().join("gpus/h100-sxm.toml")).unwrap();
    write(dir.path(), "gpus", "h100-nvl", &h100.replace("3.35e12", "3.9e12"));
    assert_eq!(GpuProfile::find(dir.path(), "h100-nvl").unwrap().memory_bandwidth_bytes_per_s, 3.9e12);
}

#[test]
fn calibrated_values_replace_datasheet_times_efficiency() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(CalibratedProfile::find(dir.path(), "h100-sxm").unwrap(), None);
    write(
        dir.path(),
        "calibrated",
        "h100-sxm",
        "gpu = \"h100-sxm\"\nsource = \"test\"\nstep_overhead = \"300us\"\n\
         effective_memory_bandwidth_bytes_per_s = 3.0e12\n",
    );
    let cal = CalibratedProfile::find(dir.path(), "h100-sxm").unwrap().unwrap();
    let (h100, l8) = (gpu("h100-sxm"), model("llama-3-8b"));
    let step = StepModel::new(&h100, &l8, 1, Some(&cal)).unwrap();
    let bytes = 8_030_261_248.0 * 2.0 + 131_072.0 * (1024.0 + 1.0);
    assert_close_ns(step.time(&StepShape::decode(1, 1024)), 300e-6 + bytes / 3.0e12);
    // FLOPs were not calibrated: a long prefill still uses 989e12 x 0.7.
    let prefill = StepModel::new(&h100, &l8, 1, None).unwrap().cost(&StepShape::prefill(8192, 0));
    let cal_prefill = step.cost(&StepShape::prefill(8192, 0));
    assert_eq!(prefill.compute_s, cal_prefill.compute_s);

    let other = CalibratedProfile { gpu: "h200".into(), name: "h200".into(), ..Default::default() };
    let e = StepModel::new(&h100, &l8, 1, Some(&other)).unwrap_err();
    assert!(e.to_string().contains("is for gpu `h200`, not `h100-sxm`"), "{e}");
    let path = write(dir.path(), "calibrated", "zero", "gpu = \"h100-sxm\"\neffective_flops_per_s = 0.0\n");
    assert_eq!(CalibratedProfile::load(&path).unwrap_err().key(), "effective_flops_per_s");
}

#[test]
fn a_calibrated_attention_term_times_kv_and_attention_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "calibrated",
        "h100-sxm",
        "gpu = \"h100-sxm\"\nstep_overhead = \"300us\"\neffective_memory_bandwidth_bytes_per_s = 3.0e12\n\
         effective_flops_per_s = 7.0e14\neffective_attention_bandwidth_bytes_per_s = 1.0e12\n\
         effective_attention_flops_per_s = 2.0e14\n",
    );
    let cal = CalibratedProfile::load(&path).unwrap();
    let step = StepModel::new(&gpu("h100-sxm"), &model("llama-3-8b"), 1, Some(&cal)).unwrap();
    // Llama-3-8B: 32 layers x 32 heads x head_dim 128; KV 2 x 32 x 8 x 128 x 2 bytes per token.
    let (weights, kv_token, flops_per_key, linear_per_token) =
        (8_030_261_248.0 * 2.0, 131_072.0, 4.0 * 32.0 * 32.0 * 128.0, 2.0 * 8_030_261_248.0);
    // Long-context decode: weights stream at 3e12 B/s, the KV cache at 1e12 B/s.
    let decode = step.cost(&StepShape::decode(32, 1 << 20));
    let kv = kv_token * (1_048_576.0 + 32.0);
    assert_eq!(decode.kv_bytes_per_gpu, kv);
    assert_eq!(decode.bytes_per_gpu, weights + kv);
    assert_eq!(decode.attention_flops_per_gpu, flops_per_key * (1_048_576.0 + 32.0));
    assert_close_ns(decode.time, 300e-6 + weights / 3e12 + kv / 1e12);
    assert!((decode.memory_s - (weights / 3e12 + kv / 1e12)).abs() < 1e-12 && decode.memory_bound());
    // A prefill chunk on cached tokens: both terms compute-bound.
    let prefill = step.cost(&StepShape::prefill(1024, 2048));
    let attention_flops = flops_per_key * (1024.0 * 2048.0 + 1024.0 * 1025.0 / 2.0);
    let linear_s = linear_per_token * 1024.0 / 7e14;
    assert_close_ns(prefill.time, 300e-6 + linear_s + attention_flops / 2e14);
    assert!((prefill.compute_s - (linear_s + attention_flops / 2e14)).abs() < 1e-12 && !prefill.memory_bound());

    // Both attention rates or neither; each must be positive.
    let path = write(dir.path(), "calibrated", "half", "gpu = \"h100-sxm\"\neffective_attention_flops_per_s = 2e14\n");
    let e = CalibratedProfile::load(&path).unwrap_err();
    assert_eq!(e.key(), "effective_attention_flops_per_s");
    assert!(e.to_string().contains("together with `effective_attention_bandwidth_bytes_per_s`"), "{e}");
    let text = "gpu = \"h100-sxm\"\neffective_attention_bandwidth_bytes_per_s = -1.0\neffective_attention_flops_per_s = 2e14\n";
    let e = CalibratedProfile::load(&write(dir.path(), "calibrated", "negative", text)).unwrap_err();
    assert_eq!(e.key(), "effective_attention_bandwidth_bytes_per_s");
}
