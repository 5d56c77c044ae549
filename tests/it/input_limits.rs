//! Inputs too large to be what they claim fail fast with exit 2 and a clear
//! message: a scenario, profile, saved sweep or trace that is `/dev/zero`,
//! and `--set` / `--vary` / `--key` paths with absurd numbers of parts.

use crate::support::root;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs servesim in `cwd`; it must fail with exit 2 within a few seconds,
/// print one clear error containing `expected`, and not panic.
fn refused(args: &[&str], cwd: &Path, expected: &str) {
    let start = Instant::now();
    let out: Output =
        Command::new(env!("CARGO_BIN_EXE_servesim")).args(args).current_dir(cwd).output().expect("binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(expected) && !stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(start.elapsed() < Duration::from_secs(10), "{args:?} took {:?}", start.elapsed());
}

fn scenario(name: &str) -> String {
    root().join("scenarios").join(name).display().to_string()
}

#[test]
fn dev_zero_as_any_input_file_fails_fast() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cwd = tmp.path();
    refused(&["run", "/dev/zero"], cwd, "larger than the 64 MiB limit on scenario files");
    refused(&["distribute", "/dev/zero"], cwd, "larger than the 64 MiB limit on scenario files");
    let sweep = ["sweep", "/dev/zero", "--vary", "workload.rate_per_s=1,2"];
    refused(&sweep, cwd, "larger than the 64 MiB limit on scenario files");
    let profiles = root().join("profiles").display().to_string();
    let out = ["--out", "x.toml", "--report", "r", "--profiles", &profiles];
    refused(&[&["calibrate", "--refit", "/dev/zero"][..], &out].concat(), cwd, "limit on saved sweeps");
    let live = scenario("live-cpu-smoke.toml");
    let fidelity = ["fidelity", &live, "--profile", "/dev/zero", "--backend", "cpu"];
    refused(&fidelity, cwd, "limit on profile files");
    let trace = "name = \"t\"\n[workload]\narrival = \"trace\"\ntrace = \"/dev/zero\"\n\
                 [servers]\ncount = 1\n[service]\nmodel = \"affine\"\nbase = \"30ms\"\nper_item = \"8ms\"\n";
    std::fs::write(cwd.join("t.toml"), trace).expect("write");
    refused(&["run", "t.toml"], cwd, "a line of at most 4096 bytes");
    let left: Vec<_> = std::fs::read_dir(cwd).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, ["t.toml"], "nothing written");
}

#[test]
fn absurd_key_paths_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let single = scenario("single-gpu-batching.toml");
    let deep = format!("{}=1", vec!["a"; 5000].join("."));
    refused(&["run", &single, "--set", &deep], tmp.path(), "at most 16 dotted parts and 256 bytes; got 5000 parts");
    let long = format!("{}=1", "k".repeat(100_000));
    refused(&["run", &single, "--set", &long], tmp.path(), "got 1 parts and 100000 bytes");
    let vary = format!("{}=1,2", vec!["a"; 5000].join("."));
    refused(&["sweep", &single, "--vary", &vary], tmp.path(), "--vary a.a.a");
    let key = vec!["b"; 100].join(".");
    refused(&["tradeoff", &scenario("safety-pipeline.toml"), "--key", &key], tmp.path(), "--key b.b.b");
    let distribution = scenario("distribute/swarm-vs-theory.toml");
    refused(&["distribute", &distribution, "--set", &deep], tmp.path(), "got 5000 parts");
}
