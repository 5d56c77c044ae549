//! `servesim plan`: the capacity search agrees with brute force over a
//! small grid, gives the same bytes with 1 and 2 threads, and refuses bad
//! search spaces with located errors, leaving nothing behind.

use crate::support::{profiles, root, servesim};
use servesim::engine::RngStreams;
use servesim::plan::capacity::{self, Outcome};
use servesim::plan::source::Source;
use servesim::plan::{capacity_report, replicate, space};
use servesim::scenario;
use servesim::sim;
use std::path::{Path, PathBuf};

/// Llama-3-8B chat at 12 req/s: two GPUs x two TP degrees, 1..=6 replicas.
fn grid(extra_plan: &str) -> String {
    format!(
        r#"name = "grid"
seed = 5

[run]
duration = "40s"
warmup = "5s"

[workload]
arrival = "poisson"
rate_per_s = 12.0
prompt_tokens = {{ median = 600, p99 = 4000, max = 8000 }}
output_tokens = {{ median = 150, p99 = 600, max = 1000 }}

[replica]
gpu = "a100-80gb"
model = "llama-3-8b"
profiles = "{}"
routing = "least-outstanding"

[batching]
policy = "continuous"
max_batch = 32
max_batched_tokens = 8192

[slo]
ttft_p99 = "500ms"
tpot_p99 = "30ms"

[plan]
gpus = ["a100-80gb", "h100-sxm"]
tp = [1, 2]
min_replicas = 1
max_replicas = 6
replications = 2
confidence = 0.95
{extra_plan}"#,
        profiles().display()
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write scenario");
    path
}

/// Whether `n` replicas of `(gpu, tp)` meet every SLO: every measured
/// request answered, and each SLO's p99 over the replications, mean + 95%
/// half-width, within its target.
fn brute_meets(path: &Path, gpu: &str, tp: u32, n: u32) -> bool {
    let sets = [format!("replica.gpu={gpu}"), format!("replica.tp={tp}"), format!("replica.count={n}")];
    let s = scenario::load(path, &sets).unwrap_or_else(|e| panic!("{e}"));
    let seeds = RngStreams::new(s.seed);
    let summaries: Vec<_> =
        (0..2).map(|i| sim::run_with(&s, seeds.replication(i).master_seed(), &s.run).summary).collect();
    let answered = summaries.iter().all(|s| s.requests.measured_by_outcome["completed"] == s.requests.measured);
    let runs: Vec<_> = summaries.into_iter().map(|s| s.llm.unwrap()).collect();
    answered
        && (0..runs[0].slo.len()).all(|k| {
            let values: Vec<f64> = runs.iter().map(|l| l.slo[k].actual_s).collect();
            let e = replicate::estimate(&values);
            e.mean + e.half_width_95 <= runs[0].slo[k].target_s
        })
}

#[test]
fn plan_agrees_with_brute_force() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write(tmp.path(), "grid.toml", &grid(""));
    let sp = space::read(&Source::new(&path)).unwrap_or_else(|e| panic!("{e}"));
    let searches = capacity::plan(&sp).unwrap_or_else(|e| panic!("{e}"));
    let report = capacity_report::report(&sp, &searches);
    // Brute force: every count of every configuration.
    let mut cheapest: Option<(f64, String, u32)> = None;
    for (i, (gpu, tp)) in [("a100-80gb", 1), ("a100-80gb", 2), ("h100-sxm", 1), ("h100-sxm", 2)].into_iter().enumerate()
    {
        let meets: Vec<bool> = (1..=6).map(|n| brute_meets(&path, gpu, tp, n)).collect();
        assert!(meets.windows(2).all(|w| !w[0] || w[1]), "{gpu} tp {tp}: not monotone in replicas: {meets:?}");
        let smallest = meets.iter().position(|&m| m).map(|k| k as u32 + 1);
        let price = servesim::model::profile::GpuProfile::find(&profiles(), gpu).unwrap().price_per_gpu_hour_usd;
        if let Some(n) = smallest {
            let cost = f64::from(n * tp) * price;
            let label = format!("replica.gpu={gpu} replica.tp={tp}");
            if cheapest.as_ref().is_none_or(|(c, _, _)| cost < *c) {
                cheapest = Some((cost, label, n));
            }
        }
        let search = &searches[i];
        match (&search.outcome, smallest) {
            (Outcome::Found { replicas }, Some(n)) => assert_eq!(*replicas, n, "{gpu} tp {tp}"),
            (Outcome::Infeasible, None) => {}
            (Outcome::Pruned { .. }, _) => {}
            (outcome, n) => panic!("{gpu} tp {tp}: plan says {outcome:?}, brute force {n:?}"),
        }
    }
    let (cost, label, n) = cheapest.expect("the grid has an answer");
    let winner = report.winner.expect("plan found an answer");
    assert_eq!((winner.config.as_str(), winner.point.replicas), (label.as_str(), n));
    assert!((winner.point.usd_per_hour - cost).abs() < 1e-9);
    // Pruning saved runs: fewer points than the brute force's 24.
    let evaluated: usize = searches.iter().map(|s| s.points.len()).sum();
    assert!(evaluated < 24, "{evaluated} points evaluated");
}

