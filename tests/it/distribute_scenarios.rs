//! Every shipped weight-distribution scenario (`scenarios/distribute/*.toml`
//! and `scenarios/weights-70b-2000-nodes.toml`): keeps its invariants, is
//! deterministic (same seed => byte-identical summary.json, another seed =>
//! different), and matches its committed insta snapshot.
//!
//! To keep the suite fast, scenarios are run at a reduced size (the
//! overrides in `SHRINK`); the full sizes are run by `servesim distribute`
//! and `cargo bench --bench distribute`.

use crate::support::assert_snapshot;
use servesim::distribute::{self, load};
use std::path::PathBuf;

/// `--set` overrides per scenario name that keep a test run well under a second.
const SHRINK: &[(&str, &[&str])] = &[
    ("weights-70b-2000-nodes", &["nodes.count=200", "weights.chunk=1GB"]),
    ("swarm-vs-theory", &["nodes.count=200", "weights.chunk=100MB"]),
    ("rack-oversubscribed", &["nodes.count=120"]),
    ("faults", &["nodes.count=150"]),
    ("scale-10k", &["nodes.count=240", "weights.chunk=2GB"]),
];

fn shipped() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("scenarios/distribute"))
        .expect("scenarios/distribute exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.push(root.join("scenarios/weights-70b-2000-nodes.toml"));
    paths.sort();
    paths
}

fn summary_of(path: &std::path::Path, seed: Option<u64>) -> (String, String) {
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    let sets: Vec<String> =
        SHRINK.iter().find(|(n, _)| *n == stem).map_or(&[][..], |(_, s)| s).iter().map(|s| s.to_string()).collect();
    let mut plan = load::load(path, &sets).unwrap_or_else(|e| panic!("{e}"));
    if let Some(seed) = seed {
        plan.seed = seed;
    }
    let d = distribute::run(&plan);
    for r in &d.summary.strategies {
        assert!(r.invariants.all_hold, "{}: {}: {:?}", path.display(), r.strategy, r.invariants);
    }
    let files = distribute::report::render(&d, "").expect("renders");
    (plan.name, String::from_utf8(files[0].1.clone()).expect("utf-8"))
}

#[test]
fn shipped_distribution_scenarios_are_deterministic_and_match_snapshots() {
    let paths = shipped();
    assert!(paths.len() >= 5, "{paths:?}");
    for path in paths {
        assert!(load::is_distribution_scenario(&std::fs::read_to_string(&path).unwrap()));
        let (name, first) = summary_of(&path, None);
        let (_, second) = summary_of(&path, None);
        assert_eq!(first, second, "{}: two runs differ", path.display());
        let (_, other) = summary_of(&path, Some(987_654));
        assert_ne!(first, other, "{}: another seed gave the same summary", path.display());
        assert_snapshot("distribute_scenarios", &format!("distribute-{name}"), &first);
    }
}

#[test]
fn report_folder_has_every_file() {
    let path = shipped().into_iter().find(|p| p.ends_with("rack-oversubscribed.toml")).unwrap();
    let mut plan = load::load(&path, &["nodes.count=80".into()]).unwrap();
    plan.seed = 3;
    let d = distribute::run(&plan);
    let files = distribute::report::render(&d, "question").unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["summary.json", "summary.md", "timeseries.csv", "egress.csv", "completion.svg"]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = servesim::report::write_files(&tmp.path().join("r"), &files).unwrap();
    let egress = std::fs::read_to_string(dir.join("egress.csv")).unwrap();
    assert_eq!(egress.lines().count(), 1 + 2 * 80);
    assert!(std::fs::read_to_string(dir.join("summary.md")).unwrap().contains("| swarm-rack-aware |"));
}
