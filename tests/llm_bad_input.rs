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
