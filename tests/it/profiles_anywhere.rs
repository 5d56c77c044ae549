//! Scenarios run from any folder: the shipped profiles are built into the
//! binary, and a profiles folder beside the scenario (or `--profiles DIR`)
//! adds profiles or overrides a built-in one.

use crate::support::{root, servesim, CHAT_PLAN};
use std::path::Path;

const SCENARIO: &str = "llama70b-h100-continuous.toml";

/// An empty folder holding only a copy of a shipped scenario.
fn lone_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("scenarios").join(SCENARIO), dir.path().join(SCENARIO)).unwrap();
    dir
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn a_lone_scenario_runs_on_the_built_in_profiles() {
    let dir = lone_copy();
    let out = servesim(&["run", SCENARIO, "--out", "alone", "-q"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let shipped = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios").join(SCENARIO);
    let out = servesim(&["run", scenario.to_str().unwrap(), "--out", "shipped", "-q"], shipped.path());
    assert!(out.status.success(), "{out:?}");
    let bytes = |d: &Path| std::fs::read(d.join("summary.json")).unwrap();
    assert_eq!(bytes(&dir.path().join("alone")), bytes(&shipped.path().join("shipped")));
}

#[test]
fn a_profile_beside_the_scenario_overrides_the_built_in() {
    let dir = lone_copy();
    let gpus = dir.path().join("profiles/gpus");
    std::fs::create_dir_all(&gpus).unwrap();
    let h100 = std::fs::read_to_string(root().join("profiles/gpus/h100-sxm.toml")).unwrap();
    std::fs::write(
        gpus.join("h100-sxm.toml"),
        h100.replace("price_per_gpu_hour_usd = 2.99", "price_per_gpu_hour_usd = 7.25"),
    )
    .unwrap();
    let out = servesim(&["run", SCENARIO, "--out", "priced", "-q"], dir.path());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(summary(&dir.path().join("priced"))["llm"]["cost"]["price_per_gpu_hour_usd"], 7.25);

    // The same folder named with --profiles, from elsewhere.
    let elsewhere = tempfile::tempdir().unwrap();
    let scenario = dir.path().join(SCENARIO);
    std::fs::rename(dir.path().join("profiles"), elsewhere.path().join("mine")).unwrap();
    let args = ["run", scenario.to_str().unwrap(), "--profiles", "mine", "--out", "flag", "-q"];
    let out = servesim(&args, elsewhere.path());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(summary(&elsewhere.path().join("flag"))["llm"]["cost"]["price_per_gpu_hour_usd"], 7.25);

    let listed = servesim(&["profiles", "--profiles", "mine"], elsewhere.path());
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    let line = |name: &str| text.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_default().to_string();
    let h100 = line("h100-sxm ");
    assert!(h100.contains("mine/gpus/h100-sxm.toml (overrides built-in)") && h100.contains("7.25"), "{text}");
    assert!(line("h200 ").ends_with("built-in"), "{text}");
    assert!(line("llama-2-70b ").contains("80") && text.contains("KV bytes/token"), "{text}");
    assert!(text.contains("h100-sxm-engines") && text.contains("engines"), "{text}");
}

#[test]
fn missing_profiles_list_what_is_available() {
    let dir = lone_copy();
    let out = servesim(&["run", SCENARIO, "--set", "replica.gpu=h900", "-q"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no gpu profile named `h900`") && err.contains("a100-80gb, h100-sxm, h200 (built-in)"),
        "{err}"
    );
    assert!(err.contains("servesim profiles") && err.contains("--profiles DIR"), "{err}");

    let out = servesim(&["run", SCENARIO, "--profiles", "nowhere", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--profiles nowhere: no such folder"), "{out:?}");

    let out = servesim(&["run", SCENARIO, "--set", "replica.profiles=typo", "-q"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`replica.profiles`") && err.contains("no profiles folder at"), "{err}");
}

/// A folder `mine/` whose A100 costs $9.50 an hour and has half the
/// shipped memory bandwidth, beside `chat.toml`'s own folder.
fn chat_and_slow_a100() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    std::fs::write(scenarios.join("chat.toml"), CHAT_PLAN).unwrap();
    let gpus = dir.path().join("mine/gpus");
    std::fs::create_dir_all(&gpus).unwrap();
    let a100 = std::fs::read_to_string(root().join("profiles/gpus/a100-80gb.toml")).unwrap();
    let slow = a100
        .replace("price_per_gpu_hour_usd = 1.79", "price_per_gpu_hour_usd = 9.5")
        .replace("memory_bandwidth_bytes_per_s = 2.039e12", "memory_bandwidth_bytes_per_s = 1.0195e12");
    assert_ne!(slow, a100);
    std::fs::write(gpus.join("a100-80gb.toml"), slow).unwrap();
    (dir, scenarios.join("chat.toml"))
}

fn succeeds(args: &[&str], cwd: &Path) {
    let out = servesim(args, cwd);
    assert!(out.status.success(), "{args:?}: {out:?}");
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn every_point_of_a_sweep_sees_the_profiles_flag() {
    let (dir, chat) = chat_and_slow_a100();
    let (d, chat) = (dir.path(), chat.to_str().unwrap());
    let vary = "workload.rate_per_s=4,8";
    succeeds(&["sweep", chat, "--vary", vary, "--out", "built-in", "-q"], d);
    succeeds(&["sweep", chat, "--vary", vary, "--profiles", "mine", "--out", "mine-sweep", "-q"], d);
    let p99s = |folder: &str| -> Vec<f64> {
        let csv = std::fs::read_to_string(d.join(folder).join("sweep.csv")).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = header.iter().position(|h| *h == "e2e_p99_ms").unwrap();
        lines.map(|l| l.split(',').nth(at).unwrap().parse().unwrap()).collect()
    };
    let (shipped, slow) = (p99s("built-in"), p99s("mine-sweep"));
    assert_eq!(shipped.len(), 2);
    for (a, b) in shipped.iter().zip(&slow) {
        assert!(b > a, "half the bandwidth must slow every point: {shipped:?} vs {slow:?}");
    }
}

#[test]
fn every_point_of_a_plan_and_a_compare_sees_the_profiles_flag() {
    let (dir, chat) = chat_and_slow_a100();
    let (d, chat) = (dir.path(), chat.to_str().unwrap());
    succeeds(&["plan", chat, "--profiles", "mine", "--out", "plan", "-q"], d);
    let plan = json(&d.join("plan/plan.json"));
    let mut points = 0;
    for search in plan["searches"].as_array().unwrap() {
        let tp: f64 = if search["config"] == "replica.tp=2" { 2.0 } else { 1.0 };
        for row in search["points"].as_array().unwrap() {
            let replicas = row["replicas"].as_f64().unwrap();
            assert!((row["usd_per_hour"].as_f64().unwrap() - replicas * tp * 9.5).abs() < 1e-9, "{row}");
            assert!(row["command"].as_str().unwrap().contains(" --profiles mine "), "{row}");
            points += 1;
        }
    }
    assert!(points > 0, "{plan}");

    let variant = "big:batching.max_batch=64";
    succeeds(&["compare", chat, "--variant", variant, "--profiles", "mine", "--out", "compare", "-q"], d);
    let args = ["run", chat, "--set", "batching.max_batch=64", "--profiles", "mine", "--out", "big", "-q"];
    succeeds(&args, d);
    let big = json(&d.join("big/summary.json"));
    assert_eq!(big["llm"]["cost"]["price_per_gpu_hour_usd"], 9.5);
    let table = json(&d.join("compare/compare.json"))["table"].clone();
    let row = table.as_array().unwrap().iter().find(|r| r["metric"] == "cost_usd").unwrap().clone();
    assert_eq!(row["cells"][1]["value"]["mean"], big["llm"]["cost"]["usd"], "{row}");
}