#[test]
fn plan_is_the_same_bytes_with_one_and_two_threads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write(tmp.path(), "grid.toml", &grid(""));
    let bytes = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| {
            let sp = space::read(&Source::new(&path)).unwrap_or_else(|e| panic!("{e}"));
            let r = capacity_report::report(&sp, &capacity::plan(&sp).unwrap_or_else(|e| panic!("{e}")));
            (
                capacity_report::to_json(&r).unwrap(),
                capacity_report::to_csv(&r),
                capacity_report::to_markdown(&r, "", 2),
            )
        })
    };
    assert_eq!(bytes(1), bytes(2));
}

#[test]
fn plan_writes_its_folder_with_reproducible_commands() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write(tmp.path(), "grid.toml", &grid(""));
    let out = tmp.path().join("out");
    let run = servesim(&["plan", path.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"], &root());
    assert!(run.status.success(), "{run:?}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(out.join("plan.md")).unwrap();
    assert!(md.contains("Binding SLO"), "{md}");
    assert!(std::fs::read_to_string(out.join("plan.csv")).unwrap().starts_with("config,replicas"));
    // The winner's command reproduces replication 0 of its point.
    let command = json["winner"]["command"].as_str().unwrap();
    let args: Vec<&str> = command.split(' ').skip(1).map(|a| a.trim_matches('\'')).collect();
    let again = tmp.path().join("again");
    let rerun = servesim(&[&args[..], &["--out", again.to_str().unwrap(), "-q"]].concat(), &root());
    assert!(rerun.status.success(), "{rerun:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(again.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["llm"]["replicas"], json["winner"]["replicas"]);
    assert_eq!(summary["seed"], json["replication_seeds"][0]);
}

/// Runs `plan` on `text` and returns its stderr; it must exit 2 and leave no folder.
fn refused(text: &str) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = write(tmp.path(), "bad.toml", text);
    let out = tmp.path().join("out");
    let run = servesim(&["plan", path.to_str().unwrap(), "--out", out.to_str().unwrap()], &root());
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(!out.exists(), "a refused plan left {}", out.display());
    stderr
}

#[test]
fn bad_search_spaces_are_located_errors() {
    let base = grid("");
    let line = |needle: &str| base.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    let empty = refused(&base.replace("tp = [1, 2]", "tp = []"));
    assert!(empty.contains(&format!("bad.toml:{}:", line("tp = ["))) && empty.contains("empty"), "{empty}");
    let gpu = refused(&base.replace("\"h100-sxm\"]", "\"h900\"]"));
    assert!(gpu.contains(&format!("bad.toml:{}:", line("gpus ="))) && gpu.contains("h900"), "{gpu}");
    assert!(gpu.contains("`plan.gpus[1]`"), "{gpu}");
    let model = refused(&base.replace("llama-3-8b", "llama-9"));
    assert!(model.contains(&format!("bad.toml:{}:", line("model ="))) && model.contains("llama-9"), "{model}");
    let key = refused(&grid("vary = { \"batching.max_bach\" = [16, 32] }"));
    assert!(key.contains("batching.max_bach") && key.contains("plan.vary"), "{key}");
    let metric = refused(&base.replace("tpot_p99 = \"30ms\"", "tpot_p95 = \"30ms\""));
    assert!(metric.contains(&format!("bad.toml:{}:", line("tpot_p99"))) && metric.contains("tpot_p95"), "{metric}");
    let no_slo = refused(&base.replace("ttft_p99 = \"500ms\"\ntpot_p99 = \"30ms\"", ""));
    assert!(no_slo.contains("no SLO target"), "{no_slo}");
    let range = refused(&base.replace("max_replicas = 6", "max_replicas = 0"));
    assert!(range.contains(&format!("bad.toml:{}:", line("max_replicas"))) && range.contains("empty"), "{range}");
    let no_plan = refused(&base[..base.find("[plan]").unwrap()]);
    assert!(no_plan.contains("[plan]"), "{no_plan}");
}

#[test]
fn run_ignores_the_plan_section() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let with = write(tmp.path(), "with.toml", &grid(""));
    let base = grid("");
    let without = write(tmp.path(), "without.toml", &base[..base.find("[plan]").unwrap()]);
    let summary = |p: &Path| {
        let s = scenario::load(p, &[]).unwrap_or_else(|e| panic!("{e}"));
        servesim::report::summary_json(&sim::run(&s).summary).unwrap()
    };
    assert_eq!(summary(&with), summary(&without));
}
