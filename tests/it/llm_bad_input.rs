//! Impossible LLM replicas are refused before any run, with the key, the
//! reason and a hint: a tensor-parallel degree that does not divide the
//! heads, a model that does not fit, an unknown GPU, zero-sized knobs.

use servesim::scenario;
use std::path::PathBuf;

fn refused(set: &str, expected: &[&str]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/llama70b-h100-continuous.toml");
    let err = scenario::load(&path, &[set.to_string()]).expect_err(set).to_string();
    assert!(err.contains(&format!("(from --set {set})")), "{set}: {err}");
    assert!(err.contains("hint:"), "{set}: {err}");
    for part in expected {
        assert!(err.contains(part), "{set}: `{part}` missing from: {err}");
    }
}

#[test]
fn tp_must_divide_the_heads() {
    refused("replica.tp=3", &["`replica.tp`", "does not divide", "attention_heads = 64", "use one of 1, 2, 4"]);
}

#[test]
fn a_model_that_does_not_fit_is_refused() {
    refused("replica.tp=1", &["`replica.tp`", "does not fit", "use tp >= 2"]);
}

#[test]
fn unknown_gpu_lists_the_known_ones() {
    refused("replica.gpu=h900", &["`replica.gpu`", "no gpu profile named `h900`", "a100-80gb, h100-sxm, h200"]);
}

#[test]
fn zero_sized_knobs_are_refused() {
    refused("kv.block_tokens=0", &["`kv.block_tokens`", "expected an integer >= 1"]);
    refused("replica.count=0", &["`replica.count`", "expected an integer >= 1"]);
    refused("workload.prompt_tokens.median=0", &["`workload.prompt_tokens`", "median must be a token count >= 1"]);
}

/// A calibrated profile replaces the datasheet figures: half the effective
/// memory bandwidth makes memory-bound decode steps (TPOT) slower; a missing
/// one is refused.
#[test]
fn calibrated_profiles_replace_datasheet_figures() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let profiles = tmp.path().join("profiles");
    for kind in ["gpus", "models"] {
        std::fs::create_dir_all(profiles.join(kind)).unwrap();
        for entry in std::fs::read_dir(root.join("profiles").join(kind)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, profiles.join(kind).join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir_all(profiles.join("calibrated")).unwrap();
    let slow = "gpu = \"h100-sxm\"\nsource = \"test\"\neffective_memory_bandwidth_bytes_per_s = 1.34e12\n";
    std::fs::write(profiles.join("calibrated/slow.toml"), slow).unwrap();
    let scenario = root.join("scenarios/llama70b-h100-continuous.toml");
    let run = |extra: &[&str]| {
        let mut sets =
            vec![format!("replica.profiles={}", profiles.display()), "run.duration=1m".into(), "run.warmup=10s".into()];
        sets.extend(extra.iter().map(|s| s.to_string()));
        let s = scenario::load(&scenario, &sets).unwrap_or_else(|e| panic!("{e}"));
        servesim::sim::run(&s).summary.llm.expect("llm").tpot.p50_s
    };
    let (datasheet, calibrated) = (run(&[]), run(&["replica.calibrated=slow"]));
    assert!(calibrated > 1.5 * datasheet, "TPOT p50: calibrated {calibrated} vs datasheet {datasheet}");
    let sets = [format!("replica.profiles={}", profiles.display()), "replica.calibrated=fast".to_string()];
    let err = scenario::load(&scenario, &sets).expect_err("missing calibration").to_string();
    assert!(err.contains("`replica.calibrated`") && err.contains("no calibrated profile named `fast`"), "{err}");
}
