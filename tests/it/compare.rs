//! `servesim compare`: the table holds exactly what each item's own run
//! measures, the output is the same bytes with 1 and 2 threads, and bad
//! comparisons are refused (exit 2) with nothing left behind.

use crate::support::{profiles, root, servesim};
use servesim::plan::{compare, compare_report};
use servesim::scenario;
use servesim::sim;
use std::path::{Path, PathBuf};

/// Llama-3-8B chat for 40 simulated seconds on two A100 replicas.
fn chat(rate: f64) -> String {
    format!(
        r#"name = "chat"
seed = 11

[run]
duration = "40s"
warmup = "5s"

[workload]
arrival = "poisson"
rate_per_s = {rate:?}
prompt_tokens = {{ median = 600, p99 = 4000, max = 8000 }}
output_tokens = {{ median = 150, p99 = 600, max = 1000 }}

[replica]
gpu = "a100-80gb"
model = "llama-3-8b"
count = 2
profiles = "{}"

[batching]
policy = "continuous"
max_batch = 32

[slo]
ttft_p99 = "500ms"
"#,
        profiles().display()
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scenario");
    path
}

fn run_cli(args: &[&str]) -> std::process::Output {
    servesim(args, &root())
}

#[test]
fn table_values_are_each_items_own_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write(tmp.path(), "chat.toml", &chat(10.0));
    let out = tmp.path().join("out");
    let p = path.to_str().unwrap();
    let variant = "static:batching.policy=static,batching.max_wait=20ms";
    let run = run_cli(&["compare", p, "--variant", variant, "--out", out.to_str().unwrap(), "-q"]);
    assert!(run.status.success(), "{run:?}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("compare.json")).unwrap()).unwrap();
    let own = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let s = scenario::load(&path, &sets).unwrap_or_else(|e| panic!("{e}"));
        serde_json::to_value(sim::run(&s).summary).unwrap()
    };
    let runs = [own(&[]), own(&["batching.policy=static", "batching.max_wait=20ms"])];
    let expected = [
        ("completed_per_s", "/throughput/completed_per_s"),
        ("e2e_p99_s", "/latency/end_to_end/p99_s"),
        ("ttft_p50_s", "/llm/ttft/p50_s"),
        ("ttft_p99_s", "/llm/ttft/p99_s"),
        ("tpot_p99_s", "/llm/tpot/p99_s"),
        ("goodput_per_s", "/llm/goodput_per_s"),
        ("preemptions", "/llm/preemptions"),
        ("usd_per_million_output_tokens", "/llm/cost/usd_per_million_output_tokens"),
    ];
    let table = json["table"].as_array().unwrap();
    for (metric, pointer) in expected {
        let row = table.iter().find(|r| r["metric"] == metric).unwrap_or_else(|| panic!("no row {metric}"));
        for (i, summary) in runs.iter().enumerate() {
            let want = summary.pointer(pointer).unwrap().as_f64().unwrap();
            assert_eq!(row["cells"][i]["value"]["mean"].as_f64().unwrap(), want, "{metric} of item {i}");
        }
        let diff = row["cells"][1]["difference"]["mean"].as_f64().unwrap();
        let (a, b) =
            (runs[0].pointer(pointer).unwrap().as_f64().unwrap(), runs[1].pointer(pointer).unwrap().as_f64().unwrap());
        assert_eq!(diff, b - a, "{metric} difference");
    }
    for file in ["compare.md", "compare.csv", "latency_cdf.svg", "cost_vs_p99.svg"] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("| ttft_p99_s |") && md.contains("Δ static"), "{md}");
}

#[test]
fn two_scenarios_with_one_workload_compare() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = write(tmp.path(), "a.toml", &chat(10.0));
    let b = write(
        tmp.path(),
        "b.toml",
        &chat(10.0).replace("name = \"chat\"", "name = \"three\"").replace("count = 2", "count = 3"),
    );
    let out = tmp.path().join("out");
    let run = run_cli(&["compare", a.to_str().unwrap(), b.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    assert!(run.status.success(), "{run:?}");
    let csv = std::fs::read_to_string(out.join("compare.csv")).unwrap();
    assert!(csv.contains("ttft_p99_s,\"three\","), "{csv}");
}

#[test]
fn compare_is_the_same_bytes_with_one_and_two_threads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write(tmp.path(), "chat.toml", &chat(10.0));
    let items: Vec<compare::Item> = [vec![], vec!["batching.policy=chunked-prefill".to_string()]]
        .into_iter()
        .enumerate()
        .map(|(i, sets)| compare::Item {
            name: format!("item{i}"),
            scenario: scenario::load(&path, &sets).unwrap_or_else(|e| panic!("{e}")),
            sets,
        })
        .collect();
    let bytes = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| {
            let seeds = compare::seeds(11, 3);
            let runs = compare::run(&items, &seeds);
            let table = compare::table(&items, &runs);
            let report =
                compare_report::CompareReport { items: compare_report::info(&items), seeds: &seeds, table: &table };
            let plots = compare_report::plots(&items, &runs).unwrap();
            (compare_report::to_json(&report).unwrap(), compare_report::to_markdown(&items, &seeds, &table), plots)
        })
    };
    let one = bytes(1);
    assert!(one.1.contains("±"), "replications give intervals: {}", one.1);
    assert_eq!(one, bytes(2));
}

/// Runs `compare` with `args` (then `--out`), which must exit 2 and leave no folder; returns stderr.
fn refused(args: &[&str]) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let run = run_cli(&[&["compare"], args, &["--out", out.to_str().unwrap()]].concat());
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(!out.exists(), "a refused comparison left {}", out.display());
    stderr
}

#[test]
fn bad_comparisons_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = write(tmp.path(), "a.toml", &chat(10.0));
    let busy = write(tmp.path(), "busy.toml", &chat(20.0).replace("name = \"chat\"", "name = \"busy\""));
    let a = a.to_str().unwrap();
    let alone = refused(&[a]);
    assert!(alone.contains("nothing to compare"), "{alone}");
    let key = refused(&[a, "--variant", "typo:batching.max_bach=4"]);
    assert!(key.contains("--variant typo:batching.max_bach=4") && key.contains("max_bach"), "{key}");
    let value = refused(&[a, "--variant", "zero:replica.count=0"]);
    assert!(value.contains("--variant zero:replica.count=0") && value.contains("replica.count"), "{value}");
    let shape = refused(&[a, "--variant", "batching.policy=static"]);
    assert!(shape.contains("NAME:"), "{shape}");
    let differ = refused(&[a, busy.to_str().unwrap()]);
    assert!(differ.contains("workload.rate_per_s") && differ.contains("--allow-different-workloads"), "{differ}");
    let twins = refused(&[a, a]);
    assert!(twins.contains("two items are named `chat`"), "{twins}");
    let both = refused(&[a, a, "--variant", "x:replica.count=3"]);
    assert!(both.contains("one scenario"), "{both}");
}
