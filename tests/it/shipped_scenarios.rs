//! Every shipped scenario: runs, keeps its invariants, is deterministic
//! (same seed => byte-identical report files whether rayon has one thread
//! or two, another seed => a different summary.json), and matches its
//! committed insta snapshot.
//!
//! The Azure trace scenarios read `../shared/data/azure-llm-2023/code.csv`
//! beside the repository. Where that file is absent, they are run against
//! a generated trace of the same format instead and a warning is printed;
//! their snapshots and the 8,819-request check need the real file.

use crate::support::{assert_snapshot, azure_trace, azure_trace_path, root};
use servesim::distribute::load::is_distribution_scenario;
use servesim::report::{self, summary_json};
use servesim::scenario::{self, Scenario};
use servesim::sim;
use std::path::{Path, PathBuf};

fn shipped() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for dir in ["scenarios", "scenarios/validation"] {
        for entry in std::fs::read_dir(root().join(dir)).expect("scenarios/ exists") {
            let path = entry.expect("readable entry").path();
            // Weight-distribution scenarios (a top-level `[weights]` table) are
            // not serving scenarios; tests/distribute_scenarios.rs covers them.
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if path.extension().is_some_and(|x| x == "toml") && !is_distribution_scenario(&text) {
                paths.push(path);
            }
        }
    }
    paths.sort();
    assert!(paths.len() >= 10, "expected the shipped scenarios, found {paths:?}");
    paths
}

/// A small trace in the Azure format, with a BOM and no final newline.
fn generated_trace(dir: &Path) -> PathBuf {
    let mut text = String::from("\u{feff}TIMESTAMP,ContextTokens,GeneratedTokens\r\n");
    for i in 0..500u32 {
        let t = i * 7; // seconds after 18:00:00, increasing
        let (minute, secs, frac) = (t / 60, t % 60, i * 7919 % 10_000_000);
        text.push_str(&format!(
            "2023-11-16 18:{minute:02}:{secs:02}.{frac:07},{},{}\r\n",
            100 + i * 13 % 4000,
            1 + i % 300
        ));
    }
    let path = dir.join("trace.csv");
    std::fs::write(&path, text.trim_end()).expect("write generated trace");
    path
}

fn load(path: &Path, tmp: &Path) -> Scenario {
    let uses_trace = std::fs::read_to_string(path).unwrap_or_default().contains("arrival = \"trace\"");
    let sets = if uses_trace && azure_trace(&format!("running {} on a generated trace", path.display())).is_none() {
        vec![format!("workload.trace={}", generated_trace(tmp).display())]
    } else {
        Vec::new()
    };
    scenario::load(path, &sets).unwrap_or_else(|e| panic!("{e}"))
}

fn summary(s: &Scenario) -> String {
    summary_json(&sim::run(s).summary).expect("encodes")
}

/// The run's report files, simulated and rendered on a pool of `threads`.
fn report_files(s: &Scenario, threads: usize) -> Vec<(&'static str, Vec<u8>)> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    pool.install(|| report::render(&sim::run(s), "").expect("renders"))
}

#[test]
fn every_shipped_scenario_is_deterministic_and_keeps_invariants() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for path in shipped() {
        let mut s = load(&path, tmp.path());
        let one = report_files(&s, 1);
        let two = report_files(&s, 2);
        let names: Vec<&str> = one.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, two.iter().map(|(name, _)| *name).collect::<Vec<_>>(), "{}: files differ", path.display());
        for ((name, a), (_, b)) in one.iter().zip(&two) {
            assert!(a == b, "{}: {name} differs between 1 and 2 threads with seed {}", path.display(), s.seed);
        }
        let first = String::from_utf8(one[0].1.clone()).expect("summary.json is UTF-8");
        assert_eq!(one[0].0, "summary.json");
        let parsed: serde_json::Value = serde_json::from_str(&first).expect("valid JSON");
        assert_eq!(parsed["invariants"]["all_hold"], true, "{}: invariants fail", path.display());
        assert_eq!(parsed["littles_law"]["holds"], true, "{}: Little's law fails", path.display());
        s.seed += 1;
        assert_ne!(first, summary(&s), "{}: another seed gave the same summary", path.display());
    }
}

#[test]
fn shipped_summaries_match_snapshots() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for path in shipped() {
        let s = load(&path, tmp.path());
        if s.file.workload.trace.is_some() && !azure_trace_path().exists() {
            eprintln!("WARNING: snapshot of {} needs the real trace; not compared", path.display());
            continue;
        }
        assert_snapshot("shipped_scenarios", &s.name, &summary(&s));
    }
}

#[test]
fn azure_trace_accounts_for_every_request() {
    if azure_trace("the 8,819-request check needs it").is_none() {
        return;
    }
    let s = scenario::load(&root().join("scenarios/azure-code-trace.toml"), &[]).unwrap_or_else(|e| panic!("{e}"));
    let summary = sim::run(&s).summary;
    assert_eq!(summary.requests.offered, 8_819);
    assert_eq!(summary.requests.by_outcome.values().sum::<u64>(), 8_819);
    assert_eq!(summary.requests.in_flight_at_end, 0);
    assert!(summary.invariants.every_request_one_outcome);
}

#[test]
fn generated_trace_is_valid_azure_format() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let records = servesim::workload::trace::read_trace(&generated_trace(tmp.path())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(records.len(), 500);
    assert_eq!(records[1].offset_ns, 7_000_000_000 + 7919 * 100);
}
