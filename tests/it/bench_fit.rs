//! Fitting the engine step model to measured runs (`calibrate
//! --benchmarks`): it recovers the coefficients that made a set of runs,
//! what it writes is what `fidelity` reads, and files it cannot fit are
//! refused with the reason.

use crate::support::{profiles, servesim};
use servesim::bench::fidelity::{self, Accuracy, Pricing, Replay};
use servesim::bench::fit;
use servesim::bench::{self, BenchRow};
use servesim::model::profile::CalibratedProfile;
use servesim::time::SimDuration;
use std::path::Path;

const HEADER: &str = "id,backend,backend_version,model_path,system,precision,mode,isl,osl,batch_size,tp_size,pp_size,\
attention_dp_size,moe_tp_size,moe_ep_size,silicon_ttft_ms,silicon_tpot_ms";

/// vLLM serving Qwen3-32B on H100 at shapes that move every coefficient:
/// TP 2 and 4 (all-reduce), short and long prompts (attention), few and
/// many clients (per-sequence CPU time, KV reads).
fn shapes() -> Vec<String> {
    let mut lines = Vec::new();
    for (tp, isl, osl, clients) in
        [(2, 256, 24, 1), (2, 2048, 16, 4), (4, 512, 32, 16), (4, 1024, 16, 2), (2, 128, 48, 32), (4, 3000, 8, 8)]
    {
        lines.push(format!(
            "r{tp}-{isl}-{clients},vllm,0.12.0,Qwen/Qwen3-32B,h100_sxm,,agg,{isl},{osl},{clients},{tp},1,,1,1,1,1"
        ));
    }
    lines
}

fn rows(dir: &Path, lines: &[String]) -> Vec<BenchRow> {
    let path = dir.join("bench.csv");
    std::fs::write(&path, format!("{HEADER}\n{}\n", lines.join("\n"))).unwrap();
    bench::read(&path).unwrap()
}

fn shipped() -> CalibratedProfile {
    servesim::model::profile::find(&profiles(), "h100-sxm-engines").unwrap()
}

/// Runs made by known coefficients are fitted back to within rounding,
/// from a start every coefficient of which is off.
#[test]
fn the_fit_recovers_the_coefficients_that_made_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let run = Replay { requests_per_client: 3, warmup_per_client: 1, generated_limits: true };
    let mut truth = shipped();
    let vllm = truth.engines.get_mut("vllm").unwrap();
    vllm.request_overhead = SimDuration::from_millis(30);
    vllm.kv_inefficiency = 1.3;
    vllm.attention_inefficiency = 2.0;
    // The runs as measured: the truth's predictions in the measured columns.
    let made = fidelity::run_all(&rows(dir.path(), &shapes()), &profiles(), Pricing::InMemory(&truth), run);
    let measured: Vec<String> = shapes()
        .iter()
        .zip(&made)
        .map(|(line, o)| {
            let p = o.predicted.as_ref().unwrap();
            format!("{},{},{}", line.rsplitn(3, ',').nth(2).unwrap(), p.ttft_ms, p.tpot_ms)
        })
        .collect();
    let measured = rows(dir.path(), &measured);
    let mut start = shipped();
    let off = start.engines.get_mut("vllm").unwrap();
    let coverage = fit::Coverage { formats: [servesim::model::precision::Dtype::Bf16].into(), depths: [64].into() };
    for k in fit::knobs(&coverage) {
        let v = k.get(off);
        k.set(off, if v == k.lower() { v + k.lower().max(1e-3) * 0.3 } else { v * 1.4 });
    }
    let mut rounds = 0;
    let fitted = fit::fit(&measured, &profiles(), &start, run, 12, |_, _| rounds += 1).unwrap();
    let a = Accuracy::of(&fitted.outcomes);
    assert_eq!(a.rows, 6);
    assert!(a.tpot_mape < 0.002 && a.ttft_mape < 0.004, "fitted back: {a:?} after {rounds} rounds");
    let before = Accuracy::of(&fidelity::run_all(&measured, &profiles(), Pricing::InMemory(&start), run));
    assert!(before.tpot_mape > 0.1, "the start is off: {before:?}");
    assert_eq!(fitted.profile.engines["sglang"], shipped().engines["sglang"], "engines without rows keep the start's");
    assert_eq!(fitted.profile.engines["trtllm"], shipped().engines["trtllm"]);
    assert_eq!(fitted.rounds.len(), rounds);
}

