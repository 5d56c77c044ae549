//! Benchmark files (aiconfigurator's silicon CSV) against located errors,
//! rows servesim cannot express against their reasons, and the fidelity
//! report against determinism.

use crate::support::profiles;
use servesim::bench::fidelity::{self, Accuracy};
use servesim::bench::{self, BenchRow, Expressed};
use std::path::{Path, PathBuf};

const HEADER: &str = "id,backend,backend_version,model_path,system,precision,mode,isl,osl,batch_size,tp_size,pp_size,\
attention_dp_size,moe_tp_size,moe_ep_size,silicon_ttft_ms,silicon_tpot_ms";

fn write(dir: &Path, rows: &[&str]) -> PathBuf {
    let path = dir.join("bench.csv");
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

/// Why row `i` is not expressed; a failure if it is.
fn why_not(rows: &[BenchRow], i: usize) -> String {
    match rows[i].expressed(&profiles()) {
        Expressed::Not(why) => why,
        yes => panic!("row {i} expressed: {yes:?}"),
    }
}

#[test]
fn rows_map_to_profiles_or_say_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &[
            "a,vllm,0.12.0,Qwen/Qwen3-32B,h100_sxm,,agg,256,16,4,2,1,,1,1,100,20",
            "b,trtllm,1.0,Qwen/Qwen3-32B,h100_sxm,fp8,agg,256,16,4,1,1,,1,1,100,20",
            "c,vllm,0.12.0,Qwen/Qwen3-32B,h100_sxm,,disagg,256,16,4,2,1,,1,1,100,20",
            "d,trtllm,1.0,Qwen/Qwen3-235B-A22B-FP8,h100_sxm,fp8,agg,256,16,4,4,1,,1,4,100,20",
            "e,vllm,0.12.0,acme/Unknown-7B-Instruct,h100_sxm,,agg,256,16,4,1,1,,1,1,100,20",
            "f,tgi,2.0,Qwen/Qwen3-32B,h100_sxm,,agg,256,16,4,2,1,,1,1,100,20",
            "g,trtllm,1.0,Qwen/Qwen3-235B-A22B-FP8,h100_sxm,fp8,agg,256,16,4,8,1,,2,2,100,20",
        ],
    );
    let rows = bench::read(&path).unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(
        (rows[0].line, rows[0].model_profile(), rows[0].gpu_profile()),
        (2, "qwen3-32b".into(), "h100-sxm".into())
    );
    assert_eq!(rows[1].model_profile(), "qwen3-32b-fp8");
    assert_eq!(rows[3].model_profile(), "qwen3-235b-a22b-fp8", "a name already ending in its precision");
    assert_eq!(rows[4].model_profile(), "unknown-7b");
    let why = |i: usize| why_not(&rows, i);
    assert!(matches!(rows[0].expressed(&profiles()), Expressed::Yes { .. }));
    assert!(why(2).contains("disagg"));
    assert!(matches!(rows[3].expressed(&profiles()), Expressed::Yes { .. }), "expert parallelism is engine.moe_ep");
    assert!(why(6).contains("moe_ep_size = 2 is not tp_size = 8"), "{}", why(6));
    assert!(why(4).contains("profiles/models/unknown-7b.toml"));
    assert!(why(5).contains("tgi"));

    let run = fidelity::Replay { requests_per_client: 2, warmup_per_client: 1, generated_limits: true };
    let once = fidelity::run_all(&rows, &profiles(), fidelity::Pricing::Named(None), run);
    let again = fidelity::run_all(&rows, &profiles(), fidelity::Pricing::Named(None), run);
    assert_eq!(fidelity::csv(&once), fidelity::csv(&again), "same rows, same bytes");
    assert!(once[0].predicted.is_ok() && once[1].predicted.is_ok(), "{:?}", once[1].predicted);
    assert!(once[3].predicted.is_ok(), "the MoE row with moe_ep = 4 runs: {:?}", once[3].predicted);
    assert_eq!(once.iter().filter(|o| o.predicted.is_err()).count(), 4);
    assert_eq!(Accuracy::of(&once).rows, 3);
    let csv = fidelity::csv(&once);
    assert_eq!(csv.lines().count(), 8);
    assert!(csv.lines().nth(3).unwrap().ends_with("only aggregated serving (agg) is replayed"), "{csv}");
    let md = fidelity::markdown(&once, "bench.csv", None);
    assert!(md.contains("| vllm qwen3-32b bf16 h100-sxm tp2 | 1 |") && md.contains("## Rows not expressed"), "{md}");
}

