//! The command line as a newcomer uses it: `run` writes a complete report
//! whose bytes repeat, `--seed` changes them, `sweep` tabulates the knee,
//! `schema` prints a JSON Schema, `validate` passes on the shipped set.

use crate::support::servesim;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name).display().to_string()
}

#[test]
fn run_writes_identical_reports_and_seed_changes_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let single = scenario("single-gpu-batching.toml");
    let read = |dir: &str, file: &str| std::fs::read(tmp.path().join(dir).join(file)).expect("report file");
    for (dir, seed) in [("a", "42"), ("b", "42"), ("c", "43")] {
        let out = servesim(&["run", &single, "--out", dir, "--seed", seed, "--quiet"], tmp.path());
        assert!(out.status.success(), "{out:?}");
        assert!(out.stdout.is_empty(), "--quiet prints nothing");
    }
    for file in ["summary.json", "summary.md", "timeseries.csv", "latency_cdf.svg", "queue_depth.svg"] {
        assert_eq!(read("a", file), read("b", file), "{file} differs between identical runs");
    }
    assert_ne!(read("a", "summary.json"), read("c", "summary.json"));
    let md = String::from_utf8(read("a", "summary.md")).expect("utf-8");
    assert!(md.contains("Little's law") && md.contains("holds") && !md.contains("VIOLATED"), "{md}");
    assert!(String::from_utf8_lossy(&read("a", "latency_cdf.svg")).starts_with("<svg"));
    // No temporary folders are left beside the report.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn default_report_folder_is_reports_scenario_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = servesim(&["run", &scenario("validation/mm1.toml"), "--set", "run.max_requests=2000"], tmp.path());
    assert!(out.status.success(), "{out:?}");
    assert!(tmp.path().join("reports/mm1/summary.json").exists());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mm1 (seed 101): 2000 requests offered"), "{stdout}");
}

#[test]
fn sweep_finds_the_largest_rate_meeting_the_slo() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let args = [
        "sweep",
        &scenario("single-gpu-batching.toml"),
        "--vary",
        "workload.rate_per_s=40,100,140",
        "--slo-p99",
        "250ms",
        "--set",
        "run.duration=2m",
        "--out",
        "sw",
    ];
    let out = servesim(&args, tmp.path());
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 140 req/s exceeds the batch-of-8 capacity of 8 / 60 ms = 133 req/s.
    assert!(stdout.contains("meeting p99 <= 250ms with nothing rejected: 100"), "{stdout}");
    let csv = std::fs::read_to_string(tmp.path().join("sw/sweep.csv")).expect("sweep.csv");
    assert_eq!(csv.lines().count(), 4, "{csv}");
}

#[test]
fn schema_is_json_schema_with_every_section() {
    let out = servesim(&["schema"], Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let props = &schema["properties"];
    for section in ["run", "workload", "servers", "batching", "service", "validation", "seed", "name", "check"] {
        assert!(!props[section].is_null(), "schema lacks `{section}`");
    }
    assert_eq!(schema["additionalProperties"], false, "unknown keys are errors");
}

#[test]
fn validate_passes_on_the_shipped_validation_set() {
    let out = servesim(&["validate", "--replications", "10", "--quiet"], Path::new(env!("CARGO_MANIFEST_DIR")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for model in
        ["M/M/1", "M/M/4", "M/D/1", "M/G/1 (SCV 0.5)", "M/G/1 (SCV 4)", "M/G/1-PS", "M/M^[8]/1", "static batcher"]
    {
        assert!(stdout.contains(model), "validate did not check {model}:\n{stdout}");
    }
}

#[test]
fn a_closed_stdout_ends_the_output_quietly() {
    use std::process::Stdio;
    // `servesim schema | head -0`: the reader is gone before the first write.
    let mut child = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .arg("schema")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("binary ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("panicked"), "{:?}: {stderr}", out.status);
}