/// The profile `calibrate --benchmarks` writes gives, through `fidelity
/// --benchmarks --profile`, byte for byte the rows the fit reported.
#[test]
fn what_calibrate_writes_is_what_fidelity_reads() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("profiles");
    for sub in ["gpus", "models", "calibrated"] {
        std::fs::create_dir_all(copy.join(sub)).unwrap();
        for f in std::fs::read_dir(profiles().join(sub)).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "toml") {
                std::fs::copy(&f, copy.join(sub).join(f.file_name().unwrap())).unwrap();
            }
        }
    }
    let mut lines = shapes();
    lines.truncate(3);
    lines.push("t1,trtllm,1.0,Qwen/Qwen3-32B,h100_sxm,fp8,agg,512,16,4,1,1,,1,1,60,9".into());
    lines.push("d1,vllm,0.12.0,Qwen/Qwen3-32B,h100_sxm,,disagg,512,16,4,2,1,,1,1,60,9".into());
    let csv = dir.path().join("bench.csv");
    std::fs::write(&csv, format!("{HEADER}\n{}\n", lines.join("\n"))).unwrap();
    let run = |command: &str, extra: &[&str]| {
        let mut args =
            vec![command, "--benchmarks", "bench.csv", "--profiles", "profiles", "--requests-per-client", "2"];
        args.extend(extra);
        let out = servesim(&args, dir.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = run("calibrate", &["--out", "profiles/calibrated/fit.toml", "--report", "cal", "--rounds", "2"]);
    assert!(said.contains("| vllm qwen3-32b bf16 h100-sxm tp2 |") && said.contains("round 1:"), "{said}");
    let profile = std::fs::read_to_string(copy.join("calibrated/fit.toml")).unwrap();
    assert!(profile.contains("[engines.trtllm]") && profile.contains("[engines.vllm]"), "{profile}");
    assert!(profile.contains("servesim calibrate --benchmarks bench.csv"), "{profile}");
    run("fidelity", &["--profile", "profiles/calibrated/fit.toml", "--out", "fid"]);
    let fitted = std::fs::read_to_string(dir.path().join("cal/fidelity.csv")).unwrap();
    let replayed = std::fs::read_to_string(dir.path().join("fid/fidelity.csv")).unwrap();
    assert_eq!(fitted, replayed);
    assert!(fitted.contains("only aggregated serving (agg) is replayed"), "the row not fitted is listed: {fitted}");
}

/// A file with nothing to fit on the GPU, or a start for another GPU, is
/// refused with the reason, exit 2, and nothing is written.
#[test]
fn files_that_cannot_be_fitted_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = shapes();
    lines.truncate(1);
    std::fs::write(dir.path().join("bench.csv"), format!("{HEADER}\n{}\n", lines.join("\n"))).unwrap();
    let root = crate::support::root();
    let profiles = root.join("profiles");
    let p = profiles.to_str().unwrap();
    for (extra, expected) in [
        (&["--gpu", "a100-80gb"][..], "no row of the file can be simulated on gpu `a100-80gb`"),
        (&["--gpu", "a100-80gb", "--start", "h100-sxm-engines"][..], "a profile for gpu `h100-sxm`, not `a100-80gb`"),
    ] {
        let mut args = vec!["calibrate", "--benchmarks", "bench.csv", "--profiles", p, "--out", "fit.toml"];
        args.extend(extra);
        let out = servesim(&args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{err}");
        assert!(!dir.path().join("fit.toml").exists() && !dir.path().join("reports").exists());
    }
}

/// The time per layer is fitted only for an engine whose rows cover models
/// of different depths: on one model it is the time per step again.
#[test]
fn the_time_per_layer_is_fitted_only_across_depths() {
    use servesim::model::precision::Dtype;
    let one = fit::Coverage { formats: [Dtype::Bf16].into(), depths: [64].into() };
    let two = fit::Coverage { formats: [Dtype::Bf16, Dtype::Fp8].into(), depths: [32, 64].into() };
    assert!(!fit::knobs(&one).contains(&fit::Knob::LayerLatency));
    assert!(fit::knobs(&two).contains(&fit::Knob::LayerLatency));
    assert!(fit::knobs(&two).contains(&fit::Knob::Gemm(Dtype::Fp8)));
    assert!(!fit::knobs(&two).contains(&fit::Knob::TokenStreamCpu), "scanned, not derived");
}