/// The names aiconfigurator writes map to the shipped profiles: `h200_sxm`
/// is `h200` (no `-sxm` profile exists), `-Instruct` anywhere in the name
/// is dropped, a model whose experts already are fp4 keeps its own profile
/// at `fp4`, and experts spread over more GPUs than `tp_size` (attention
/// data parallelism) or tensor parallelism beyond one 8-GPU node are
/// refused with the reason.
#[test]
fn aiconfigurator_names_map_to_the_shipped_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &[
            "a,vllm,0.12.0,nvidia/Llama-3.1-8B-Instruct-FP8,h200_sxm,fp8,agg,256,16,4,1,1,,1,1,100,20",
            "b,vllm,0.18.0,openai/gpt-oss-120b,h100_sxm,fp4,agg,256,16,4,2,1,,1,1,100,20",
            "c,vllm,0.12.0,Qwen/Qwen3-235B-A22B-FP8,h200_sxm,fp8,agg,256,16,4,1,1,,2,1,100,20",
            "d,vllm,0.12.0,meta-llama/Llama-3.1-70B,b200_sxm,fp8,agg,256,16,4,4,1,,1,1,100,20",
            "e,trtllm,,openai/gpt-oss-120b,h200_sxm,fp4,agg,256,16,4,16,1,1,4,4,100,20",
        ],
    );
    let rows = bench::read(&path).unwrap();
    let expressed = |i: usize| match rows[i].expressed(&profiles()) {
        Expressed::Yes { gpu, model, .. } => (gpu, model),
        Expressed::Not(why) => panic!("row {i}: {why}"),
    };
    assert_eq!(expressed(0), ("h200".into(), "llama-3.1-8b-fp8".into()));
    assert_eq!(expressed(1), ("h100-sxm".into(), "gpt-oss-120b".into()));
    // Reports group rows by the profiles they resolve to.
    assert_eq!(rows[0].group(&profiles()), "vllm llama-3.1-8b-fp8 fp8 h200 tp1");
    assert_eq!(rows[1].group(&profiles()), "vllm gpt-oss-120b fp4 h100-sxm tp2");
    let why = |i: usize| why_not(&rows, i);
    assert!(why(2).contains("2 GPUs for tp_size = 1") && why(2).contains("data-parallel"), "{}", why(2));
    assert!(why(3).contains("no GPU profile `b200-sxm`"), "{}", why(3));
    assert!(why(4).contains("tp_size = 16") && why(4).contains("NVLink node"), "{}", why(4));
}

/// The console names the first ten rows not expressed and counts the rest;
/// the report lists every one with its reason; with no row simulated there
/// is no error to report, not a 0% one.
#[test]
fn the_console_lists_a_few_rows_not_expressed_and_the_report_all() {
    let dir = tempfile::tempdir().unwrap();
    let tgi: Vec<String> =
        (0..12).map(|i| format!("t{i},tgi,2.0,Qwen/Qwen3-32B,h100_sxm,,agg,256,16,4,2,1,,1,1,100,20")).collect();
    let path = write(dir.path(), &tgi.iter().map(String::as_str).collect::<Vec<_>>());
    let profiles = profiles().display().to_string();
    let out = dir.path().join("out");
    let run = crate::support::servesim(
        &["fidelity", "--benchmarks", path.to_str().unwrap(), "--profiles", &profiles, "--out", out.to_str().unwrap()],
        dir.path(),
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let said = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert_eq!(said.matches("  not expressed: line").count(), 10, "{said}");
    assert!(said.contains("... and 2 more rows not expressed"), "{said}");
    assert!(said.contains("12 rows, none simulated") && !said.contains("MAPE"), "no error over no rows: {said}");
    let md = std::fs::read_to_string(out.join("fidelity.md")).unwrap();
    assert_eq!(md.matches("backend `tgi`").count(), 12, "{md}");
    assert!(md.contains("| **all simulated rows** | 0 | — | — | — | — |"), "{md}");
}

#[test]
fn bad_benchmark_files_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.csv");
    std::fs::write(&path, "id,backend\nx,vllm\n").unwrap();
    let e = bench::read(&path).unwrap_err().to_string();
    assert!(e.contains("bench.csv:1") && e.contains("missing column `model_path`"), "{e}");
    std::fs::write(&path, format!("{HEADER}\na,vllm,0.12.0\n")).unwrap();
    let e = bench::read(&path).unwrap_err().to_string();
    assert!(e.contains("bench.csv:2"), "a row of the wrong width is not CSV of the format: {e}");
    std::fs::write(&path, [format!("{HEADER}\n").as_bytes(), b"caf\xe9"].concat()).unwrap();
    let e = bench::read(&path).unwrap_err().to_string();
    assert!(e.contains("bench.csv:2") && e.contains("UTF-8"), "{e}");
}

/// A value a row cannot be read by makes that row not expressed, with the
/// column and what was expected; the rest of the file is still replayed.
/// aiconfigurator's own sample leaves `batch_size` and `tp_size` empty in
/// its disaggregated runs and writes 0 for a parallel dimension a run does
/// not use.
#[test]
fn unreadable_rows_are_listed_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        &[
            "a,vllm,0.12.0,Qwen/Qwen3-32B,h100_sxm,,agg,many,16,4,2,1,,1,1,100,20",
            "b,vllm,0.12.0,Qwen/Qwen3-32B,h100_sxm,,agg,256,16,4,2,1,,1,1,-3,20",
            "c,sglang,0.5.8,deepseek-ai/DeepSeek-R1,h100_sxm,fp8,disagg,1024,1024,,,,,,,900,30",
            "d,vllm,0.12.0,Qwen/Qwen3-32B,h100_sxm,,agg,256,16,4,2,1,0,0,0,100,20",
        ],
    );
    let rows = bench::read(&path).unwrap();
    let why = |i: usize| why_not(&rows, i);
    assert!(why(0).contains("`isl`") && why(0).contains("`many`") && why(0).contains("integer >= 1"), "{}", why(0));
    assert!(why(1).contains("silicon_ttft_ms") && why(1).contains("milliseconds > 0"), "{}", why(1));
    assert!(why(2).contains("mode `disagg`"), "the mode is the reason, not the empty counts: {}", why(2));
    assert_eq!((rows[3].attention_dp, rows[3].moe_tp, rows[3].moe_ep, rows[3].unreadable.as_deref()), (1, 1, 1, None));
    assert!(matches!(rows[3].expressed(&profiles()), Expressed::Yes { .. }));
    let run = fidelity::Replay { requests_per_client: 1, warmup_per_client: 0, generated_limits: true };
    let csv = fidelity::csv(&fidelity::run_all(&rows, &profiles(), fidelity::Pricing::Named(None), run));
    assert!(csv.lines().nth(1).unwrap().contains("column `isl`"), "{csv}");
}

/// aiconfigurator's generated benchmark configurations
/// (`generator/rule_plugin/benchmark/{vllm,trtllm}.rule`): as many
/// sequences as clients, and a step budget of clients + isl + 1500 tokens,
/// rounded up to TensorRT-LLM's 32-token blocks; SGLang keeps its defaults.
#[test]
fn generated_engine_limits_follow_aiconfigurators_rules() {
    assert_eq!(fidelity::generated_limits("vllm", 8, 1024), "max_num_seqs = 8\nmax_num_batched_tokens = 2532\n");
    assert_eq!(fidelity::generated_limits("trtllm", 8, 1024), "max_num_seqs = 8\nmax_num_batched_tokens = 2560\n");
    assert_eq!(fidelity::generated_limits("sglang", 8, 1024), "");
}
